#!/usr/bin/env node
// What the official Optimizely JavaScript SDK (Node entry point) decides: every flag for
// every user, with a datafile given as a file and no events sent. The reference the
// browser tests compare the SDK's browser build and the React SDK with.
//
//   node js_decide.mjs DATAFILE < users.jsonl
//
// Users are JSON lines {"id": "...", "attributes": {...}}. Prints one JSON object:
// {user id: {flag key: {"enabled", "variationKey", "ruleKey", "variables"}}}.

import { readFileSync } from 'node:fs';
import { createInstance, createStaticProjectConfigManager, OptimizelyDecideOption } from '@optimizely/optimizely-sdk';

const [datafilePath] = process.argv.slice(2);
if (!datafilePath) {
  console.error('usage: js_decide.mjs DATAFILE < users.jsonl');
  process.exit(2);
}
const client = createInstance({
  projectConfigManager: createStaticProjectConfigManager({ datafile: readFileSync(datafilePath, 'utf8') }),
});
await client.onReady({ timeout: 5000 });
const users = readFileSync(0, 'utf8')
  .split('\n')
  .filter((line) => line.trim().length > 0)
  .map((line) => JSON.parse(line));
const out = {};
for (const { id, attributes } of users) {
  const decisions = client.createUserContext(String(id), attributes ?? {}).decideAll([OptimizelyDecideOption.DISABLE_DECISION_EVENT]);
  out[id] = Object.fromEntries(
    Object.entries(decisions).map(([key, d]) => [
      key,
      { enabled: d.enabled, variationKey: d.variationKey, ruleKey: d.ruleKey, variables: d.variables },
    ]),
  );
}
await client.close();
process.stdout.write(`${JSON.stringify(out)}\n`);

#!/usr/bin/env node
// The official JavaScript SDK (@optimizely/optimizely-sdk, as tools/official-clients pins it)
// answering `vario eval` requests, for the differential fuzzer (fuzz.py).
//
//   node run_js_sdk.mjs < cases.jsonl > answers.jsonl
//
// Every input line is one case: {"datafile": "<datafile text>", "requests": [request, ...]}.
// For every case ONE client is built the way run_python_sdk.py builds the Python one: the
// datafile given as text (static config manager, the SDK's default validation), an in-memory
// user profile service, and a forwarding event processor whose dispatcher captures events.
// Output line i answers case i:
//   {"valid": false, "why": "..."}                       the SDK refused the datafile
//   {"valid": true, "results": [{"response": ..., "events": [...]} | {"raised": "..."}]}
// Responses have the protocol's shape (no `error`: the SDK does not report it; `reasons`
// only with INCLUDE_REASONS). Run tools/official-clients/setup.sh first.

import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../official-clients/', import.meta.url));
const sdk = require('@optimizely/optimizely-sdk');
const { createInstance, createStaticProjectConfigManager, createForwardingEventProcessor } = sdk;

// The SDK logs through console by default only when given a logger; none is given.
function buildClient(datafileText, captured) {
  const profiles = new Map();
  return createInstance({
    projectConfigManager: createStaticProjectConfigManager({ datafile: datafileText }),
    eventProcessor: createForwardingEventProcessor({
      dispatchEvent(logEvent) {
        captured.push(JSON.parse(JSON.stringify({ url: logEvent.url, http_verb: logEvent.httpVerb, params: logEvent.params })));
        return Promise.resolve({ statusCode: 200 });
      },
    }),
    userProfileService: {
      lookup: (userId) => (profiles.has(userId) ? structuredClone(profiles.get(userId)) : null),
      save: (profile) => profiles.set(profile.user_id, structuredClone(profile)),
    },
  });
}

const wantsReasons = (options) => Array.isArray(options) && options.includes('INCLUDE_REASONS');

function decisionJson(d, includeReasons) {
  const out = {
    flag_key: d.flagKey,
    enabled: d.enabled,
    variation_key: d.variationKey,
    rule_key: d.ruleKey,
    variables: d.variables,
  };
  if (includeReasons) out.reasons = d.reasons;
  return out;
}

function noDecision(flagKey) {
  return { flag_key: flagKey, enabled: false, variation_key: null, rule_key: null, variables: {} };
}

// undefined (what the JS SDK returns for "nothing") is the protocol's null.
const orNull = (v) => (v === undefined ? null : v);

function answer(client, req) {
  const { op, user_id: userId } = req;
  const attributes = req.attributes ?? undefined;
  switch (op) {
    case 'activate':
      return { variation_key: orNull(client.activate(req.experiment_key, userId, attributes)) };
    case 'get_variation':
      return { variation_key: orNull(client.getVariation(req.experiment_key, userId, attributes)) };
    case 'track':
      client.track(req.event_key, userId, attributes, req.event_tags ?? undefined);
      return {};
    case 'is_feature_enabled':
      return { enabled: orNull(client.isFeatureEnabled(req.feature_key, userId, attributes)) };
    case 'get_feature_variable':
      return { value: orNull(client.getFeatureVariable(req.feature_key, req.variable_key, userId, attributes)) };
    case 'get_enabled_features':
      return { feature_keys: orNull(client.getEnabledFeatures(userId, attributes)) };
    case 'decide': {
      const user = client.createUserContext(userId, attributes);
      if (!user) return noDecision(req.flag_key);
      return decisionJson(user.decide(req.flag_key, req.options ?? undefined), wantsReasons(req.options));
    }
    case 'decide_all': {
      const user = client.createUserContext(userId, attributes);
      if (!user) return { decisions: {} };
      const all = user.decideAll(req.options ?? undefined);
      const include = wantsReasons(req.options);
      return { decisions: Object.fromEntries(Object.entries(all).map(([k, d]) => [k, decisionJson(d, include)])) };
    }
    case 'set_forced_variation':
      return { ok: orNull(client.setForcedVariation(req.experiment_key, userId, req.variation_key ?? null)) };
    case 'get_forced_variation':
      return { variation_key: orNull(client.getForcedVariation(req.experiment_key, userId)) };
    default:
      throw new Error(`unknown op ${JSON.stringify(op)}`);
  }
}

// Events are handed to the dispatcher after a microtask: let them arrive.
const settle = () => new Promise((resolve) => setImmediate(resolve));

async function runCase({ datafile, requests }) {
  const captured = [];
  let client;
  try {
    client = buildClient(datafile, captured);
    await client.onReady({ timeout: 5000 });
  } catch (error) {
    return { valid: false, why: String(error?.message ?? error) };
  }
  const results = [];
  for (const req of requests) {
    try {
      const response = answer(client, req);
      await settle();
      results.push({ response, events: captured.splice(0) });
    } catch (error) {
      await settle();
      captured.splice(0);
      results.push({ raised: String(error?.stack ?? error).split('\n').slice(0, 3).join(' | ') });
    }
  }
  client.close();
  return { valid: true, results };
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (!line.trim()) continue;
  const out = await runCase(JSON.parse(line));
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

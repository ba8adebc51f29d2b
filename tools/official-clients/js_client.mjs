#!/usr/bin/env node
// The official Optimizely JavaScript SDK (@optimizely/optimizely-sdk, Node entry point) as
// a client of `vario serve`.
//
// It fetches the datafile from the server's datafile hosting, decides and tracks for every
// user, sends its events to the server's Events API, and prints a JSON summary of every
// event it sent (taken from the SDK's LOG_EVENT notifications).
//
//   node js_client.mjs --server http://127.0.0.1:8080 --sdk-key KEY [USER ...] < users.jsonl
//
// Users are given as arguments or, without any, one per line on stdin: a plain user id or
// a JSON object {"id": "...", "attributes": {...}}. For each user, in order:
//   - activate every A/B experiment (the legacy API);
//   - decide every flag with a user context (decide API);
//   - isFeatureEnabled on the first flag (legacy API);
//   - track every event (--event, default: all events of the datafile), the even-numbered
//     ones through the user context, the others with the legacy track call, with tags
//     {"revenue": cents, "value": number, "category": "..."} that depend on the user's
//     position and the event's, so a reader can check them.
// The process exits 0 only if every batch was answered 2xx.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  createInstance,
  createPollingProjectConfigManager,
  createBatchEventProcessor,
  eventDispatcher as defaultDispatcher,
  NOTIFICATION_TYPES,
} from '@optimizely/optimizely-sdk';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    server: { type: 'string' },
    'sdk-key': { type: 'string' },
    'write-key': { type: 'string' },
    event: { type: 'string', multiple: true, default: [] },
    'batch-size': { type: 'string', default: '10' },
  },
});
if (!args.server || !args['sdk-key']) {
  console.error('usage: js_client.mjs --server URL --sdk-key KEY [--event KEY]... [USER ...] < users');
  process.exit(2);
}
const server = args.server.replace(/\/+$/, '');
const eventsUrl = `${server}/v1/events`;

function readUsers() {
  const lines = positionals.length > 0 ? positionals : readFileSync(0, 'utf8').split('\n');
  return lines
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .map((line) => {
      if (line.startsWith('{')) {
        const spec = JSON.parse(line);
        return [String(spec.id), spec.attributes ?? {}];
      }
      return [line, {}];
    });
}

// Every batch goes to Vario's Events API instead of Optimizely's logx endpoint. The
// request itself is made by the SDK's own Node dispatcher, with the URL replaced; that
// dispatcher sends no headers of the caller's, so with a write key it is made with fetch.
async function post(logEvent) {
  if (!args['write-key']) {
    return defaultDispatcher.dispatchEvent({ ...logEvent, url: eventsUrl });
  }
  const response = await fetch(eventsUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-vario-write-key': args['write-key'] },
    body: JSON.stringify(logEvent.params),
  });
  return { statusCode: response.status };
}

const delivery = { sent: 0, events: 0, failed: [], pending: new Set() };
const varioDispatcher = {
  async dispatchEvent(logEvent) {
    const attempt = post(logEvent);
    delivery.pending.add(attempt);
    let response;
    try {
      response = await attempt;
    } catch (error) {
      delivery.failed.push(String(error));
      throw error;
    } finally {
      delivery.pending.delete(attempt);
    }
    const status = response?.statusCode ?? 0;
    if (status < 200 || status >= 300) {
      delivery.failed.push(`http status ${status}`);
      throw new Error(`vario answered ${status}`);
    }
    delivery.sent += 1;
    delivery.events += (logEvent.params.visitors ?? []).reduce(
      (n, v) => n + (v.snapshots ?? []).reduce((m, s) => m + (s.events ?? []).length, 0),
      0,
    );
    return response;
  },
};

function sentEvents(logEvent) {
  const params = logEvent.params;
  const out = [];
  for (const visitor of params.visitors ?? []) {
    for (const snapshot of visitor.snapshots ?? []) {
      const decisions = snapshot.decisions ?? [];
      for (const event of snapshot.events ?? []) {
        const record = {
          uuid: event.uuid,
          visitor_id: visitor.visitor_id,
          key: event.key,
          entity_id: event.entity_id,
          timestamp: event.timestamp,
          revenue: event.revenue ?? null,
          value: event.value ?? null,
          tags: event.tags ?? null,
          client_name: params.client_name,
          client_version: params.client_version,
          revision: params.revision,
        };
        if (decisions.length > 0) {
          const d = decisions[0];
          const meta = d.metadata ?? {};
          record.decision = {
            campaign_id: d.campaign_id ?? null,
            experiment_id: d.experiment_id ?? null,
            variation_id: d.variation_id ?? null,
            flag_key: meta.flag_key ?? null,
            rule_key: meta.rule_key ?? null,
            rule_type: meta.rule_type ?? null,
            variation_key: meta.variation_key ?? null,
            enabled: meta.enabled ?? null,
          };
        }
        out.push(record);
      }
    }
  }
  return out;
}

const users = readUsers();
const client = createInstance({
  // The datafile comes from Vario's datafile hosting: {server}/datafiles/{sdk_key}.json.
  projectConfigManager: createPollingProjectConfigManager({
    sdkKey: args['sdk-key'],
    urlTemplate: `${server}/datafiles/%s.json`,
    autoUpdate: false,
  }),
  eventProcessor: createBatchEventProcessor({
    eventDispatcher: varioDispatcher,
    closingEventDispatcher: varioDispatcher,
    batchSize: Number(args['batch-size']),
    flushInterval: 1000,
  }),
});
const sent = [];
client.notificationCenter.addNotificationListener(NOTIFICATION_TYPES.LOG_EVENT, (logEvent) => {
  sent.push(...sentEvents(logEvent));
});

try {
  await client.onReady({ timeout: 10000 });
} catch (error) {
  console.error(`no datafile from ${server}/datafiles/${args['sdk-key']}.json: ${error}`);
  process.exit(1);
}
const datafile = JSON.parse(client.getOptimizelyConfig().getDatafile());
const flagTests = new Set((datafile.featureFlags ?? []).flatMap((f) => f.experimentIds ?? []));
const abTests = (datafile.experiments ?? []).filter((e) => !flagTests.has(e.id)).map((e) => e.key);
for (const group of datafile.groups ?? []) {
  abTests.push(...(group.experiments ?? []).map((e) => e.key));
}
const flags = (datafile.featureFlags ?? []).map((f) => f.key);
const events = args.event.length > 0 ? args.event : (datafile.events ?? []).map((e) => e.key);

const calls = { activate: 0, decide: 0, isFeatureEnabled: 0, track: 0 };
users.forEach(([userId, attributes], i) => {
  for (const key of abTests) {
    client.activate(key, userId, attributes);
    calls.activate += 1;
  }
  const user = client.createUserContext(userId, attributes);
  calls.decide += Object.keys(user.decideAll()).length;
  if (flags.length > 0) {
    client.isFeatureEnabled(flags[0], userId, attributes);
    calls.isFeatureEnabled += 1;
  }
  events.forEach((key, j) => {
    const tags = { revenue: 100 * (i + 1) + j, value: 1.25 * (i + 1) + j, category: `c${j}` };
    if (j % 2 === 0) {
      user.trackEvent(key, tags);
    } else {
      client.track(key, userId, attributes, tags);
    }
    calls.track += 1;
  });
});
// The SDK queues an event one microtask after `track`/`decide` return, while `close()`
// flushes synchronously: events of calls made in the same tick as `close()` would miss
// the closing flush and be sent (or lost) after `close()` resolved. Let the queue take
// them first.
await new Promise((resolve) => setImmediate(resolve));
await client.close(); // flushes the batch event processor and waits for its requests
await Promise.allSettled([...delivery.pending]);

const counts = {};
for (const event of sent) {
  counts[event.visitor_id] ??= {};
  counts[event.visitor_id][event.key] = (counts[event.visitor_id][event.key] ?? 0) + 1;
}
const summary = {
  client: `@optimizely/optimizely-sdk ${sent[0]?.client_version ?? ''}`.trim(),
  users: users.length,
  calls,
  batches_sent: delivery.sent,
  events_delivered: delivery.events,
  batches_failed: delivery.failed.length,
  failures: delivery.failed,
  events: sent,
  counts,
};
process.stdout.write(`${JSON.stringify(summary)}\n`);
process.exitCode = delivery.failed.length > 0 ? 1 : 0;

// The official JavaScript SDK's browser build (global `optimizelySdk`) on a page of
// another origin than Vario, as a web team would set it up. The test calls these
// functions through WebDriver; each resolves to a JSON summary.
'use strict';

const sdk = window.optimizelySdk;

function uuids(params) {
  return (params.visitors ?? []).flatMap((v) => (v.snapshots ?? []).flatMap((s) => (s.events ?? []).map((e) => e.uuid)));
}

function decisionsOf(user) {
  const out = {};
  for (const [key, d] of Object.entries(user.decideAll())) {
    out[key] = { enabled: d.enabled, variationKey: d.variationKey, ruleKey: d.ruleKey, variables: d.variables };
  }
  return out;
}

function client(vario, sdkKey, eventProcessor) {
  return sdk.createInstance({
    projectConfigManager: sdk.createPollingProjectConfigManager({
      sdkKey,
      urlTemplate: `${vario}/datafiles/%s.json`,
      autoUpdate: false,
    }),
    eventProcessor,
  });
}

// Decides every flag and tracks every event for `users` with events sent by the SDK's own
// browser dispatcher (XHR, JSON body: a CORS preflight first), aimed at Vario.
window.varioDecideAndTrack = async function ({ vario, sdkKey, users, events }) {
  const delivery = { sent: [], failures: [] };
  const dispatcher = {
    async dispatchEvent(logEvent) {
      const response = await sdk.eventDispatcher.dispatchEvent({ ...logEvent, url: `${vario}/v1/events` });
      if (response.statusCode >= 200 && response.statusCode < 300) {
        delivery.sent.push(...uuids(logEvent.params));
      } else {
        delivery.failures.push(response.statusCode);
      }
      return response;
    },
  };
  const optimizely = client(vario, sdkKey, sdk.createBatchEventProcessor({ eventDispatcher: dispatcher, batchSize: 10 }));
  try {
    await optimizely.onReady({ timeout: 10000 });
  } catch (error) {
    return { ready: false, error: String(error) };
  }
  const decisions = {};
  for (const { id, attributes } of users) {
    const user = optimizely.createUserContext(id, attributes);
    decisions[id] = decisionsOf(user);
    events.forEach((key, j) => user.trackEvent(key, { revenue: 100 + j }));
  }
  // Events are queued a microtask after the call; close() then flushes them all.
  await new Promise((resolve) => setTimeout(resolve, 0));
  await optimizely.close();
  return { ready: true, decisions, sent: delivery.sent, failures: delivery.failures };
};

// Decides and tracks, but the events stay queued (large batch, long interval) until the
// page is hidden: then the SDK flushes them through its closing dispatcher, here
// `navigator.sendBeacon` with the body as a string (text/plain, no preflight). What each
// beacon carried is kept in localStorage, for the test to read from the next page.
window.varioQueueForBeacon = async function ({ vario, sdkKey, users, events }) {
  localStorage.removeItem('vario-beacons');
  const never = { dispatchEvent: () => Promise.reject(new Error('only the beacon may send')) };
  const beacon = {
    dispatchEvent(logEvent) {
      const sent = JSON.parse(localStorage.getItem('vario-beacons') ?? '[]');
      const queued = navigator.sendBeacon(`${vario}/v1/events`, JSON.stringify(logEvent.params));
      sent.push({ queued, uuids: uuids(logEvent.params) });
      localStorage.setItem('vario-beacons', JSON.stringify(sent));
      return queued ? Promise.resolve({ statusCode: 204 }) : Promise.reject(new Error('sendBeacon refused'));
    },
  };
  const processor = sdk.createBatchEventProcessor({
    eventDispatcher: never,
    closingEventDispatcher: beacon,
    batchSize: 1000,
    flushInterval: 600000,
  });
  const optimizely = client(vario, sdkKey, processor);
  await optimizely.onReady({ timeout: 10000 });
  let tracked = 0;
  for (const { id, attributes } of users) {
    const user = optimizely.createUserContext(id, attributes);
    user.decideAll();
    events.forEach((key) => user.trackEvent(key));
    tracked += events.length;
  }
  return { tracked };
};

// A plain fetch of the datafile from this page: what the browser lets the page see.
window.varioFetch = async function (url, init) {
  try {
    const response = await fetch(url, init);
    return { ok: true, status: response.status, etag: response.headers.get('etag'), body: await response.text() };
  } catch (error) {
    return { ok: false, error: `${error.name}: ${error.message}` };
  }
};

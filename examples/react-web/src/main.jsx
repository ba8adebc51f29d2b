// A small shop page deciding with the official Optimizely React SDK against Vario.
//
// Open it as index.html?vario=http://127.0.0.1:8080&sdkKey=KEY&user=ID&attributes={...}&event=KEY
// (the query string stands in for what a real app would know from its build and login).
import { useEffect, useState, useSyncExternalStore } from 'react';
import { createRoot } from 'react-dom/client';
import { OptimizelyProvider, createInstance, useDecision, useTrackEvent } from '@optimizely/react-sdk';
import { delivery, varioBeacon, varioDispatcher } from './vario.js';

const params = new URLSearchParams(window.location.search);
const vario = (params.get('vario') ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
const sdkKey = params.get('sdkKey') ?? 'development';
const user = { id: params.get('user') ?? 'visitor-1', attributes: JSON.parse(params.get('attributes') ?? '{}') };
const eventKey = params.get('event') ?? 'purchase';

// Re-render the delivery panel whenever a batch was answered.
const listeners = new Set();
let version = 0;
const changed = () => {
  version += 1;
  listeners.forEach((l) => l());
};
const subscribe = (l) => {
  listeners.add(l);
  return () => listeners.delete(l);
};

const optimizely = createInstance({
  sdkKey,
  // The datafile from Vario's datafile hosting instead of Optimizely's CDN.
  datafileOptions: { urlTemplate: `${vario}/datafiles/%s.json`, autoUpdate: false },
  eventDispatcher: varioDispatcher(vario, changed),
  closingEventDispatcher: varioBeacon(vario),
  eventBatchSize: 10,
  eventFlushInterval: 1000,
});

function Flag({ flagKey }) {
  const [decision] = useDecision(flagKey);
  return (
    <li data-flag={flagKey} data-enabled={String(decision.enabled)} data-variation={decision.variationKey ?? ''}
        data-rule={decision.ruleKey ?? ''}>
      <strong>{flagKey}</strong>: {decision.enabled ? 'on' : 'off'}
      {decision.variationKey ? ` (variation ${decision.variationKey}, rule ${decision.ruleKey})` : ''}
    </li>
  );
}

function Delivery() {
  useSyncExternalStore(subscribe, () => version);
  return (
    <p id="delivery" data-batches={delivery.batches} data-events={delivery.sent.length}
       data-failed={delivery.failed.length}>
      {delivery.sent.length} events delivered to Vario in {delivery.batches} batches
      {delivery.failed.length > 0 ? `, ${delivery.failed.length} batches refused` : ''}
    </p>
  );
}

function Shop() {
  const [flags, setFlags] = useState(null);
  const [track] = useTrackEvent();
  useEffect(() => {
    optimizely.onReady({ timeout: 10000 }).then((result) => {
      const config = result.success ? optimizely.getOptimizelyConfig() : null;
      setFlags(config ? Object.keys(config.featuresMap).sort() : { error: result.message ?? result.reason });
    });
  }, []);
  if (flags === null) {
    return <p id="status">loading the datafile from {vario}</p>;
  }
  if (!Array.isArray(flags)) {
    return <p id="status" data-error={flags.error}>no datafile from {vario}: {flags.error}</p>;
  }
  return (
    <>
      <p id="status" data-ready="true">Decisions for {user.id}</p>
      <ul id="flags">{flags.map((key) => <Flag key={key} flagKey={key} />)}</ul>
      <button id="buy" type="button" onClick={() => track(eventKey, { revenue: 1999 })}>Buy ({eventKey})</button>
      <Delivery />
    </>
  );
}

window.varioExample = { optimizely, delivery };
createRoot(document.getElementById('root')).render(
  <OptimizelyProvider optimizely={optimizely} user={user}>
    <h1>Vario with the Optimizely React SDK</h1>
    <Shop />
  </OptimizelyProvider>,
);

// Where the page finds Vario and how its events get there. The official SDK sends events
// to Optimizely's endpoint unless its dispatcher is replaced: these two send them to
// Vario's Events API instead.
import { eventDispatcher } from '@optimizely/react-sdk';

/// What the page has sent, for the panel at the bottom (and the tests).
export const delivery = { sent: [], conversions: 0, batches: 0, failed: [], beacons: 0 };

function events(params) {
  return (params.visitors ?? []).flatMap((v) => (v.snapshots ?? []).flatMap((s) => s.events ?? []));
}

/// While the page is open: the SDK's own browser dispatcher (XHR, JSON body), aimed at
/// `${vario}/v1/events`. The JSON content type makes the browser ask first (a CORS
/// preflight), which Vario answers for the allowed origins.
export function varioDispatcher(vario, onChange) {
  return {
    dispatchEvent(event, callback) {
      eventDispatcher.dispatchEvent({ ...event, url: `${vario}/v1/events` }, (response) => {
        if (response.statusCode >= 200 && response.statusCode < 300) {
          delivery.batches += 1;
          const sent = events(event.params);
          delivery.sent.push(...sent.map((e) => e.uuid));
          delivery.conversions += sent.filter((e) => e.key !== 'campaign_activated').length;
        } else {
          delivery.failed.push(response.statusCode);
        }
        onChange();
        callback(response);
      });
    },
  };
}

/// When the page is hidden or closed: `navigator.sendBeacon` with the body as a string,
/// sent as `text/plain` without a preflight, so it survives the page going away.
export function varioBeacon(vario) {
  return {
    dispatchEvent(event, callback) {
      const queued = navigator.sendBeacon(`${vario}/v1/events`, JSON.stringify(event.params));
      delivery.beacons += queued ? 1 : 0;
      callback({ statusCode: queued ? 204 : 0 });
    },
  };
}

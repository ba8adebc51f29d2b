// The official OpenFeature OFREP providers for JavaScript as clients of `vario serve`:
// the server provider (@openfeature/ofrep-provider with @openfeature/server-sdk) and the
// web provider (@openfeature/ofrep-web-provider with @openfeature/web-sdk, which fetches
// every flag at once for a static context). Reads one JSON object on stdin:
//   {"url": "http://127.0.0.1:PORT", "sdk_key": "...",
//    "cases": [{"key": "...", "type": "boolean|string|number|object", "default": ..., "context": {...}}]}
// and prints {"server": [...], "web": [...]}, one evaluation details object per case.
import { OpenFeature as Server } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { OpenFeature as Web } from '@openfeature/web-sdk';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';

const input = JSON.parse(await new Promise((resolve) => {
  let text = '';
  process.stdin.on('data', (chunk) => { text += chunk; });
  process.stdin.on('end', () => resolve(text));
}));
const headers = [['Authorization', `Bearer ${input.sdk_key}`]];

const getter = { boolean: 'getBooleanDetails', string: 'getStringDetails', number: 'getNumberDetails', object: 'getObjectDetails' };
const summary = (details) => ({
  key: details.flagKey,
  value: details.value,
  variant: details.variant ?? null,
  reason: details.reason ?? null,
  errorCode: details.errorCode ?? null,
  metadata: details.flagMetadata ?? {},
});

await Server.setProviderAndWait(new OFREPProvider({ baseUrl: input.url, headers }));
const server = Server.getClient();
const serverResults = [];
for (const c of input.cases) {
  serverResults.push(summary(await server[getter[c.type]](c.key, c.default, c.context)));
}
await Server.close();

// The web provider evaluates every flag once per context, then answers from its cache.
const web = new OFREPWebProvider({ baseUrl: input.url, headers, pollInterval: 0, cacheMode: 'disabled' });
const webResults = [];
let current = null;
for (const c of input.cases) {
  const context = JSON.stringify(c.context);
  if (current === null) {
    await Web.setContext(c.context);
    await Web.setProviderAndWait(web);
  } else if (context !== current) {
    await Web.setContext(c.context);
  }
  current = context;
  webResults.push(summary(Web.getClient()[getter[c.type]](c.key, c.default)));
}
await Web.close();

process.stdout.write(JSON.stringify({ server: serverResults, web: webResults }));

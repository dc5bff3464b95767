// Types for the undici modules api/client.ts imports by path. Importing the package
// root evaluates all of undici (fetch, WebSocket, mocks, cache…): about 20 ms more at
// every start of a bundled agentd on Node 20 (measured with esbuild bundles); the
// client needs only the request API and the proxy-aware agent.
declare module 'undici/lib/dispatcher/env-http-proxy-agent.js' {
  import type { EnvHttpProxyAgent } from 'undici';
  const EnvHttpProxyAgentClass: typeof EnvHttpProxyAgent;
  export default EnvHttpProxyAgentClass;
}

declare module 'undici/lib/dispatcher/dispatcher.js' {
  import type { Dispatcher } from 'undici';
  const DispatcherClass: typeof Dispatcher;
  export default DispatcherClass;
}

declare module 'undici/lib/api/index.js' {
  import type { Dispatcher } from 'undici';
  /** The methods undici's root module mixes into Dispatcher.prototype (request, connect…). */
  const api: {
    request(this: Dispatcher, opts: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData>;
    [method: string]: unknown;
  };
  export default api;
}

declare module 'undici/lib/web/websocket/websocket.js' {
  import type { WebSocket as UndiciWebSocket } from 'undici';
  export const WebSocket: typeof UndiciWebSocket | undefined;
  const cjs: { WebSocket: typeof UndiciWebSocket };
  export default cjs;
}

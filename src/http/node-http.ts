/**
 * node:http's values, loaded with require() rather than an ESM import.
 *
 * Why: an ESM `import … from 'node:http'` makes Node build the module's namespace from every
 * export, and on Node 22+ three of them (http.WebSocket, CloseEvent, MessageEvent) are lazy
 * getters that load Node's bundled undici (fetch, WebSocket, a 750 KiB script). On Node 24.22
 * that costs 14 MiB of RSS (6.5 MiB heap and 7.4 MiB of the node binary's pages) and tens of
 * milliseconds at start, for nothing the sidecar uses. require() reads only what is asked for.
 * Types still come from `import type … from 'node:http'`, which compiles to nothing; eslint
 * (eslint.config.js) refuses a value import of node:http anywhere else in src/.
 */
import { createRequire } from 'node:module';

const http = createRequire(import.meta.url)('node:http') as typeof import('node:http');

export const createServer: typeof http.createServer = http.createServer;
export const STATUS_CODES: typeof http.STATUS_CODES = http.STATUS_CODES;
export const get: typeof http.get = http.get;

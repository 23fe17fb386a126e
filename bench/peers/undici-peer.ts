/**
 * The minimal undici pass-through the issue names as the bar for Outrider's throughput: a
 * node:http server forwarding every request through an undici Pool, no policies. It is what
 * "Node with undici and nothing else" costs, so Outrider's overhead over it is its own.
 * Usage: node undici-peer.mjs PORT UPSTREAM_ORIGIN [CONNECTIONS]
 */
import http from 'node:http';
import { Pool } from 'undici';

const [port, origin, connections] = process.argv.slice(2);
const pool = new Pool(origin ?? 'http://127.0.0.1:8080', { connections: Number(connections ?? 64) });
// Hop-by-hop headers belong to one connection and must not be forwarded (RFC 9110 §7.6.1).
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

function strip(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined && !HOP.has(name)) out[name] = value;
  }
  return out;
}

http
  .createServer((req, res) => {
    const body = req.method === 'GET' || req.method === 'HEAD' ? null : req;
    pool.stream(
      { path: req.url ?? '/', method: req.method as 'GET', headers: strip(req.headers), body },
      ({ statusCode, headers }) => {
        res.writeHead(statusCode, strip(headers));
        return res;
      },
      (err) => {
        if (!err) return;
        if (!res.headersSent) res.writeHead(502).end();
        else res.destroy();
      },
    );
  })
  .listen(Number(port), '127.0.0.1');

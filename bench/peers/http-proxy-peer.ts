/**
 * The minimal `http-proxy` pass-through: the library most Node proxies were built on, with a
 * keep-alive agent to the upstream. Outrider's throughput target is ≥ 1.5x this.
 * Usage: node http-proxy-peer.mjs PORT UPSTREAM_ORIGIN [CONNECTIONS]
 */
import http from 'node:http';
import httpProxy from 'http-proxy';

const [port, origin, connections] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(connections ?? 64) });
const proxy = httpProxy.createProxyServer({ target: origin ?? 'http://127.0.0.1:8080', agent });
proxy.on('error', (_err, _req, res) => {
  if ('writeHead' in res && !res.headersSent) res.writeHead(502).end();
  else res.destroy();
});

http.createServer((req, res) => proxy.web(req, res)).listen(Number(port), '127.0.0.1');

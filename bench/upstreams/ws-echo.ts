/**
 * The websocket scenario's upstream: a `ws` echo server (every message sent back as it came,
 * binary or text) on a node:http server that answers plain requests with 200 (the readiness
 * probe, and the peers' health). No per-message compression, as in most deployments of `ws`.
 * Usage: node ws-echo.mjs PORT
 */
import http from 'node:http';
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2]);
const server = http.createServer((_req, res) => res.end('ok'));
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 1 << 20 });
wss.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => socket.send(data as Buffer, { binary: isBinary }));
  socket.on('error', () => socket.terminate());
});
server.keepAliveTimeout = 300_000;
server.listen(port, '127.0.0.1');
const stop = (): void => {
  for (const client of wss.clients) client.terminate();
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

/**
 * Trailers on HTTP/1.1 chunked responses are forwarded, with the `Trailer` field that announces
 * them (traffic.md, Routes), as a raw-socket client sees them on the wire.
 */
import net from 'node:net';
import { once } from 'node:events';
import t from 'tap';
import { rawExchange } from '../helpers/raw.js';
import { simplePolicy, startSidecar } from '../helpers/sidecar.js';

t.test('a chunked answer’s trailers reach the client', async (t) => {
  const upstream = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () =>
      socket.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\nx-checksum: abc123\r\n\r\n'),
    );
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const proxy = await startSidecar(simplePolicy(`http://127.0.0.1:${(upstream.address() as net.AddressInfo).port}`));
  t.teardown(async () => {
    await proxy.close();
    upstream.close();
  });
  const reply = await rawExchange(proxy.sidecar.listenerPort('outbound'), 'GET /t HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n');
  t.equal(reply.responses[0]?.status, 200);
  t.equal(reply.responses[0]?.body, 'hello');
  t.equal(reply.responses[0]?.headers.trailer, 'x-checksum', 'the Trailer field is passed on');
  t.match(reply.responses[0]?.trailers ?? '', /^x-checksum: abc123$/m, 'and the trailer itself, after the last chunk');
});

/**
 * Hostile requests over raw sockets: every ambiguous framing (the request-smuggling corpus) is
 * refused with a JSON 400 and never reaches the upstream; the limits on header count and size
 * (431) and URI length (414) hold; Host is required once; HTTP/0.9 and raw UTF-8 targets are refused; a
 * broken pipelined request never gets a 400 that could be read as an earlier request's answer.
 */
import t from 'tap';
import { guardProcess } from '../helpers/guard.js';
import { until } from '../helpers/held.js';
import { rawExchange, wellFormed } from '../helpers/raw.js';
import { H, SMUGGLING } from './smuggling-corpus.js';
import { simplePolicy, startSidecar } from '../helpers/sidecar.js';
import { startUpstream } from '../helpers/upstream.js';

const guard = guardProcess();

const up = await startUpstream();
// HTTP/1.1 only: the corpus holds the HTTP/2 preface, which a listener with h2c (the default) serves as HTTP/2 (test/hardening/h2-attacks.test.ts).
const proxy = await startSidecar(simplePolicy(up.url).replace('{ name: outbound, address: 127.0.0.1:0 }', '{ name: outbound, address: 127.0.0.1:0, protocols: [http1] }'));
const port = proxy.sidecar.listenerPort('outbound');
t.teardown(async () => {
  await proxy.close();
  await up.close();
});


t.test('ambiguous framing and malformed requests: 400, closed, never forwarded', async (t) => {
  for (const [name, bytes] of SMUGGLING) {
    const before = up.arrived;
    const reply = await rawExchange(port, bytes);
    t.equal(reply.responses.length, 1, `${name}: exactly one response`);
    const [response] = reply.responses;
    t.equal(response?.status, 400, `${name}: 400`);
    t.equal(response?.headers['x-outrider-error'], 'bad-request', `${name}: x-outrider-error`);
    t.equal(JSON.parse(response?.body ?? '{}').error, 'bad-request', `${name}: JSON body`);
    t.ok(reply.closedByServer, `${name}: the connection is closed`);
    t.equal(reply.trailing, '', `${name}: nothing after the answer`);
    // Bodies are received in full before anything goes upstream, so even a body that breaks
    // after sound headers never reaches it.
    t.equal(up.arrived, before, `${name}: the upstream saw nothing`);
  }
  const after = await rawExchange(port, wellFormed('/after'), { expect: 1 });
  t.equal(after.responses[0]?.status, 200, 'a well-formed request is still answered');
});

t.test('legal variants that look odd are forwarded, normalized', async (t) => {
  // Each body differs from its chunk framing in more than length (several chunks of different
  // sizes, an extension, CR/LF inside the data), so only the exact bytes prove the decoding.
  const cases: [string, string, string][] = [
    ['Transfer-Encoding: CHUNKED (case-insensitive)', `POST /te-case HTTP/1.1\r\n${H}Transfer-Encoding: CHUNKED\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n`, 'abcde'],
    ['Transfer-Encoding with a tab', `POST /te-tab HTTP/1.1\r\n${H}Transfer-Encoding:\tchunked\r\n\r\n1\r\nZ\r\na\r\n0123456789\r\n0\r\n\r\n`, 'Z0123456789'],
    ['chunk extensions', `POST /ext HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n4;name=value\r\nx\r\ny\r\n2;a=b;c\r\n;;\r\n0\r\n\r\n`, 'x\r\ny;;'],
    ['HTTP/1.0 without Host', `GET /ten HTTP/1.0\r\n\r\n`, ''],
  ];
  for (const [name, bytes, body] of cases) {
    const path = /^[A-Z]+ (\S+)/.exec(bytes)?.[1] ?? '';
    const reply = await rawExchange(port, bytes, { expect: 1 });
    t.equal(reply.responses[0]?.status, 200, `${name}: 200`);
    const echoed = JSON.parse(reply.responses[0]?.body ?? '{}') as { bodyBytes: number; headers: Record<string, string> };
    const received = up.requests.filter((r) => r.url === path);
    t.equal(received.length, 1, `${name}: forwarded once`);
    t.equal(received[0]?.body?.toString('latin1'), body, `${name}: the upstream received exactly the decoded body bytes`);
    t.equal(echoed.bodyBytes, Buffer.byteLength(body, 'latin1'), `${name}: and answered for that body`);
    t.notOk(echoed.headers['transfer-encoding'] !== undefined && body === '', `${name}: framing re-made by the proxy`);
  }
  const upgrade = await rawExchange(port, `GET /ws HTTP/1.1\r\n${H}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n`, { expect: 1 });
  const seen = JSON.parse(upgrade.responses[0]?.body ?? '{}') as { headers: Record<string, string> };
  t.equal(upgrade.responses[0]?.status, 200, 'an Upgrade request (h2c smuggling) is answered as plain HTTP/1.1');
  t.equal(seen.headers.upgrade, undefined, 'Upgrade is not forwarded');
  t.equal(seen.headers['http2-settings'], undefined, 'fields named in Connection are not forwarded');
});

t.test('raw UTF-8 in the request target: 400 that says to percent-encode (RFC 9112 §3), the encoded form passes', async (t) => {
  const before = up.arrived;
  const raw = await rawExchange(port, Buffer.concat([Buffer.from('GET /caf'), Buffer.from('é', 'utf8'), Buffer.from(` HTTP/1.1\r\n${H}\r\n`)]));
  t.equal(raw.responses[0]?.status, 400, 'raw bytes outside ASCII: 400');
  t.match(JSON.parse(raw.responses[0]?.body ?? '{}').message, /percent-encoded/, 'the message says what to do');
  t.equal(up.arrived, before, 'nothing was forwarded');
  const encoded = await rawExchange(port, `GET /caf%C3%A9?q=%E2%82%AC HTTP/1.1\r\n${H}\r\n`, { expect: 1 });
  t.equal(encoded.responses[0]?.status, 200);
  t.equal(JSON.parse(encoded.responses[0]?.body ?? '{}').url, '/caf%C3%A9?q=%E2%82%AC', 'percent-encoded UTF-8 is forwarded byte for byte');
});

t.test('a broken request pipelined behind a good one: no answer that could be misread', async (t) => {
  const before = up.arrived;
  const reply = await rawExchange(port, `${wellFormed('/first')}GET /second HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 2\r\n\r\n`);
  t.ok(reply.closedByServer, 'the connection is closed');
  t.notOk(
    reply.responses.some((r) => r.status === 400),
    'no 400 is written while /first is unanswered (the client would read it as /first’s answer)',
  );
  t.ok(reply.responses.every((r) => r.status === 200), 'any answer written is /first’s own');
  t.ok(up.arrived - before <= 1, 'only /first may have reached the upstream');
  t.notOk(
    up.arrivals.some((a) => a.url === '/second'),
    'the broken request never reached the upstream, not even its head',
  );
});

t.test('pipelined requests on a connection that dies leave nothing in flight', async (t) => {
  const pipelined = `POST /p1 HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabc${wellFormed('/p2')}${wellFormed('/p3')}`;
  const complete = await rawExchange(port, pipelined, { expect: 3 });
  t.same(
    complete.responses.map((r) => JSON.parse(r.body).url),
    ['/p1', '/p2', '/p3'],
    'answered in order',
  );
  await rawExchange(port, pipelined, { timeoutMs: 5 });
  await rawExchange(port, `GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n garbage\r\n\r\n`);
  await until(async () => {
    const status = (await proxy.admin('/status')).json() as { listeners: { inFlight: number }[] };
    return status.listeners[0]?.inFlight === 0;
  }, 'the queued responses of a dead connection to be let go');
  t.pass('nothing left in flight');
});

t.test('limits: header count and size 431, URI length 414', async (t) => {
  const headers = (n: number): string => Array.from({ length: n }, (_, i) => `x-h${i}: v\r\n`).join('');
  // Host is one of the fields: 99 more make 100, the limit.
  const atLimit = await rawExchange(port, `GET /count HTTP/1.1\r\n${H}${headers(99)}\r\n`, { expect: 1 });
  t.equal(atLimit.responses[0]?.status, 200, '100 header fields are fine');
  const before = up.arrived;
  const over = await rawExchange(port, `GET /count HTTP/1.1\r\n${H}${headers(100)}\r\n`);
  t.equal(over.responses[0]?.status, 431, '101 header fields: 431');
  t.equal(over.responses[0]?.headers['x-outrider-error'], 'headers-too-large');
  const many = await rawExchange(port, `GET /count HTTP/1.1\r\n${H}${headers(5000)}\r\n`);
  t.equal(many.responses[0]?.status, 431, '5000 header fields: 431');
  t.equal(up.arrived, before, 'none of them was forwarded');

  const big = await rawExchange(port, `GET / HTTP/1.1\r\n${H}x-big: ${'a'.repeat(70 * 1024)}\r\n\r\n`);
  t.equal(big.responses[0]?.status, 431, 'a 70 KiB header block: 431');
  t.equal(big.responses[0]?.headers['x-outrider-error'], 'headers-too-large');
  t.ok(big.closedByServer, 'and the connection is closed');

  const uri = (length: number): string => `/${'u'.repeat(length - 1)}`;
  const uriAtLimit = await rawExchange(port, `GET ${uri(8192)} HTTP/1.1\r\n${H}\r\n`, { expect: 1 });
  t.equal(uriAtLimit.responses[0]?.status, 200, 'an 8 KiB URI is fine');
  const uriOver = await rawExchange(port, `GET ${uri(8193)} HTTP/1.1\r\n${H}\r\n`);
  t.equal(uriOver.responses[0]?.status, 414, 'one more character: 414');
  t.equal(uriOver.responses[0]?.headers['x-outrider-error'], 'uri-too-long');
  t.equal(up.arrived, before + 1, 'only the request within the limits was forwarded');

  const metrics = (await proxy.admin('/metrics')).body;
  t.match(metrics, /outrider_errors_total\{route="",code="headers-too-large"\} 2/, 'refusals are counted by code');
  t.match(metrics, /outrider_client_errors_total\{listener="outbound",code="headers-too-large"\} 1/, 'parser refusals too');
  t.match(metrics, /outrider_client_errors_total\{listener="outbound",code="bad-request"\} \d+/);
  const logged = proxy.accessLog.lines.filter((l) => l.errorCode === 'uri-too-long');
  t.equal(logged.length, 1, 'listener refusals are in the access log');
});

t.test('the process is still healthy after all of it', async (t) => {
  t.equal((await proxy.admin('/healthz')).status, 200);
  const status = (await proxy.admin('/status')).json() as { listeners: { inFlight: number }[] };
  t.equal(status.listeners[0]?.inFlight, 0, 'nothing left in flight');
});

guard.check(t);

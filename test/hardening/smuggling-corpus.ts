/**
 * Real request-smuggling and malformed-request cases (after PortSwigger's and the HTTP/1.1
 * desync research, RFC 9112 §6.3), each refused with 400 by node's strict parser or by the
 * listener. Shared by the hostile-request tests and the listener fuzzer, which mutates them.
 */
export const H = 'Host: app\r\n';

/** Each is refused by the parser or the listener: 400, JSON, connection closed, upstream untouched. */
export const SMUGGLING: readonly [string, string][] = [
  ['Content-Length with Transfer-Encoding (CL.TE)', `POST / HTTP/1.1\r\n${H}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
  ['Transfer-Encoding with Content-Length (TE.CL)', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n`],
  ['two different Content-Lengths', `POST / HTTP/1.1\r\n${H}Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde`],
  ['two equal Content-Lengths', `POST / HTTP/1.1\r\n${H}Content-Length: 4\r\nContent-Length: 4\r\n\r\nabcd`],
  ['Content-Length list', `POST / HTTP/1.1\r\n${H}Content-Length: 4, 4\r\n\r\nabcd`],
  ['negative Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`],
  ['signed Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: +4\r\n\r\nabcd`],
  ['hex Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: 0x4\r\n\r\nabcd`],
  ['overflowing Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: 99999999999999999999999\r\n\r\nabcd`],
  ['space before the colon (Content-Length )', `POST / HTTP/1.1\r\n${H}Content-Length : 4\r\n\r\nabcd`],
  ['space before the colon (Transfer-Encoding )', `POST / HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`],
  ['obsolete line folding', `GET / HTTP/1.1\r\n${H}X-A: b\r\n c\r\n\r\n`],
  ['obsolete line folding of Transfer-Encoding', `POST / HTTP/1.1\r\n${H}Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n`],
  ['Transfer-Encoding: xchunked', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`],
  ['Transfer-Encoding: chunked, gzip (chunked not last)', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n`],
  ['Transfer-Encoding: gzip, chunked (a coding we cannot pass on)', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`],
  ['Transfer-Encoding twice', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
  ['Transfer-Encoding in HTTP/1.0', `POST / HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
  ['invalid character in a header name', `GET / HTTP/1.1\r\n${H}X(A): b\r\n\r\n`],
  ['empty header name', `GET / HTTP/1.1\r\n${H}: b\r\n\r\n`],
  ['NUL in a header value', `GET / HTTP/1.1\r\n${H}X-A: b\u0000c\r\n\r\n`],
  ['control character in a header value', `GET / HTTP/1.1\r\n${H}X-A: b\u0001c\r\n\r\n`],
  ['bare CR in a header value', `GET / HTTP/1.1\r\n${H}X-A: b\rc\r\n\r\n`],
  ['bare LF line endings', `GET / HTTP/1.1\nHost: app\nX-A: b\n\n`],
  ['a bare LF between headers', `GET / HTTP/1.1\r\nHost: app\nX-A: b\r\n\r\n`],
  ['whitespace before the first header', `GET / HTTP/1.1\r\n Host: app\r\n\r\n`],
  ['invalid chunk size', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n`],
  ['negative chunk size', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n-1\r\nab\r\n0\r\n\r\n`],
  ['overflowing chunk size', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nab\r\n0\r\n\r\n`],
  ['space after the chunk size', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n2 \r\nab\r\n0\r\n\r\n`],
  ['LF-only chunk framing', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n2\nab\n0\n\n`],
  ['chunk data longer than its size', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n2\r\nabXX0\r\n\r\n`],
  ['invalid method token', `G@T / HTTP/1.1\r\n${H}\r\n`],
  ['unknown HTTP version', `GET / HTTP/1.2\r\n${H}\r\n`],
  ['HTTP/0.9 request line', `GET /\r\n\r\n`],
  ['space inside the request target', `GET /a b HTTP/1.1\r\n${H}\r\n`],
  ['HTTP/2 preface on an HTTP/1 listener', `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`],
  ['HTTP/1.1 without Host', `GET / HTTP/1.1\r\n\r\n`],
  ['two Host fields', `GET / HTTP/1.1\r\nHost: app\r\nHost: evil\r\n\r\n`],
];

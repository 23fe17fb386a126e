/**
 * Read a response body into memory, up to a bound: for answers the sidecar inspects rather
 * than passes on (a shadow's answer to compare, a scatter-gather target's). Past the bound the
 * body is abandoned and its connection released, and the caller gets undefined; a body that
 * breaks rejects.
 */
import type { BodySink, ResponseBody } from '../pipeline/layer.js';

export function collectBody(body: ResponseBody, limitBytes: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let settled = false;
    const sink: BodySink = {
      write(chunk) {
        if (settled) return false;
        total += chunk.length;
        if (total <= limitBytes) {
          chunks.push(chunk);
          return true;
        }
        settled = true;
        body.destroy(new Error(`answer larger than ${limitBytes} bytes`));
        resolve(undefined);
        return false;
      },
      end() {
        if (settled) return;
        settled = true;
        resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total));
      },
      fail(err) {
        if (settled) return;
        settled = true;
        reject(err);
      },
    };
    body.pipeTo(sink);
  });
}

/**
 * A body passed on to the client while a copy of its bytes is kept (up to `limitBytes`) for
 * whoever asks through `captured`: the primary's answer, to compare with a shadow's.
 */
export class CapturingBody implements ResponseBody {
  readonly captured: Promise<Buffer | undefined>;
  readonly #inner: ResponseBody;
  readonly #limitBytes: number;
  #done!: (bytes: Buffer | undefined) => void;

  constructor(inner: ResponseBody, limitBytes: number) {
    this.#inner = inner;
    this.#limitBytes = limitBytes;
    this.captured = new Promise((resolve) => (this.#done = resolve));
  }

  pipeTo(sink: BodySink): void {
    const chunks: Buffer[] = [];
    let total = 0;
    this.#inner.pipeTo({
      write: (chunk) => {
        total += chunk.length;
        if (total <= this.#limitBytes) chunks.push(chunk);
        return sink.write(chunk);
      },
      end: (trailers) => {
        this.#done(total <= this.#limitBytes ? Buffer.concat(chunks, total) : undefined);
        sink.end(trailers);
      },
      fail: (err) => {
        this.#done(undefined);
        sink.fail(err);
      },
    });
  }

  resume(): void {
    this.#inner.resume();
  }

  destroy(reason?: Error): void {
    this.#done(undefined);
    this.#inner.destroy(reason);
  }
}

/** Read a body to its end and throw it away, so its keep-alive connection is reused. */
export function discardBody(body: ResponseBody): Promise<void> {
  return new Promise((resolve) => body.pipeTo({ write: () => true, end: () => resolve(), fail: () => resolve() }));
}

/**
 * Read a response body into memory, up to a bound: for answers the sidecar inspects rather
 * than passes on (a shadow's answer to compare). Past the bound the body is abandoned and its
 * connection released; the caller gets undefined.
 */
import type { BodySink, ResponseBody } from '../pipeline/layer.js';

export function collectBody(body: ResponseBody, limitBytes: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const sink: BodySink = {
      write(chunk) {
        total += chunk.length;
        if (total > limitBytes) {
          body.destroy();
          resolve(undefined);
          return false;
        }
        chunks.push(chunk);
        return true;
      },
      end: () => resolve(Buffer.concat(chunks, total)),
      fail: () => resolve(undefined),
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
      end: () => {
        this.#done(total <= this.#limitBytes ? Buffer.concat(chunks, total) : undefined);
        sink.end();
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
  return new Promise((resolve) => body.pipeTo({ write: () => true, end: resolve, fail: () => resolve() }));
}

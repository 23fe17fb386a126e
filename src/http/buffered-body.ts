/** A response body the sidecar made itself (errors, aggregated answers): bytes already in hand. */
import type { BodySink, ResponseBody } from '../pipeline/layer.js';

export class BufferedBody implements ResponseBody {
  readonly bytes: Buffer;

  constructor(bytes: Buffer) {
    this.bytes = bytes;
  }

  pipeTo(sink: BodySink): void {
    if (this.bytes.length === 0) sink.end();
    else if (sink.endWith !== undefined) sink.endWith(this.bytes);
    else {
      sink.write(this.bytes);
      sink.end();
    }
  }

  resume(): void {}

  destroy(): void {}
}

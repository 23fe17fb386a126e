/**
 * A one-line progress bar on stderr, only when stderr is a terminal (CI logs stay clean).
 * Redrawn at most four times a second so it costs the generator nothing measurable.
 */
import type { Progress } from './generator.js';

const WIDTH = 24;
const REDRAW_MS = 250;

export class ProgressLine {
  private lastDraw = 0;
  private drawn = false;

  constructor(private readonly out: NodeJS.WriteStream) {}

  update(p: Progress): void {
    if (!this.out.isTTY) return;
    const now = Date.now();
    if (now - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = now;
    const filled = Math.round(p.fraction * WIDTH);
    const bar = '█'.repeat(filled) + '░'.repeat(WIDTH - filled);
    const errors = p.errors > 0 ? `  ${p.errors} non-2xx/errors` : '';
    this.out.write(`\r  ${p.label.padEnd(34).slice(0, 34)} ${bar} ${String(Math.round(p.fraction * 100)).padStart(3)}%  ${p.completed} req${errors}\x1b[K`);
    this.drawn = true;
  }

  clear(): void {
    if (this.drawn) this.out.write('\r\x1b[K');
    this.drawn = false;
  }
}

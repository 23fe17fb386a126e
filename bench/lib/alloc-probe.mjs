/**
 * Preloaded into a measured Node process (`node --import <this file> …`): counts the bytes the
 * process allocates on the V8 heap between two SIGUSR2 signals, and the time its GCs took.
 *
 * Why a GC profiler and not a heap profile: V8 keeps no running total of allocated bytes, but
 * every allocation is either still on the heap at the end or was there when some GC started.
 * So, with used(t) the used heap size, allocated = Σ over GCs (used before the GC − used after
 * the previous one), plus (used at the end − used after the last GC). Exact for the V8 heap;
 * Buffers' backing stores (off-heap) are not in it, and are reported as a separate delta.
 *
 * First SIGUSR2 starts a window, the second ends it and appends one JSON line to the file
 * named by OUTRIDER_BENCH_ALLOC_OUT. It does nothing until signalled, so it costs nothing
 * outside a window. The bench only: Outrider itself never loads it.
 */
import fs from 'node:fs';
import process from 'node:process';
import v8 from 'node:v8';

const out = process.env.OUTRIDER_BENCH_ALLOC_OUT;
let window;

function used() {
  return v8.getHeapStatistics().used_heap_size;
}

function start() {
  const profiler = new v8.GCProfiler();
  profiler.start();
  window = { profiler, used: used(), external: process.memoryUsage().arrayBuffers, cpu: process.cpuUsage(), at: process.hrtime.bigint() };
}

function stop() {
  const endUsed = used();
  const data = window.profiler.stop();
  const cpu = process.cpuUsage(window.cpu);
  let allocated = 0;
  let after = window.used;
  let gcMicros = 0;
  const byType = {};
  for (const gc of data.statistics) {
    allocated += Math.max(0, gc.beforeGC.heapStatistics.usedHeapSize - after);
    after = gc.afterGC.heapStatistics.usedHeapSize;
    gcMicros += gc.cost;
    byType[gc.gcType] = (byType[gc.gcType] ?? 0) + 1;
  }
  allocated += Math.max(0, endUsed - after);
  const line = {
    pid: process.pid,
    node: process.version,
    seconds: Number(process.hrtime.bigint() - window.at) / 1e9,
    allocatedBytes: allocated,
    gcCount: data.statistics.length,
    gcByType: byType,
    gcMicros,
    cpuMicros: cpu.user + cpu.system,
    arrayBuffersDelta: process.memoryUsage().arrayBuffers - window.external,
    rss: process.memoryUsage().rss,
  };
  window = undefined;
  if (out) fs.appendFileSync(out, `${JSON.stringify(line)}\n`);
}

process.on('SIGUSR2', () => (window ? stop() : start()));

import v8 from 'node:v8';
import vm from 'node:vm';
import type { Job, Worker } from 'bullmq';

/**
 * Keeps a long-running worker process's memory flat, whatever the size of the campaign it works
 * through. Measured here: the live heap of a render worker stays near 60 MB, but V8 lets the old
 * generation fill with garbage well past that between full collections, and the PDF and message
 * Buffers outside the heap wait for those collections too, so the resident size kept climbing
 * with the number of letters (+26% for the render worker, +34% for the send worker, from 1,000 to
 * 10,000 recipients).
 *
 * Counted in letters, not jobs (a render job carries a batch of them): once `warmupLetters`
 * letters have set the working size, the resident size is checked every `checkEvery` letters;
 * above `headroom` times that size, a full collection brings it back.
 * Collections are forced only when needed: each costs about 35 ms of pause and more CPU after it
 * (the heap grows its pages again), so forcing one every thousand jobs slowed a campaign by ~10%.
 */
export type MemoryKeeperOptions = { headroom: number; warmupLetters?: number; checkEvery?: number };

/** The letters a finished job was for: a render batch's dispatches, else one. */
function lettersOf(job: Job | undefined): number {
  const ids = (job?.data as { dispatchIds?: unknown } | undefined)?.dispatchIds;
  return Array.isArray(ids) ? ids.length : 1;
}

export function keepMemoryFlat(workers: Worker[], opts: MemoryKeeperOptions): void {
  if (opts.headroom <= 0) return;
  const gc = exposeGc();
  if (!gc) return;
  const every = opts.checkEvery ?? 100;
  let finished = 0;
  let nextCheck = opts.warmupLetters ?? 500;
  let working = 0;
  const onFinished = (job: Job | undefined) => {
    finished += lettersOf(job);
    if (finished < nextCheck) return;
    nextCheck = finished + every;
    const rss = process.memoryUsage.rss();
    if (working === 0) {
      working = rss;
      return;
    }
    if (rss <= working * (1 + opts.headroom)) return;
    gc();
    // What a collection cannot give back is part of the working size from now on (no collection
    // after every check when V8 keeps its pages).
    working = Math.max(working, process.memoryUsage.rss());
  };
  for (const w of workers) {
    w.on('completed', onFinished);
    w.on('failed', onFinished);
  }
}

/** V8's gc() without starting node with --expose-gc (the flag is read when a context is made). */
function exposeGc(): (() => void) | undefined {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return existing;
  try {
    // A forced collection would also drop the bytecode of functions V8 deems old, and the jobs
    // after it ran slower while it was compiled again.
    v8.setFlagsFromString('--no-flush-bytecode');
    v8.setFlagsFromString('--expose-gc');
    const fn = vm.runInNewContext('gc') as unknown;
    return typeof fn === 'function' ? (fn as () => void) : undefined;
  } catch {
    return undefined;
  }
}

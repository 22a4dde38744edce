import type { Logger } from 'pino';

/**
 * Stopping a long-running process (worker, serve, campaign send): the first SIGTERM or SIGINT
 * starts a graceful stop, bounded whatever is down; a second one ends the process at once.
 */

/** Each step of a stop is bounded: with a part away, a close may never end on its own. */
export const STOP_STEP_MS = 1_500;

/** Past this, a stop that has not ended is cut short (exit 1, naming the step): systemd's default TimeoutStopSec is 90 s, ours is 10. */
export const STOP_HARD_MS = 9_500;

const EXIT_CODE: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

export type StopSignal = {
  /** Resolves with the first signal. */
  received: Promise<NodeJS.Signals>;
  /** Aborted at the first signal. */
  signal: AbortSignal;
  /** Removes the handlers (a command that ends by itself). */
  dispose(): void;
};

/** The step a stop is at, for the line of a stop cut short. */
let stepNow = 'stopping';

/**
 * Listens for SIGTERM and SIGINT: the first aborts `signal` and resolves `received`; the
 * second exits at once (status 128 + signal number), jobs in hand left as after a crash.
 * Should the process still run STOP_HARD_MS after the first, it exits 1, naming the step.
 */
export function onStopSignal(log: Logger): StopSignal {
  const abort = new AbortController();
  let resolve!: (s: NodeJS.Signals) => void;
  const received = new Promise<NodeJS.Signals>((r) => (resolve = r));
  const handler = (sig: NodeJS.Signals) => {
    if (abort.signal.aborted) {
      log.warn({ signal: sig }, `${sig} again: exiting now`);
      process.exit(EXIT_CODE[sig] ?? 1);
    }
    log.info({ signal: sig }, `${sig}: stopping (a second signal exits at once)`);
    const hard = setTimeout(() => {
      log.error({ step: stepNow }, `stop did not end within ${STOP_HARD_MS / 1000} s (at: ${stepNow}); exiting`);
      process.exit(1);
    }, STOP_HARD_MS);
    hard.unref(); // a process that ends by itself is not held up
    abort.abort();
    resolve(sig);
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return {
    received,
    signal: abort.signal,
    dispose() {
      process.off('SIGTERM', handler);
      process.off('SIGINT', handler);
    },
  };
}

/** `p`, or 'timeout' after `ms` (p keeps running; its rejection is swallowed). */
export async function withDeadline<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  p.catch(() => undefined);
  try {
    return await Promise.race([p, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs the stop `steps` in order, each bounded by STOP_STEP_MS unless it says otherwise, logs
 * any that did not end, then exits 0 (whatever a library still holds open).
 */
export async function stopAndExit(log: Logger, steps: { name: string; run: () => Promise<unknown>; ms?: number }[]): Promise<never> {
  for (const step of steps) {
    stepNow = step.name;
    const r = await withDeadline(step.run(), step.ms ?? STOP_STEP_MS);
    if (r === 'timeout') log.warn({ step: step.name }, `stop: ${step.name} did not end within ${(step.ms ?? STOP_STEP_MS) / 1000} s; left behind`);
  }
  log.info('stopped');
  process.exit(0);
}

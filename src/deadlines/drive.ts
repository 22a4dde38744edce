import type { OpenedContext } from '../campaigns/context.ts';
import { clockState, parseDuration, setClock, storeClock, type ClockState } from '../clock.ts';
import { openRemindQueue, sweepReminders, type SweepReport } from '../campaigns/reminder-jobs.ts';

/**
 * Driving the business clock (tests, demo, `chancery clock set|advance`): set the clock in the
 * store, then run the reminder sweep at once so rounds now due are promoted and the delays of the
 * others follow the new time. The workers then do the rest as they would in real time.
 */
export async function driveClock(opened: OpenedContext, to: Date, actor: string): Promise<{ clock: ClockState; sweep: SweepReport }> {
  const clock = await setClock(opened.ctx.db, to, actor);
  return { clock, sweep: await sweepNow(opened) };
}

/** `clock advance 9d`: from the clock's current time. */
export async function advanceClock(opened: OpenedContext, duration: string, actor: string): Promise<{ clock: ClockState; sweep: SweepReport }> {
  const now = (await clockState(opened.ctx.db)).now;
  return driveClock(opened, new Date(now.getTime() + parseDuration(duration)), actor);
}

export async function sweepNow(opened: OpenedContext): Promise<SweepReport> {
  const queue = openRemindQueue(opened.ctx.cfg, opened.ctx.queues.connection);
  try {
    return await sweepReminders(opened.ctx, queue, storeClock(opened.ctx.db));
  } finally {
    await queue.close();
  }
}

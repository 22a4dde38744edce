import type { Command } from 'commander';
import { openDispatchContext } from '../campaigns/context.ts';
import { defaultActor } from '../campaigns/repo.ts';
import { clockState, formatZoned, parseInstant, resetClock } from '../clock.ts';
import { loadConfig } from '../config.ts';
import { advanceClock, driveClock } from '../deadlines/drive.ts';
import type { SweepReport } from '../deadlines/jobs.ts';
import { openStore } from '../store/db.ts';
import { action } from './run.ts';

/**
 * `chancery clock show|set|advance|reset`: the business clock of the store (src/clock.ts).
 * set/advance also run the reminder sweep, so rounds now due go to the workers at once.
 */

const out = (line: string) => process.stdout.write(`${line}\n`);

function sweepLine(s: SweepReport): string {
  return `reminder rounds scheduled: ${s.scheduled}; jobs added ${s.added}, promoted ${s.promoted}, moved ${s.moved}, removed ${s.removed}`;
}

export function registerClockCommands(program: Command): void {
  const clock = program.command('clock').description('the business clock (drive it for tests and the demo)');

  clock
    .command('show')
    .description('the time Chancery goes by')
    .action(
      action(async () => {
        const cfg = loadConfig();
        const db = await openStore(cfg);
        try {
          const s = await clockState(db);
          out(`${s.driven ? 'driven' : 'system'}: ${formatZoned(s.now, cfg.DUTY_STATION_TZ)} (${s.now.toISOString()})${s.driven ? `; set by ${s.setBy} at ${s.setAt}` : ''}`);
        } finally {
          await db.destroy();
        }
      }),
    );

  clock
    .command('set <instant>')
    .description('drive the clock: 2009-07-17T09:00 (duty-station time) or 2009-07-17T07:00Z; it runs on from there')
    .option('--by <name>', 'who does it (audit)')
    .action(
      action(async (instant: string, opts: { by?: string }) => {
        const cfg = loadConfig();
        const by = opts.by ?? defaultActor();
        const opened = await openDispatchContext(cfg, { actor: by });
        try {
          const r = await driveClock(opened, parseInstant(instant, cfg.DUTY_STATION_TZ), by);
          out(`clock: ${formatZoned(r.clock.now, cfg.DUTY_STATION_TZ)} (${r.clock.now.toISOString()})`);
          out(sweepLine(r.sweep));
        } finally {
          await opened.close();
        }
      }),
    );

  clock
    .command('advance <duration>')
    .description('move the clock on: 9d, 12h, 2d6h, 30m')
    .option('--by <name>', 'who does it (audit)')
    .action(
      action(async (duration: string, opts: { by?: string }) => {
        const cfg = loadConfig();
        const by = opts.by ?? defaultActor();
        const opened = await openDispatchContext(cfg, { actor: by });
        try {
          const r = await advanceClock(opened, duration, by);
          out(`clock: ${formatZoned(r.clock.now, cfg.DUTY_STATION_TZ)} (${r.clock.now.toISOString()})`);
          out(sweepLine(r.sweep));
        } finally {
          await opened.close();
        }
      }),
    );

  clock
    .command('reset')
    .description('back to system time (run a worker or clock set again to re-time the reminder jobs)')
    .option('--by <name>', 'who does it (audit)')
    .action(
      action(async (opts: { by?: string }) => {
        const cfg = loadConfig();
        const db = await openStore(cfg);
        try {
          const s = await resetClock(db, opts.by ?? defaultActor());
          out(`clock: system time ${s.now.toISOString()}`);
        } finally {
          await db.destroy();
        }
      }),
    );
}

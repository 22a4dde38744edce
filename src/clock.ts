import { InputError, UsageError } from './errors.ts';
import type { Db } from './store/db.ts';
import { appendEvent } from './store/events.ts';
import { nowIso, writeTx } from './store/tx.ts';

/**
 * The business clock: what day it is for deadlines, reminders, replies and overdue lists.
 *
 * - System clock: real time.
 * - Driven clock (tests, demo): real time + an offset kept in the store (table `clock`), so the
 *   CLI, every worker process and the tests read the same time. `chancery clock set 2009-07-17T09:00`
 *   writes the offset; time then runs on from there at normal speed. No row: system time.
 *
 * The same code runs either way: reminder jobs get a BullMQ delay of due_at - clock.now(), and
 * moving the clock re-runs the reminder sweep, which promotes what became due.
 * Audit events keep real UTC timestamps (a driven clock must never rewrite when things happened);
 * events written while the clock is driven carry the business time in their data where it matters.
 */
export type Clock = {
  now(): Promise<Date>;
};

export const systemClock: Clock = { now: async () => new Date() };

/** The clock of a store: driven if `chancery clock set` was used on it, system time otherwise. */
export function storeClock(db: Db): Clock {
  return {
    async now() {
      const row = await db.selectFrom('clock').select('offset_ms').where('id', '=', 1).executeTakeFirst();
      return new Date(Date.now() + (row?.offset_ms ?? 0));
    },
  };
}

export type ClockState = { driven: boolean; now: Date; offsetMs: number; setAt: string | null; setBy: string | null };

export async function clockState(db: Db): Promise<ClockState> {
  const row = await db.selectFrom('clock').selectAll().where('id', '=', 1).executeTakeFirst();
  const offsetMs = row?.offset_ms ?? 0;
  return { driven: !!row, now: new Date(Date.now() + offsetMs), offsetMs, setAt: row?.set_at ?? null, setBy: row?.set_by ?? null };
}

/** Drives the store's clock to `at` (it runs on from there). Recorded in the audit trail. */
export async function setClock(db: Db, at: Date, actor: string): Promise<ClockState> {
  if (Number.isNaN(at.getTime())) throw new InputError('clock: not a valid instant');
  const offsetMs = at.getTime() - Date.now();
  const setAt = nowIso();
  await writeTx(db, async (trx) => {
    const before = await trx.selectFrom('clock').select('offset_ms').where('id', '=', 1).executeTakeFirst();
    if (before) await trx.updateTable('clock').set({ offset_ms: offsetMs, set_at: setAt, set_by: actor }).where('id', '=', 1).execute();
    else await trx.insertInto('clock').values({ id: 1, offset_ms: offsetMs, set_at: setAt, set_by: actor }).execute();
    await appendEvent(trx, { type: 'clock.set', actor, at: setAt, data: { clock: at.toISOString(), offset_ms: offsetMs, previous_offset_ms: before?.offset_ms ?? null } });
  });
  return clockState(db);
}

/** Back to system time. */
export async function resetClock(db: Db, actor: string): Promise<ClockState> {
  await writeTx(db, async (trx) => {
    const res = await trx.deleteFrom('clock').where('id', '=', 1).executeTakeFirst();
    if (Number(res.numDeletedRows) > 0) await appendEvent(trx, { type: 'clock.reset', actor, data: {} });
  });
  return clockState(db);
}

// ---- Calendar dates at the duty station -------------------------------------------------------

function checkZone(tz: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw new UsageError(`DUTY_STATION_TZ: "${tz}" is not a known time zone (e.g. Europe/Vienna)`);
  }
}

function zoneParts(instant: number, tz: string): { y: number; m: number; d: number; h: number; mi: number; s: number } {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: tz,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(instant));
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? NaN);
  return { y: get('year'), m: get('month'), d: get('day'), h: get('hour'), mi: get('minute'), s: get('second') };
}

/** Offset of the zone from UTC at an instant, in ms (Vienna: +2 h in July). */
function zoneOffsetMs(instant: number, tz: string): number {
  const p = zoneParts(instant, tz);
  return Date.UTC(p.y, p.m - 1, p.d, p.h, p.mi, p.s) - Math.floor(instant / 1000) * 1000;
}

/** The instant at which the wall clock of `tz` shows `date` (yyyy-mm-dd) at `time` (HH:MM). */
export function zonedInstant(date: string, time: string, tz: string): Date {
  checkZone(tz);
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const [h, mi] = time.split(':').map(Number) as [number, number];
  const wall = Date.UTC(y, m - 1, d, h, mi);
  // Two passes settle the offset on either side of a daylight-saving change.
  let t = wall - zoneOffsetMs(wall, tz);
  t = wall - zoneOffsetMs(t, tz);
  return new Date(t);
}

/** The calendar date (yyyy-mm-dd) at the duty station at an instant. */
export function zonedDate(instant: Date, tz: string): string {
  checkZone(tz);
  const p = zoneParts(instant.getTime(), tz);
  return `${String(p.y).padStart(4, '0')}-${String(p.m).padStart(2, '0')}-${String(p.d).padStart(2, '0')}`;
}

/** "2009-07-17 09:00 Europe/Vienna" */
export function formatZoned(instant: Date, tz: string): string {
  const p = zoneParts(instant.getTime(), tz);
  return `${zonedDate(instant, tz)} ${String(p.h).padStart(2, '0')}:${String(p.mi).padStart(2, '0')} ${tz}`;
}

/** yyyy-mm-dd plus n days (n may be negative). */
export function addDays(date: string, n: number): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

/**
 * An instant as typed on the command line. With Z or an offset it is absolute
 * (2009-07-17T07:00Z); without, it is wall time at the duty station (2009-07-17T09:00,
 * 2009-07-17 = midnight there).
 */
export function parseInstant(value: string, tz: string, what = 'clock'): Date {
  const s = value.trim();
  const local = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(s);
  if (local) {
    const [, date, hh = '00', mm = '00', ss = '00'] = local;
    const check = new Date(`${date}T00:00:00Z`);
    if (Number.isNaN(check.getTime()) || check.toISOString().slice(0, 10) !== date || Number(hh) > 23 || Number(mm) > 59 || Number(ss) > 59) {
      throw new InputError(`${what}: "${value}" is not a valid date and time (e.g. 2009-07-17T09:00)`);
    }
    return new Date(zonedInstant(date!, `${hh}:${mm}`, tz).getTime() + Number(ss) * 1000);
  }
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(s)) {
    const d = new Date(s);
    if (!Number.isNaN(d.getTime())) return d;
  }
  throw new InputError(`${what}: "${value}" is not a valid date and time (e.g. 2009-07-17T09:00, or 2009-07-17T07:00Z)`);
}

/** "3d", "12h", "30m", "2d12h": a duration to advance the clock by. */
export function parseDuration(value: string, what = 'clock advance'): number {
  const m = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$/.exec(value.trim());
  if (!m || value.trim() === '' || (!m[1] && !m[2] && !m[3])) throw new InputError(`${what}: "${value}" is not a duration (e.g. 9d, 12h, 2d6h, 30m)`);
  return ((Number(m[1] ?? 0) * 24 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 60_000;
}

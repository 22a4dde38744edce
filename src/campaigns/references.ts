import { InputError } from '../errors.ts';
import { appendEvent } from '../store/events.ts';
import type { Trx } from '../store/tx.ts';

/**
 * Numbered reference series: "CU 2009/92 (A)" is number 92 of series CU for 2009.
 * `next:CU` allocates the number after the highest one used for that series and year; numbers
 * are never handed out twice, even when the campaign that got one is cancelled.
 */

export type ParsedReference = { series: string; year: number; number: number };

const NUMBERED = /^([A-Z][A-Z0-9.-]{0,15}) (\d{4})\/(\d{1,6})(?: .*)?$/;

/** The series, year and number of a reference such as "CU 2009/92 (A)", if it has them. */
export function parseReference(reference: string): ParsedReference | undefined {
  const m = NUMBERED.exec(reference);
  if (!m) return undefined;
  return { series: m[1]!, year: Number(m[2]), number: Number(m[3]) };
}

/** "next:CU" -> "CU"; undefined when the reference is given in full. */
export function requestedSeries(reference: string): string | undefined {
  if (!reference.startsWith('next:')) return undefined;
  const series = reference.slice(5);
  if (!/^[A-Z][A-Z0-9.-]{0,15}$/.test(series)) throw new InputError(`--reference: ${JSON.stringify(reference)} must be next:SERIES with an upper-case series, e.g. next:CU`);
  return series;
}

/**
 * Allocates the next number of `series` for `year` inside the caller's write transaction
 * (the same one that inserts the campaign), so two concurrent creates never get the same one.
 */
export async function allocateReference(trx: Trx, series: string, year: number, actor: string, at: string, campaignId?: string): Promise<ParsedReference & { reference: string }> {
  const row = await trx.selectFrom('reference_series').select('last_number').where('series', '=', series).where('year', '=', year).executeTakeFirst();
  const number = (row?.last_number ?? 0) + 1;
  if (row) {
    await trx.updateTable('reference_series').set({ last_number: number, updated_at: at }).where('series', '=', series).where('year', '=', year).execute();
  } else {
    await trx.insertInto('reference_series').values({ series, year, last_number: number, updated_at: at }).execute();
  }
  const reference = `${series} ${year}/${number}`;
  await appendEvent(trx, { type: 'reference.allocated', campaignId: campaignId ?? null, actor, at, data: { series, year, number, reference } });
  return { series, year, number, reference };
}

/** A reference given in full marks its number as used, so next:SERIES never hands it out again. */
export async function recordReferenceUsed(trx: Trx, ref: ParsedReference, at: string): Promise<void> {
  const row = await trx.selectFrom('reference_series').select('last_number').where('series', '=', ref.series).where('year', '=', ref.year).executeTakeFirst();
  if (!row) {
    await trx.insertInto('reference_series').values({ series: ref.series, year: ref.year, last_number: ref.number, updated_at: at }).execute();
  } else if (row.last_number < ref.number) {
    await trx.updateTable('reference_series').set({ last_number: ref.number, updated_at: at }).where('series', '=', ref.series).where('year', '=', ref.year).execute();
  }
}

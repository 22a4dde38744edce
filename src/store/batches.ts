/**
 * Rows per multi-row statement (INSERT ... VALUES, UPDATE ... WHERE id IN): well under SQLite's
 * (32,766) and PostgreSQL's (65,535) bound-parameter limits for the widest table written this way
 * (dispatches, 24 columns: 12,000 parameters).
 */
export const ROWS_PER_STATEMENT = 500;

/** `items` in consecutive slices of at most `size`, for one statement each. */
export function* batches<T>(items: readonly T[], size = ROWS_PER_STATEMENT): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

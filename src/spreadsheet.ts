/**
 * Formula injection in CSV files opened in a spreadsheet: a cell starting with = + - @ (or their
 * full-width forms ＝＋－＠, which some spreadsheets fold to ASCII), a tab or a CR may be run as
 * a formula. Every CSV export (registry, audit) writes such a cell with a leading quote, shown as
 * text. Quotes already at the start count as part of the prefix, so an import can take exactly one
 * off (restoreFormulaCell) and read back the value as it was.
 */
const FORMULA_START = /^'*[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/;
const QUOTED_FORMULA = /^'+[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/;

export function neutraliseFormulaCell(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

/** The inverse of neutraliseFormulaCell, for a cell read back from an export. */
export function restoreFormulaCell(value: string): string {
  return QUOTED_FORMULA.test(value) ? value.slice(1) : value;
}

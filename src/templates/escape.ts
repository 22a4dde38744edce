/**
 * Escaping for the Markdown subset. Every value merged into a template (registry data,
 * dates, helper output) goes through escapeMarkdown, so "**", "[x](y)", "1. " or "|" in a
 * registry value can never become markup: the parser turns "\*" back into a literal "*".
 */

/** Any ASCII punctuation may be backslash-escaped (as in CommonMark). */
export const ASCII_PUNCTUATION = /[!-/:-@[-`{-~]/;

/**
 * Backslash before every ASCII punctuation character. Control characters (which a registry
 * line never holds) become spaces so a value can never open a new line or block.
 */
export function escapeMarkdown(value: string): string {
  return value.replace(/[\u0000-\u001f\u007f]/g, ' ').replace(/[!-/:-@[-`{-~]/g, (c) => `\\${c}`);
}

/** The reverse of escapeMarkdown (used by helpers that compute on a value). */
export function unescapeMarkdown(value: string): string {
  return value.replace(/\\([!-/:-@[-`{-~])/g, '$1');
}

import { InputError } from '../errors.ts';

/**
 * Dates as the UN writes them, per language. Not from Intl alone: Intl gives "1 août" where
 * French wants "1er août", and has no "года" idiom or paired Arabic month names.
 * Deadlines are calendar dates at the duty station, so dates stay plain yyyy-mm-dd strings:
 * no Date objects, no time zones.
 */

const MONTHS: Record<string, readonly string[]> = {
  fr: ['janvier', 'février', 'mars', 'avril', 'mai', 'juin', 'juillet', 'août', 'septembre', 'octobre', 'novembre', 'décembre'],
  en: ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'],
  es: ['enero', 'febrero', 'marzo', 'abril', 'mayo', 'junio', 'julio', 'agosto', 'septiembre', 'octubre', 'noviembre', 'diciembre'],
  // Genitive forms: "8 июля 2009 года".
  ru: ['января', 'февраля', 'марта', 'апреля', 'мая', 'июня', 'июля', 'августа', 'сентября', 'октября', 'ноября', 'декабря'],
  // Paired Levantine/Egyptian month names as in UN Arabic documents (DOMAIN.md: to confirm).
  ar: [
    'كانون الثاني/يناير', 'شباط/فبراير', 'آذار/مارس', 'نيسان/أبريل', 'أيار/مايو', 'حزيران/يونيه',
    'تموز/يوليه', 'آب/أغسطس', 'أيلول/سبتمبر', 'تشرين الأول/أكتوبر', 'تشرين الثاني/نوفمبر', 'كانون الأول/ديسمبر',
  ],
};

export const DATE_LANGUAGES = ['fr', 'en', 'es', 'ru', 'zh', 'ar'] as const;

export type IsoDate = { year: number; month: number; day: number };

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** True for a real calendar date written yyyy-mm-dd (2009-02-30 is not). */
export function isIsoDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
}

/** Parses yyyy-mm-dd strictly; `what` names the field in the error ("replyBy", "--reply-by"). */
export function parseIsoDate(s: string, what = 'date'): IsoDate {
  if (!isIsoDate(s)) throw new InputError(`${what}: "${s}" is not a valid date (expected yyyy-mm-dd, e.g. 2009-07-31)`);
  const [y, m, d] = s.split('-').map(Number) as [number, number, number];
  return { year: y, month: m, day: d };
}

/** "8 juillet 2009", "1er août 2009", "8 July 2009", "8 de julio de 2009", "8 июля 2009 года", "2009年7月8日". */
export function formatDate(iso: string, language: string): string {
  const { year, month, day } = parseIsoDate(iso);
  switch (language) {
    case 'fr':
      return `${day === 1 ? '1er' : day} ${MONTHS.fr![month - 1]} ${year}`;
    case 'en':
      return `${day} ${MONTHS.en![month - 1]} ${year}`;
    case 'es':
      return `${day} de ${MONTHS.es![month - 1]} de ${year}`;
    case 'ru':
      return `${day} ${MONTHS.ru![month - 1]} ${year} года`;
    case 'zh':
      return `${year}年${month}月${day}日`;
    case 'ar':
      return `${day} ${MONTHS.ar![month - 1]} ${year}`;
    default:
      throw new InputError(`date: no date format for language "${language}" (known: ${DATE_LANGUAGES.join(', ')})`);
  }
}

/**
 * The reverse, for the archive import: "8 juillet 2009", "1er août 2009", "8 July 2009" -> ISO.
 * Returns undefined when the text is not a date in that language.
 */
export function parseWrittenDate(text: string, language: string): string | undefined {
  const months = MONTHS[language];
  if (!months || (language !== 'fr' && language !== 'en')) return undefined;
  const m = /^(1er|\d{1,2})\s+(\p{L}+)\s+(\d{4})$/u.exec(text.trim());
  if (!m) return undefined;
  const day = m[1] === '1er' ? 1 : Number(m[1]);
  const month = months.findIndex((name) => name.toLowerCase() === m[2]!.toLowerCase()) + 1;
  if (month === 0) return undefined;
  const iso = `${m[3]}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
  return isIsoDate(iso) ? iso : undefined;
}

/** Month names of a language, for the import's date patterns. */
export function monthNames(language: string): readonly string[] {
  return MONTHS[language] ?? [];
}

/**
 * The recipient registry: reading registry files (CSV, JSON), the store, audiences.
 * See CONTRACTS.md for the functions other stages rely on, seeds/README.md for the file formats.
 */
import { recipientsToCsv } from './csv.ts';
import type { Recipient } from './schema.ts';

export { parseRegistryFile, readRegistry, registryFormatOf, type RegistryFormat } from './parse.ts';
export { decodeUtf8 } from './encoding.ts';
export { importRecipients, listRecipients, getRecipient, getRecipientsById, selectAudience, ensureRegistryLoaded, type ImportResult } from './repository.ts';
export { recipientFingerprint, normalizeRecipient } from './canonical.ts';
export { controlCharacter, recipientSchema, type Recipient, type RecipientInput, type Language, type NameForms, type FunctionalTitle, type AddresseeType } from './schema.ts';

export type ExportFormat = 'csv' | 'json';

/**
 * The registry as a file's text, in a form parseRegistryFile reads back unchanged.
 * CSV cells a spreadsheet would run as a formula (= + - @, full-width too) are prefixed with "'" here only.
 */
export function exportRecipients(recipients: readonly Recipient[], format: ExportFormat): string {
  if (format === 'csv') return recipientsToCsv(recipients);
  return `${JSON.stringify(recipients, null, 2)}\n`;
}

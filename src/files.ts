import fs from 'node:fs';

/**
 * Writes next to the target, then renames it into place: an interrupted write never leaves half
 * a file under the target's name (a reader sees the old file or the new one).
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

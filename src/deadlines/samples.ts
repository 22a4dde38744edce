import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors.ts';

/**
 * The sample replies of seeds/replies/*.eml answer a campaign whose id is only known once it is
 * created: their In-Reply-To headers say `{{campaign}}` (and `{{domain}}` for MESSAGE_ID_DOMAIN).
 * This writes copies with the real values, ready for `chancery reply ingest OUT`.
 */
export function prepareSampleReplies(srcDir: string, outDir: string, vars: { campaignId: string; messageIdDomain: string }): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(srcDir).filter((n) => n.endsWith('.eml')).sort();
  } catch {
    throw new InputError(`sample replies: cannot read ${srcDir}`);
  }
  fs.mkdirSync(outDir, { recursive: true });
  return names.map((n) => {
    const text = fs.readFileSync(path.join(srcDir, n), 'utf8').replaceAll('{{campaign}}', vars.campaignId).replaceAll('{{domain}}', vars.messageIdDomain.toLowerCase());
    const file = path.join(outDir, n);
    fs.writeFileSync(file, text);
    return file;
  });
}

import { setImmediate } from 'node:timers/promises';
import type { Config } from '../config.ts';
import { chooseVersion, mergeDocument, preflight, type Gap } from '../merge/index.ts';
import { selectAudience, type Recipient } from '../registry/index.ts';
import { renderDocument } from '../render/index.ts';
import type { Db } from '../store/db.ts';
import { loadTemplateVersions, type Template } from '../templates/index.ts';
import { mergeOptionsOf, type Campaign } from './repo.ts';

export type PreflightResult = {
  gaps: Gap[];
  versions: Template[];
  recipients: Recipient[];
  /** Documents merged and rendered without error. */
  rendered: number;
};

/**
 * Everything short of sending: every gap merge can see, then every recipient's letter merged and
 * rendered, so a render error shows now and not halfway through a campaign. Nothing is stored.
 */
export async function runPreflight(db: Db, cfg: Config, campaign: Campaign, onProgress?: (done: number, total: number) => void): Promise<PreflightResult> {
  const versions = await loadTemplateVersions(cfg.paths.templates, campaign.template_id);
  const recipients = await selectAudience(db, campaign.audience);
  const options = mergeOptionsOf(campaign);
  const gaps = preflight(versions, recipients, options);
  const withGap = new Set(gaps.map((g) => g.recipientId));
  let rendered = 0;
  let done = 0;
  for (const r of recipients) {
    done++;
    if (withGap.has(r.id)) continue;
    // Let the event loop turn between letters: otherwise the whole preflight is one task (the
    // store answers synchronously), so the progress bar stands still, a web console in the same
    // process stops answering, and Redis connections time out (seen at 10,000 letters).
    await setImmediate();
    const template = chooseVersion(versions, r);
    if (!template) {
      gaps.push({ recipientId: r.id, language: r.language, field: '(template)', problem: `no ${r.language} version of ${campaign.template_id} and no fallback` });
      continue;
    }
    try {
      await renderDocument(mergeDocument(template, r, options));
      rendered++;
    } catch (err) {
      gaps.push({ recipientId: r.id, language: template.meta.language, field: '(render)', problem: err instanceof Error ? err.message : String(err) });
    }
    onProgress?.(done, recipients.length);
  }
  return { gaps, versions, recipients, rendered };
}

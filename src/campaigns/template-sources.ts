import type { Db } from '../store/db.ts';
import { nowIso, type Trx } from '../store/tx.ts';
import { parseTemplateText, readTemplateFile, type Template } from '../templates/index.ts';

/**
 * The approved template versions travel in the store (table template_sources, by SHA-256): the
 * approval writes the exact text of every version it covers, and the render step builds its
 * templates from there, so a worker renders exactly what was approved and needs no templates
 * folder (a worker on another machine has only DATABASE_URL, REDIS_URL and SMTP_URL). Whether
 * the files on disk changed since is checked where the operator acts (checkApproval).
 */

/** Stores the text of each version; a text already stored (same hash) is left as it is. */
export async function storeTemplateSources(trx: Trx, versions: Template[]): Promise<void> {
  const at = nowIso();
  for (const v of versions) {
    if (v.source === undefined) throw new Error(`template ${v.meta.id}.${v.meta.language}: its text was not kept when it was read`);
    await trx
      .insertInto('template_sources')
      .values({ sha256: v.sha256, template_id: v.meta.id, language: v.meta.language, source: v.source, stored_at: at })
      .onConflict((oc) => oc.column('sha256').doNothing())
      .execute();
  }
}

/**
 * Parsed templates by SHA-256, per process: the text behind a hash never changes, and merge keeps
 * its compiled form per Template object, so each approved version is parsed and compiled once.
 */
const parsed = new Map<string, Template>();

/**
 * The approved versions of template `templateId` (`approved`: language -> SHA-256), from the
 * store. A version whose text is not in the store (a campaign approved before the store kept
 * them) is read from `dir` if the file there still has the approved hash. Else `problem` says
 * which version is missing, in words for "needs approval again: ...".
 */
export async function approvedTemplateVersions(db: Db, dir: string, templateId: string, approved: Record<string, string>): Promise<{ versions: Template[]; problem?: undefined } | { versions?: undefined; problem: string }> {
  const wanted = Object.entries(approved).sort(([a], [b]) => a.localeCompare(b));
  const unknown = wanted.filter(([, sha]) => !parsed.has(sha)).map(([, sha]) => sha);
  if (unknown.length > 0) {
    const rows = await db.selectFrom('template_sources').select(['sha256', 'template_id', 'language', 'source']).where('sha256', 'in', unknown).execute();
    for (const r of rows) {
      const t = parseTemplateText(r.source, `${r.template_id}.${r.language}.md`);
      if (t.sha256 === r.sha256) remember(r.sha256, t); // else it is not the approved text: as if missing
    }
  }
  const versions: Template[] = [];
  for (const [language, sha] of wanted) {
    let t = parsed.get(sha);
    if (!t) {
      const onDisk = await readTemplateFile(dir, `${templateId}.${language}.md`).catch(() => undefined);
      if (onDisk?.sha256 !== sha) return { problem: `template ${templateId}.${language} changed since approval (its approved text is not in the store)` };
      remember(sha, (t = onDisk));
    }
    versions.push(t);
  }
  return { versions };
}

function remember(sha: string, t: Template): void {
  if (parsed.size >= 256) parsed.clear();
  parsed.set(sha, t);
}

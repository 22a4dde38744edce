/**
 * Render stage: MergedDocument -> PDF bytes (A4, embedded Noto Serif), deterministic.
 * Layout (pure, runs -> positioned items) is separate from drawing (items -> pdfkit calls).
 */
import { createHash } from 'node:crypto';
import type { MergedDocument, RenderedDocument } from '../document/model.ts';
import { clearContentCache, drawPdf } from './draw.ts';
import { clearLayoutCache, type DocumentLayout } from './flow.ts';
import { clearGlyphCaches } from './glyphs.ts';
import { layoutNote } from './layout-note.ts';
import { layoutUnDocument } from './layout-undoc.ts';

export type { DocumentLayout } from './flow.ts';

/** Lay a document out into positioned pages (pure). */
export function layoutDocument(doc: MergedDocument): DocumentLayout {
  return doc.kind === 'un-document' ? layoutUnDocument(doc) : layoutNote(doc);
}

/**
 * Forget every per-process cache of the renderer (paragraph layouts, shaped strings, font subsets,
 * compressed pages). Output never depends on them; the benchmark clears them so that each run
 * measures a campaign from a cold start.
 */
export function clearRenderCaches(): void {
  clearLayoutCache();
  clearGlyphCaches();
  clearContentCache();
}

export async function renderDocument(doc: MergedDocument): Promise<RenderedDocument> {
  const layout = layoutDocument(doc);
  const inputHash = createHash('sha256').update(JSON.stringify(doc)).digest();
  const bytes = await drawPdf(layout, {
    title: doc.title,
    subject: doc.subject,
    language: doc.language,
    id: new Uint8Array(inputHash.subarray(0, 16)),
  });
  return { bytes, pages: layout.pages.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}

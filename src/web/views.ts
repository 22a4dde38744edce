import fs from 'node:fs';
import path from 'node:path';
import Handlebars from 'handlebars';

/**
 * Server-side pages: Handlebars views in src/web/views, compiled once at start-up. Every value
 * goes through {{ }} (HTML-escaped); the only triple-stash is the layout's {{{body}}}, which is
 * itself the output of an escaped view.
 */

const DIR = path.join(import.meta.dirname, 'views');

export type Views = { render(view: string, data: Record<string, unknown>): string };

export function loadViews(dir = DIR): Views {
  const hb = Handlebars.create();
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  hb.registerHelper('ne', (a: unknown, b: unknown) => a !== b);
  hb.registerHelper('or', (...args: unknown[]) => args.slice(0, -1).some(Boolean));
  hb.registerHelper('and', (...args: unknown[]) => args.slice(0, -1).every(Boolean));
  hb.registerHelper('not', (a: unknown) => !a);
  hb.registerHelper('pct', (n: number, d: number) => (d > 0 ? Math.floor((100 * n) / d) : 0));
  /** "2009-07-08T10:11:12.345Z" -> "2009-07-08 10:11 UTC" */
  hb.registerHelper('when', (iso: unknown) => (typeof iso === 'string' && iso.length >= 16 ? `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC` : (iso ?? '')));
  const compiled = new Map<string, HandlebarsTemplateDelegate>();
  for (const f of fs.readdirSync(dir)) {
    if (!f.endsWith('.hbs')) continue;
    const name = f.slice(0, -4);
    const text = fs.readFileSync(path.join(dir, f), 'utf8');
    if (name.startsWith('_')) hb.registerPartial(name.slice(1), text);
    else compiled.set(name, hb.compile(text, { strict: false, noEscape: false }));
  }
  const layout = compiled.get('layout');
  if (!layout) throw new Error(`${dir}: no layout.hbs`);
  return {
    render(view, data) {
      const t = compiled.get(view);
      if (!t) throw new Error(`no view ${view}`);
      const body = t(data);
      return data.bare ? body : layout({ ...data, body });
    },
  };
}

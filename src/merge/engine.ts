import Handlebars from 'handlebars';
import { InputError } from '../errors.ts';
import type { Template } from '../templates/meta.ts';
import { escapeMarkdown, unescapeMarkdown } from '../templates/escape.ts';
import { analyzeBody, handlebarsError, type Analysis } from '../templates/placeholders.ts';
import { formatDate } from './dates.ts';

/**
 * One isolated Handlebars environment for templates: strict (an unknown field throws), only our
 * helpers (knownHelpersOnly), no partials, no HTML escaping. Values are escaped for the Markdown
 * subset BEFORE they go in (escapeContext), and every helper unescapes its arguments and escapes
 * its result, so nothing a value holds can become markup.
 */
const hb = Handlebars.create();
for (const name of ['each', 'with', 'lookup', 'log', 'blockHelperMissing', 'helperMissing']) hb.unregisterHelper(name);

type HelperData = { language: string; file: string; bodyLine: number };
type HelperOptions = { data?: HelperData & { root?: unknown }; loc?: { start: { line: number } } };

const helperFail = (options: HelperOptions, msg: string): never => {
  const d = options.data;
  const line = d && options.loc ? `line ${d.bodyLine + options.loc.start.line - 1}: ` : '';
  throw new InputError(`${d?.file ?? 'template'}: ${line}${msg}`);
};
const str = (v: unknown) => (typeof v === 'string' ? unescapeMarkdown(v) : v === undefined || v === null ? '' : String(v));

/** {{date replyBy}} or {{date replyBy "en"}}: an ISO date written in the template language. */
hb.registerHelper('date', function (...args: unknown[]) {
  const options = args.pop() as HelperOptions;
  const [value, lang] = args;
  const language = typeof lang === 'string' ? lang : (options.data?.language ?? 'en');
  try {
    return escapeMarkdown(formatDate(str(value), language));
  } catch (err) {
    return helperFail(options, `{{date}}: ${err instanceof Error ? err.message : String(err)}`);
  }
});
/** {{upper CountryName}}: capitals, per the template language's rules. */
hb.registerHelper('upper', function (...args: unknown[]) {
  const options = args.pop() as HelperOptions;
  return escapeMarkdown(str(args[0]).toLocaleUpperCase(options.data?.language));
});
/** {{#if (eq sender.gender "f")}}: equality of two values, for conditions. */
hb.registerHelper('eq', function (...args: unknown[]) {
  args.pop();
  return str(args[0]) === str(args[1]);
});

const COMPILE_OPTIONS = {
  strict: true,
  noEscape: true,
  knownHelpersOnly: true,
  knownHelpers: {
    date: true,
    upper: true,
    eq: true,
    if: true,
    unless: true,
    each: false,
    with: false,
    lookup: false,
    log: false,
    helperMissing: false,
    blockHelperMissing: false,
  },
  preventIndent: true,
} as const;

type Compiled = { analysis: Analysis; run: (context: unknown, data: HelperData) => string };
const cache = new WeakMap<Template, Compiled>();

/** Checks and compiles a template body once (per Template object). Throws InputError with the line. */
export function compileTemplate(template: Template): Compiled {
  const cached = cache.get(template);
  if (cached) return cached;
  const analysis = analyzeBody(template);
  const bodyLine = template.bodyLine ?? 1;
  let fn: HandlebarsTemplateDelegate;
  try {
    fn = hb.compile(analysis.source, COMPILE_OPTIONS);
  } catch (err) {
    throw handlebarsError(err, template.file, bodyLine);
  }
  const compiled: Compiled = {
    analysis,
    run: (context, data) => {
      try {
        return fn(context, {
          data,
          allowProtoPropertiesByDefault: false,
          allowProtoMethodsByDefault: false,
        });
      } catch (err) {
        throw handlebarsError(err, template.file, bodyLine);
      }
    },
  };
  cache.set(template, compiled);
  return compiled;
}

/** A deep copy of the context with every string escaped for the Markdown subset. */
export function escapeContext(value: unknown): unknown {
  if (typeof value === 'string') return escapeMarkdown(value);
  if (Array.isArray(value)) return value.map(escapeContext);
  if (value && typeof value === 'object') {
    // A null-prototype object: nothing reachable through a prototype chain.
    const out: Record<string, unknown> = Object.create(null);
    for (const [k, v] of Object.entries(value)) out[k] = escapeContext(v);
    return out;
  }
  return value;
}

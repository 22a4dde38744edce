import Handlebars from 'handlebars';
import { InputError } from '../errors.ts';
import type { Template } from './meta.ts';

/**
 * Placeholders: the legacy form [[[Name]]] (names may hold spaces: [[[Postal Code]]]) is turned
 * into Handlebars' literal-segment form {{[Postal Code]}}, then the body is parsed by Handlebars
 * and its syntax tree checked here, before anything runs: no partials, no decorators, no data
 * variables, no parent paths, no prototype segments, only the helpers we register.
 */

/** Helpers a template may call (registered in src/merge/engine.ts). */
export const INLINE_HELPERS = ['date', 'upper', 'eq'] as const;
export const BLOCK_HELPERS = ['if', 'unless'] as const;
const FORBIDDEN_SEGMENTS = new Set(['constructor', '__proto__', 'prototype', '__defineGetter__', '__defineSetter__', '__lookupGetter__', '__lookupSetter__']);

/** One field the body reads. `line` is the line of the file. */
export type FieldUse = {
  /** Path segments: ["FunctionalTitle2"], ["Postal Code"], ["recipient", "id"]. */
  path: string[];
  /** As shown to people: "FunctionalTitle2", "Postal Code", "recipient.id". */
  name: string;
  line: number;
  /** 'output': printed (must not be empty); 'test': a condition of if/unless or eq; 'argument': a helper's argument. */
  role: 'output' | 'test' | 'argument';
};

export type Analysis = {
  /** The body with [[[Name]]] turned into {{[Name]}}; same lines as the body. */
  source: string;
  ast: hbs.AST.Program;
  uses: FieldUse[];
};

const LEGACY_NAME = /^[A-Za-z][A-Za-z0-9 _-]{0,63}$/;

/** [[[Postal Code]]] -> {{[Postal Code]}}, line by line; unbalanced brackets are errors. */
export function legacyToHandlebars(body: string, file: string, bodyLine = 1): string {
  return body
    .split('\n')
    .map((line, k) => {
      const at = `${file}: line ${bodyLine + k}`;
      let out = '';
      let i = 0;
      while (i < line.length) {
        const open = line.indexOf('[[[', i);
        const stray = line.indexOf(']]]', i);
        if (stray >= 0 && (open < 0 || stray < open) && line[stray - 1] !== '\\') {
          throw new InputError(`${at}: unbalanced "]]]" without "[[["`);
        }
        if (open < 0) break;
        if (line[open - 1] === '\\') {
          out += line.slice(i, open + 3);
          i = open + 3;
          continue;
        }
        const close = line.indexOf(']]]', open + 3);
        if (close < 0) throw new InputError(`${at}: unbalanced "[[[" without "]]]" on the same line`);
        const name = line.slice(open + 3, close);
        if (!LEGACY_NAME.test(name)) {
          throw new InputError(`${at}: placeholder [[[${name}]]] is not a valid name (letters, digits, spaces, "_" and "-", starting with a letter)`);
        }
        out += `${line.slice(i, open)}{{[${name}]}}`;
        i = close + 3;
      }
      return out + line.slice(i);
    })
    .join('\n');
}

const fileLine = (t: { file: string }, bodyLine: number, line: number | undefined) => `${t.file}: line ${bodyLine + (line ?? 1) - 1}`;

/** Turns a Handlebars error (line in the body) into a one-line InputError naming the file line. */
export function handlebarsError(err: unknown, file: string, bodyLine: number): InputError {
  if (err instanceof InputError) return err;
  const e = err as { message?: string; lineNumber?: number };
  const message = String(e.message ?? err);
  const lineMatch = /on line (\d+)/.exec(message);
  const line = e.lineNumber ?? (lineMatch ? Number(lineMatch[1]) : undefined);
  let what = message.split('\n')[0]!.replace(/ - \d+:\d+$/, '');
  if (/^Parse error|^Lexical error/.test(what)) {
    const expecting = message.split('\n').find((l) => l.startsWith('Expecting'));
    what = `malformed or unbalanced "{{ }}"${expecting ? ` (${expecting.replace(/^Expecting /, 'expecting ').slice(0, 120)})` : ''}`;
  }
  const m = /^"(.+)" not defined in/.exec(what);
  if (m) what = `unknown field "${m[1]}"`;
  return new InputError(`${file}: ${line === undefined ? '' : `line ${bodyLine + line - 1}: `}${what}`);
}

/** Parses and checks the placeholders of a template body. Throws an InputError naming the line. */
export function analyzeBody(template: Pick<Template, 'body' | 'file' | 'bodyLine'>): Analysis {
  const bodyLine = template.bodyLine ?? 1;
  const source = legacyToHandlebars(template.body, template.file, bodyLine);
  let ast: hbs.AST.Program;
  try {
    ast = Handlebars.parse(source);
  } catch (err) {
    throw handlebarsError(err, template.file, bodyLine);
  }
  const uses: FieldUse[] = [];
  const at = (node: hbs.AST.Node) => fileLine(template, bodyLine, node.loc?.start.line);
  const fail = (node: hbs.AST.Node, msg: string): never => {
    throw new InputError(`${at(node)}: ${msg}`);
  };

  const path = (node: hbs.AST.PathExpression, role: FieldUse['role']) => {
    if (node.data) fail(node, `data variables such as "${node.original}" are not supported`);
    if (node.depth > 0 || node.original.includes('../')) fail(node, `parent paths such as "${node.original}" are not supported`);
    for (const part of node.parts) {
      if (FORBIDDEN_SEGMENTS.has(part)) fail(node, `"${part}" may not be used in a placeholder ("${node.original}")`);
    }
    if (node.parts.length === 0) fail(node, `"{{${node.original}}}" names no field`);
    uses.push({ path: [...node.parts], name: node.parts.join('.'), line: bodyLine + (node.loc?.start.line ?? 1) - 1, role });
  };
  const expr = (node: hbs.AST.Expression, role: FieldUse['role']) => {
    if (node.type === 'PathExpression') path(node as hbs.AST.PathExpression, role);
    else if (node.type === 'SubExpression') call(node as hbs.AST.SubExpression, 'test');
  };
  const helperName = (node: hbs.AST.Expression): string | undefined =>
    node.type === 'PathExpression' ? (node as hbs.AST.PathExpression).original : undefined;
  const call = (node: hbs.AST.MustacheStatement | hbs.AST.SubExpression, role: FieldUse['role']) => {
    const name = helperName(node.path);
    const isHelper = name !== undefined && (INLINE_HELPERS as readonly string[]).includes(name);
    const hasArgs = node.params.length > 0 || (node.hash?.pairs.length ?? 0) > 0;
    if (!isHelper && (hasArgs || node.type === 'SubExpression')) {
      fail(node, `unknown helper "${name ?? '?'}" (known: ${[...INLINE_HELPERS, ...BLOCK_HELPERS].join(', ')})`);
    }
    if (!isHelper) {
      expr(node.path, role);
      return;
    }
    const argRole = name === 'eq' ? 'test' : 'argument';
    for (const p of node.params) expr(p, argRole);
    for (const pair of node.hash?.pairs ?? []) expr(pair.value, argRole);
  };
  const walk = (program: hbs.AST.Program | undefined) => {
    for (const node of program?.body ?? []) {
      switch (node.type) {
        case 'ContentStatement': {
          // The typings call `original` StripFlags; at run time it is the text as written.
          const original = String((node as unknown as { original: unknown }).original);
          const stray = /(?<!\\)\}\}/.exec(original);
          if (stray) {
            const line = bodyLine + (node.loc?.start.line ?? 1) - 1 + original.slice(0, stray.index).split('\n').length - 1;
            throw new InputError(`${template.file}: line ${line}: unbalanced "}}" without "{{" (write \\}} for literal braces)`);
          }
          break;
        }
        case 'CommentStatement':
          break;
        case 'MustacheStatement':
          call(node as hbs.AST.MustacheStatement, 'output');
          break;
        case 'BlockStatement': {
          const block = node as hbs.AST.BlockStatement;
          const name = helperName(block.path);
          if (!name || !(BLOCK_HELPERS as readonly string[]).includes(name)) {
            fail(node, `block "{{#${name ?? '?'}}}" is not supported (only {{#if FIELD}} and {{#unless FIELD}})`);
          }
          if (block.program?.blockParams?.length) fail(node, 'block parameters are not supported');
          if (block.params.length !== 1) fail(node, `{{#${name}}} takes exactly one condition`);
          for (const p of block.params) expr(p, 'test');
          walk(block.program);
          walk(block.inverse);
          break;
        }
        case 'PartialStatement':
        case 'PartialBlockStatement':
          fail(node, 'partials ("{{> ...}}") are not supported in templates');
          break;
        case 'Decorator':
        case 'DecoratorBlock':
          fail(node, 'decorators ("{{* ...}}") are not supported in templates');
          break;
        default:
          fail(node, `unsupported Handlebars construct (${node.type})`);
      }
    }
  };
  walk(ast);
  return { source, ast, uses };
}

/** Distinct field names a template reads, in order of first use. */
export function placeholderNames(analysis: Analysis): string[] {
  return [...new Set(analysis.uses.map((u) => u.name))];
}

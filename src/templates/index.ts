/** Templates: files templates/<id>.<lang>.md (front matter + Markdown subset + placeholders). */
export { templateMetaSchema, unHeaderSchema, type Template, type TemplateMeta, type UnHeaderMeta } from './meta.ts';
export { loadTemplate, loadTemplateVersions, listTemplates, scanTemplates, parseTemplateText, readTemplateFile, displayPath, type BrokenTemplate } from './load.ts';
export { analyzeBody, legacyToHandlebars, placeholderNames, type Analysis, type FieldUse } from './placeholders.ts';
export { parseBody, parseInline, runsText, type ParsedBody, type ParseOptions } from './markdown.ts';
export { escapeMarkdown, unescapeMarkdown } from './escape.ts';
export { checkTemplate, type TemplateCheck } from './check.ts';
export { importArchivedNote, type ImportOptions } from './import.ts';

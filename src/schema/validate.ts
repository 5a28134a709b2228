/** JSON Schema validation with ajv. Errors name the file and the JSON path of every problem. */
import type Ajv2020 from 'ajv/dist/2020';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020';
import { createHash } from 'crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'fs';
import Module from 'module';
import { dirname, join } from 'path';

export const SCHEMA_DIR = join(__dirname, '..', '..', 'schemas');

let ajvInstance: Ajv2020 | undefined;
/** ajv itself, loaded only when a schema must be compiled (a process served by the cache never loads it). */
function ajv(): Ajv2020 {
  if (!ajvInstance) {
    const A = (require('ajv/dist/2020') as typeof import('ajv/dist/2020')).default;
    const { _ } = require('ajv/dist/compile/codegen') as typeof import('ajv/dist/compile/codegen');
    const addFormats = (require('ajv-formats') as typeof import('ajv-formats')).default;
    // Formats referenced by name from standalone code (the date-time check of ajv-formats).
    const formats = _`require("ajv-formats/dist/formats").fullFormats`;
    ajvInstance = new A({ allErrors: true, strict: true, allowUnionTypes: true, code: { source: true, formats } });
    addFormats(ajvInstance);
  }
  return ajvInstance;
}
const compiled = new Map<string, ValidateFunction>();

/**
 * Compiled validators are cached as ajv standalone code in node_modules/.cache/ajv (keyed by every
 * schema file, ajv's version and this file), so a process that only validates never compiles a schema.
 */
const CACHE = join(__dirname, '..', '..', 'node_modules', '.cache', 'ajv');
let cacheKey: string | undefined;
function keyOf(name: string): string {
  if (cacheKey === undefined) {
    const h = createHash('sha256').update(readFileSync(__filename)).update(require('ajv/package.json').version as string);
    const walk = (dir: string): void => {
      for (const f of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
        if (f.isDirectory()) walk(join(dir, f.name));
        else if (f.name.endsWith('.json')) h.update(f.name).update(readFileSync(join(dir, f.name)));
      }
    };
    walk(SCHEMA_DIR);
    cacheKey = h.digest('hex').slice(0, 32);
  }
  return `${name.replace(/\//g, '__')}-${cacheKey}.js`;
}

let added = false;
/** Every schema known to ajv before one is compiled: $refs between them resolve whatever was cached. */
function addAllSchemas(): void {
  if (added) return;
  added = true;
  const walk = (dir: string): void => {
    for (const f of readdirSync(dir, { withFileTypes: true })) {
      if (f.isDirectory()) walk(join(dir, f.name));
      else if (f.name.endsWith('.schema.json')) {
        const schema = JSON.parse(readFileSync(join(dir, f.name), 'utf8')) as { $id?: string };
        if (schema.$id && !ajv().getSchema(schema.$id)) ajv().addSchema(schema);
      }
    }
  };
  walk(SCHEMA_DIR);
}

function fromCache(name: string): ValidateFunction | undefined {
  const file = join(CACHE, keyOf(name));
  let code: string;
  try {
    code = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const m = new Module(file, module);
  m.filename = file;
  m.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(__dirname);
  (m as unknown as { _compile(code: string, file: string): void })._compile(code, file);
  return m.exports as ValidateFunction;
}

function toCache(name: string, v: ValidateFunction): void {
  try {
    mkdirSync(CACHE, { recursive: true });
    const file = join(CACHE, keyOf(name));
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    writeFileSync(tmp, (require('ajv/dist/standalone') as typeof import('ajv/dist/standalone')).default(ajv(), v));
    renameSync(tmp, file);
  } catch {
    // A read-only tree compiles every time.
  }
}

export class SchemaError extends Error {
  constructor(
    readonly source: string,
    readonly problems: { path: string; message: string }[],
  ) {
    super(`${source} is invalid:\n` + problems.map((p) => `  at ${p.path}: ${p.message}`).join('\n'));
  }
}

/** The compiled validator for schemas/<name>.schema.json. */
export function validator(name: string): ValidateFunction {
  let v = compiled.get(name);
  if (!v) {
    v = fromCache(name);
    if (!v) {
      addAllSchemas();
      const schema = JSON.parse(readFileSync(join(SCHEMA_DIR, `${name}.schema.json`), 'utf8'));
      v = ajv().getSchema(schema.$id) ?? ajv().compile(schema);
      toCache(name, v);
    }
    compiled.set(name, v);
  }
  return v;
}

function toPath(e: ErrorObject): string {
  // ajv gives a JSON pointer; show it as a JSON path ($.regs.pc, $.symbols[3].kind).
  const parts = e.instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  let path = '$';
  for (const p of parts) path += /^\d+$/.test(p) ? `[${p}]` : /^[A-Za-z_$][\w$]*$/.test(p) ? `.${p}` : `[${JSON.stringify(p)}]`;
  if (e.keyword === 'required') path += `.${(e.params as { missingProperty: string }).missingProperty}`;
  if (e.keyword === 'additionalProperties') path += `.${(e.params as { additionalProperty: string }).additionalProperty}`;
  return path;
}

/** Validate `data` against schema `name`; throws SchemaError naming `source` and each JSON path. */
export function assertValid<T>(name: string, data: unknown, source: string): T {
  const v = validator(name);
  if (!v(data)) {
    throw new SchemaError(
      source,
      (v.errors ?? []).map((e) => ({ path: toPath(e), message: e.message ?? e.keyword })),
    );
  }
  return data as T;
}

/** Read a JSON (or YAML, by extension) file and validate it. */
/** YAML text parsed, with the result cached as JSON by the text's hash (the catalogue is read by every command). */
function parseYaml(text: string): unknown {
  const file = join(CACHE, '..', 'yaml', `${createHash('sha256').update(text).digest('hex').slice(0, 32)}.json`);
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    // not cached yet
  }
  const data: unknown = require('yaml').parse(text);
  try {
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    writeFileSync(tmp, JSON.stringify(data));
    renameSync(tmp, file);
  } catch {
    // A read-only tree parses every time.
  }
  return data;
}

export function loadValidated<T>(name: string, file: string): T {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    // A missing file or a folder is the user's to fix: name the file, no stack trace.
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder, not a file' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new SchemaError(file, [{ path: '$', message: `cannot be read: ${why}` }]);
  }
  let data: unknown;
  try {
    data = /\.ya?ml$/.test(file) ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw new SchemaError(file, [{ path: '$', message: `not parseable: ${(e as Error).message}` }]);
  }
  return assertValid<T>(name, data, file);
}

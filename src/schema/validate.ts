/** JSON Schema validation with ajv. Errors name the file and the JSON path of every problem. */
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { readFileSync } from 'fs';
import { join } from 'path';

export const SCHEMA_DIR = join(__dirname, '..', '..', 'schemas');

const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
addFormats(ajv);
const compiled = new Map<string, ValidateFunction>();

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
    const schema = JSON.parse(readFileSync(join(SCHEMA_DIR, `${name}.schema.json`), 'utf8'));
    v = ajv.getSchema(schema.$id) ?? ajv.compile(schema);
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
    data = /\.ya?ml$/.test(file) ? require('yaml').parse(text) : JSON.parse(text);
  } catch (e) {
    throw new SchemaError(file, [{ path: '$', message: `not parseable: ${(e as Error).message}` }]);
  }
  return assertValid<T>(name, data, file);
}

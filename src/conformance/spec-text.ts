/**
 * The spec text the features quote. Docstrings in features that claim to quote the spec are checked
 * against this copy (src/conformance/spec/reliable-stacktrace.rst), whitespace-insensitively.
 */
import { readFileSync } from 'fs';
import { join } from 'path';
import type { Workload } from '../scene/types';

export const SPEC_FILE = join(__dirname, 'spec', 'reliable-stacktrace.rst');

let specCache: string | undefined;
const norm = (s: string): string => s.replace(/\s+/g, ' ').trim();

export function specText(): string {
  return (specCache ??= readFileSync(SPEC_FILE, 'utf8'));
}

/** Whether `quote` occurs verbatim (up to whitespace) in the spec. */
export function isSpecQuote(quote: string): boolean {
  return norm(quote).length > 0 && norm(specText()).includes(norm(quote));
}

/** The spec's named code examples and the workload that runs each verbatim. */
export const SPEC_EXAMPLES: Record<string, { workload?: Workload; firstLine: string }> = {
  'function:': { workload: 'spec-function', firstLine: 'function:' },
  'caller:': { workload: 'spec-caller', firstLine: 'caller:' },
  return_to_handler: { firstLine: 'SYM_CODE_START(return_to_handler)' },
  'MOV X9, X30': { firstLine: 'MOV X9, X30' },
};

/** Check a docstring is the spec's example `name` verbatim; returns the example. */
export function specExample(name: string, docstring: string): { workload?: Workload } {
  const ex = SPEC_EXAMPLES[name];
  if (!ex) throw new Error(`the spec has no example named "${name}" (known: ${Object.keys(SPEC_EXAMPLES).join(', ')})`);
  if (docstring.trim().split('\n')[0]!.trim() !== ex.firstLine) throw new Error(`the docstring does not start with the spec's "${ex.firstLine}"`);
  if (!isSpecQuote(docstring)) throw new Error(`the docstring for "${name}" is not the spec's text verbatim`);
  return ex;
}

/** Reading result records and writing report files. Every JSON is schema-validated before it is written. */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'fs';
import { join } from 'path';
import { assertValid, validator } from '../schema/validate';
import { conformanceHtml, conformanceMarkdown } from './conformance-render';
import { ktap } from './ktap';
import { junit } from './junit';
import type { ScenarioResult } from './results';
import { summaryHtml, summaryMarkdown, traceabilityHtml, traceabilityMarkdown, type Traceability } from './traceability';
import type { Conformance } from './verdict';

/** Read the NDJSON file the After hook appends to (one ScenarioResult per line); absent file = none. */
export function readResults(file: string): ScenarioResult[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l, i) => {
      try {
        return JSON.parse(l) as ScenarioResult;
      } catch (e) {
        throw new Error(`${file}:${i + 1}: not a JSON result line: ${(e as Error).message}`);
      }
    });
}

/** Validate a conformance record (the profile schema is loaded first: conformance refers to it). */
export function validateConformance(c: unknown, source = 'conformance.json'): Conformance {
  validator('profile');
  return assertValid<Conformance>('conformance', c, source);
}

export function validateTraceability(t: unknown, source = 'traceability.json'): Traceability {
  return assertValid<Traceability>('traceability', t, source);
}

/** conformance.json / .md / .html into `dir` (the profile's report folder). */
export function writeProfileReports(dir: string, c: Conformance, opts: { html?: boolean } = {}): string[] {
  mkdirSync(dir, { recursive: true });
  validateConformance(c, join(dir, 'conformance.json'));
  const files = [join(dir, 'conformance.json'), join(dir, 'conformance.md'), join(dir, 'results.ktap')];
  writeFileSync(files[0]!, JSON.stringify(c, null, 2) + '\n');
  writeFileSync(files[1]!, conformanceMarkdown(c));
  writeFileSync(files[2]!, ktap(c));
  // junit.xml from the record (levels, verdict-consistent); Cucumber's own (written during the run) is kept beside it.
  const j = join(dir, 'junit.xml');
  if (existsSync(j) && !readFileSync(j, 'utf8').includes('reliable-stacktrace conformance:')) renameSync(j, join(dir, 'cucumber-junit.xml'));
  writeFileSync(j, junit(c));
  files.push(j);
  if (opts.html !== false) {
    files.push(join(dir, 'conformance.html'));
    writeFileSync(join(dir, 'conformance.html'), conformanceHtml(c));
  }
  return files;
}

/** traceability.json / .md / .html and summary.md / .html into `out`. */
export function writeCrossReports(out: string, t: Traceability, cs: readonly Conformance[], opts: { html?: boolean } = {}): string[] {
  mkdirSync(out, { recursive: true });
  validateTraceability(t, join(out, 'traceability.json'));
  const w = (name: string, text: string) => (writeFileSync(join(out, name), text), join(out, name));
  const files = [w('traceability.json', JSON.stringify(t, null, 2) + '\n'), w('traceability.md', traceabilityMarkdown(t)), w('summary.md', summaryMarkdown(t, cs))];
  if (opts.html !== false) files.push(w('traceability.html', traceabilityHtml(t, cs)), w('summary.html', summaryHtml(t, cs)));
  return files;
}

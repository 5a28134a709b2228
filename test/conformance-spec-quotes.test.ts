/** Docstrings that quote the spec in features are verbatim, and the shipped copy of the spec is the one we review. */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseFeature, type LintProblem } from '../src/catalogue/lint';
import { isSpecQuote, SPEC_FILE, specExample } from '../src/conformance/spec-text';

const ROOT = join(__dirname, '..');
const features = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? features(join(dir, e.name)) : e.name.endsWith('.feature') ? [join(dir, e.name)] : []));

test('every "the spec says:" docstring and every spec example in the features is verbatim', () => {
  const problems: LintProblem[] = [];
  let quotes = 0;
  let examples = 0;
  for (const file of features(join(ROOT, 'features'))) {
    const f = parseFeature(file, ROOT, problems)!;
    for (const p of f.pickles) {
      for (const s of p.steps) {
        const doc = s.argument?.docString?.content;
        if (!doc) continue;
        if (s.text === 'the spec says:') {
          quotes++;
          assert.ok(isSpecQuote(doc), `${f.file}: "${p.name}" quotes text that is not in the spec:\n${doc}`);
        }
        const ex = /^a task running the spec's "(.+)" example:$/.exec(s.text);
        if (ex) {
          examples++;
          specExample(ex[1]!, doc);
        }
        if (/DYNAMIC_FTRACE_WITH_REGS with the spec's sequence:$/.test(s.text)) specExample('MOV X9, X30', doc);
      }
    }
  }
  assert.deepEqual(problems, []);
  assert.ok(quotes >= 8 && examples >= 8, `${quotes} quotes, ${examples} examples`);
});

test('the shipped spec copy matches the reviewed document when it is at hand', { skip: !existsSync(join(ROOT, '..', 'shared', 'spec', 'reliable-stacktrace.rst')) }, () => {
  assert.equal(readFileSync(SPEC_FILE, 'utf8'), readFileSync(join(ROOT, '..', 'shared', 'spec', 'reliable-stacktrace.rst'), 'utf8'));
});

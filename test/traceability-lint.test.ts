import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatProblems, lintTraceability } from '../src/catalogue/lint';

const ROOT = join(__dirname, '..');

/** A temp copy of features/, steps/ and the catalogue, with the lint's options pointing at it. */
function copyTree(): { root: string; opts: Parameters<typeof lintTraceability>[0] } {
  const root = mkdtempSync(join(tmpdir(), 'trace-'));
  cpSync(join(ROOT, 'features'), join(root, 'features'), { recursive: true });
  cpSync(join(ROOT, 'steps'), join(root, 'steps'), { recursive: true });
  mkdirSync(join(root, 'src', 'catalogue'), { recursive: true });
  cpSync(join(ROOT, 'src', 'catalogue', 'requirements.yaml'), join(root, 'src', 'catalogue', 'requirements.yaml'));
  return { root, opts: { root } };
}

function edit(file: string, f: (s: string) => string): void {
  const before = readFileSync(file, 'utf8');
  const after = f(before);
  assert.notEqual(after, before, `edit of ${file} changed nothing`);
  writeFileSync(file, after);
}

const messages = (opts: Parameters<typeof lintTraceability>[0]) => formatProblems(lintTraceability(opts).problems);

test('the lint passes on the real tree, and the CLI exits 0', () => {
  const r = lintTraceability({ root: ROOT });
  assert.equal(formatProblems(r.problems), '');
  assert.ok(r.scenarios.length >= 80, `${r.scenarios.length} scenarios`);
  const out = execFileSync(process.execPath, ['-r', join(ROOT, 'scripts', 'ts-register.js'), join(ROOT, 'src', 'catalogue', 'lint-cli.ts'), ROOT], { encoding: 'utf8' });
  assert.match(out, /traceability lint: OK/);
});

test('a copy of the tree lints clean (the mutations below are what break it)', () => {
  assert.equal(messages(copyTree().opts), '');
});

test("removing a scenario's @req: tag breaks the lint, naming file and line", () => {
  const { root, opts } = copyTree();
  const f = join(root, 'features', 'successful-termination', 'termination.feature');
  // The rule's only scenarios lose their requirement: both the scenario and the requirement are reported.
  edit(f, (s) => s.replace('  @req:termination-in-entry-function @may\n', '  @may\n'));
  const m = messages(opts);
  assert.match(m, /features\/successful-termination\/termination\.feature:\d+: scenario "a reliable trace of a user task ends in the entry code" has no @req: tag/);
  assert.match(m, /src\/catalogue\/requirements\.yaml:\d+: requirement termination-in-entry-function \(runtime\) has no scenario/);
  const cli = (() => {
    try {
      execFileSync(process.execPath, ['-r', join(ROOT, 'scripts', 'ts-register.js'), join(ROOT, 'src', 'catalogue', 'lint-cli.ts'), root], { encoding: 'utf8', stdio: 'pipe' });
      return 0;
    } catch (e) {
      return (e as { status: number }).status;
    }
  })();
  assert.equal(cli, 1);
});

test('removing a catalogue entry breaks the lint: its scenarios name an unknown requirement', () => {
  const { root, opts } = copyTree();
  edit(join(root, 'src', 'catalogue', 'requirements.yaml'), (s) => s.replace(/- id: walk-terminates\n(  .*\n)+/, ''));
  assert.match(messages(opts), /robustness\.feature:\d+: scenario "a cyclic frame chain does not trap the walk" names unknown requirement @req:walk-terminates/);
});

test('a level tag that does not match the catalogue breaks the lint', () => {
  const { root, opts } = copyTree();
  edit(join(root, 'features', 'core-contract', 'robustness.feature'), (s) => s.replace('@req:walk-terminates @must', '@req:walk-terminates @should'));
  assert.match(messages(opts), /is tagged @should but walk-terminates is @must in the catalogue/);
});

test('several @req: tags, duplicate and missing @id: tags break the lint', () => {
  const { root, opts } = copyTree();
  const f = join(root, 'features', 'core-contract', 'robustness.feature');
  edit(f, (s) => s.replace('@id:cyclic-frame-chain-bounded', '@id:downward-frame-chain-bounded @req:walk-memory-safe'));
  edit(f, (s) => s.replace('    @id:unmapped-frame-pointer-not-dereferenced\n', ''));
  const m = messages(opts);
  assert.match(m, /has several @req: tags \(walk-terminates, walk-memory-safe\)/);
  assert.match(m, /duplicate @id:downward-frame-chain-bounded/);
  assert.match(m, /scenario "a frame pointer into unmapped memory is not followed" has no @id: tag/);
});

test('undefined and unused step definitions break the lint', () => {
  const { root, opts } = copyTree();
  edit(join(root, 'features', 'core-contract', 'robustness.feature'), (s) => s.replace(/And a misaligned saved frame pointer\n/g, 'And a frame pointer bent out of shape\n'));
  const m = messages(opts);
  assert.match(m, /robustness\.feature:\d+: undefined step: "a frame pointer bent out of shape"/);
  assert.match(m, /steps\/scene\.steps\.ts:\d+: unused step definition: "a misaligned saved frame pointer"/);
});

test('a fat step definition, or one that does not call into the world, breaks the lint', () => {
  const { root, opts } = copyTree();
  edit(join(root, 'steps', 'outcome.steps.ts'), (s) =>
    s.replace("Then('the trace is reliable', function (this: W) {\n", "Then('the trace is reliable', function (this: W) {\n  const a = 1;\n  const b = a + 1;\n  if (b > 5) return;\n"),
  );
  edit(join(root, 'steps', 'walk.steps.ts'), (s) => s.replace('  this.session.analyse();', '  console.log("analysed");'));
  const m = messages(opts);
  assert.match(m, /steps\/outcome\.steps\.ts:\d+: step "the trace is reliable" has 4 statements/);
  assert.match(m, /steps\/walk\.steps\.ts:\d+: step "the kernel image is analysed at build time" does not call into the world/);
});

test('a feature in the wrong topic folder, or without a topic, breaks the lint', () => {
  const { root, opts } = copyTree();
  edit(join(root, 'features', 'link-register', 'link-register.feature'), (s) => s.replace('@topic:link-register\n', ''));
  assert.match(messages(opts), /link-register\.feature:\d+: a feature needs exactly one @topic: tag/);
});

test('one Rule per requirement: a second Rule for it, a scenario outside a Rule or a @req: tag on an Example breaks the lint', () => {
  const { root, opts } = copyTree();
  const f = join(root, 'features', 'core-contract', 'robustness.feature');
  // A second Rule for walk-terminates, in the same file.
  edit(f, (s) => s.replace('  @req:walk-memory-safe @must\n  Rule: The walk does not access memory in an unsafe way', '  @req:walk-terminates @must\n  Rule: The walk does not access memory in an unsafe way'));
  // An example carrying its own requirement tag.
  edit(join(root, 'features', 'successful-termination', 'termination.feature'), (s) => s.replace('    @id:trace-ends-in-entry-function\n', '    @id:trace-ends-in-entry-function @req:termination-in-entry-function\n'));
  // A scenario outside any Rule.
  edit(join(root, 'features', 'link-register', 'link-register.feature'), (s) =>
    s.replace('  @req:lr-reject-unless-identifiable @must\n', '  @req:lr-reject-unless-identifiable @must @id:stray\n  Scenario: stray\n    Given a kernel thread blocked in schedule()\n\n  @req:lr-reject-unless-identifiable @must\n'),
  );
  const m = messages(opts);
  assert.match(m, /robustness\.feature:\d+: a second Rule for @req:walk-terminates \(the first is at features\/core-contract\/robustness\.feature:\d+\)/);
  assert.match(m, /termination\.feature:\d+: scenario "a reliable trace of a user task ends in the entry code" carries @req:termination-in-entry-function/);
  assert.match(m, /link-register\.feature:\d+: scenario "stray" is outside a Rule/);
});

/**
 * Issue 11, finding 5: no plugin text can break junit.xml or forge a testcase, inject a heading into
 * conformance.md, a result line into results.ktap, or an escape sequence into the terminal. The plugin
 * answers errored messages, rc-0 reasons and stderr made of `]]>`, `</failure><testcase name="forged">`,
 * newlines with a fake verdict heading, and ESC sequences.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './fixtures/cli/run';

/** Element names in document order, with a minimal well-formedness check (tags balance; CDATA and comments skipped). */
function xmlElements(xml: string): string[] {
  const names: string[] = [];
  const open: string[] = [];
  const re = /<!\[CDATA\[[\s\S]*?\]\]>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<(\/?)([A-Za-z_][\w.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|<|\]\]>/g;
  for (const m of xml.matchAll(re)) {
    if (m[0] === '<') throw new Error(`stray < at ${m.index}: ${xml.slice(m.index, m.index! + 60)}`);
    if (m[0] === ']]>') throw new Error(`stray ]]> at ${m.index}`);
    if (!m[2]) continue;
    if (m[1]) {
      const top = open.pop();
      if (top !== m[2]) throw new Error(`</${m[2]}> closes <${top}>`);
    } else {
      names.push(m[2]);
      if (!m[4]) open.push(m[2]);
    }
  }
  assert.deepEqual(open, [], 'every element closed');
  return names;
}

/** Markdown headings outside fenced code blocks. */
function headings(md: string): string[] {
  const out: string[] = [];
  let fence: string | undefined;
  for (const line of md.split('\n')) {
    const f = /^(`{3,}|~{3,})/.exec(line);
    if (f) {
      if (fence === undefined) fence = f[1];
      else if (line.trim() === fence || (line.startsWith(fence) && /^`*$/.test(line.trim()))) fence = undefined;
      continue;
    }
    if (fence === undefined && /^ {0,3}#{1,6}\s/.test(line)) out.push(line);
  }
  return out;
}

test('plugin text cannot break junit.xml, forge a testcase, inject a heading or reach the terminal raw', () => {
  const out = mkdtempSync(join(tmpdir(), 'conformance-inject-'));
  const r = spawnSync(
    process.execPath,
    ['-r', './scripts/ts-register.js', 'cli/conformance.ts', '--unwinder', `ABUSE=injection node ${join('test', 'fixtures', 'plugins', 'abusive.js')}`, '--requirement', 'trace-complete-or-nonzero', '--no-html', '--out', out],
    { cwd: ROOT, encoding: 'utf8', timeout: 300_000 },
  );
  assert.equal(r.status, 1, r.stderr + r.stdout);
  // The terminal: no escape sequence, no control character but newline and tab (the progress lines included).
  assert.doesNotMatch(r.stdout + r.stderr, /[\x00-\x08\x0b-\x1f\x7f]/, 'no escape sequence reaches the terminal');

  const c = JSON.parse(readFileSync(join(out, 'abusive', 'conformance.json'), 'utf8')) as { requirements: { id: string }[]; scenarios: { id: string; status: string }[] };
  const xml = readFileSync(join(out, 'abusive', 'junit.xml'), 'utf8');
  assert.ok(xml.includes('forged'), 'the injected text is there (as text)');
  const els = xmlElements(xml);
  // junit.xml (src/report/junit.ts): a suite of requirements and a suite of scenarios.
  assert.equal(els.filter((e) => e === 'testsuite').length, 2);
  assert.equal(els.filter((e) => e === 'testcase').length, c.requirements.length + c.scenarios.length, 'one testcase per requirement and per scenario, none forged');
  assert.doesNotMatch(xml, /\x1b/);

  const md = readFileSync(join(out, 'abusive', 'conformance.md'), 'utf8');
  assert.ok(md.includes('Verdict: conformant'), 'the injected text is there (inert)');
  assert.deepEqual(headings(md).filter((h) => /Verdict: conformant|forged/.test(h)), [], 'no injected heading');
  assert.doesNotMatch(md, /\x1b|\x07/);

  const ktap = readFileSync(join(out, 'abusive', 'results.ktap'), 'utf8');
  assert.doesNotMatch(ktap, /\x1b|\x07/);
  assert.doesNotMatch(ktap, /^\s*(not )?ok \d+ .*forged/m);
  assert.doesNotMatch(ktap, /^# Verdict: conformant/m);
});

/**
 * Bad input, one row per case (issue 11): every option, file and plugin a new user might get wrong is
 * refused before anything runs with exit status 2 and a message that says what to fix — never a stack
 * trace, never a silently wrong verdict. Rows run as users run the commands (child processes).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from './fixtures/cli/run';
import { syntheticScene } from './protocol-fixtures';

const tmp = mkdtempSync(join(tmpdir(), 'bad-input-'));
const good = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'cli', 'fixture-good.json'), 'utf8')) as Record<string, unknown>;
/** A profile file like fixture-good with some fields changed. */
function profile(file: string, edit: Record<string, unknown>): string {
  const p = join(tmp, file);
  writeFileSync(p, JSON.stringify({ ...good, ...edit }));
  return p;
}
const PLUGIN = `node ${join(ROOT, 'test', 'fixtures', 'plugins', 'abusive.js')}`;
const snapshot = join(tmp, 'snap.json');
writeFileSync(snapshot, JSON.stringify(syntheticScene(61).snapshot));

interface Row {
  what: string;
  /** `conformance` (with the fixture Cucumber configuration and a fresh --out unless given) or `replay`. */
  cmd: 'conformance' | 'replay';
  args: string[];
  message: RegExp;
  /** Set up the --out folder (given its path) before the run. */
  out?: (out: string) => void;
  /** Checked after the run (the --out folder). */
  after?: (out: string) => void;
}

const F = ['--requirement', 'trace-complete-or-nonzero', '--quiet', '--no-html'];
const GOOD = ['--profile-file', 'test/fixtures/cli/fixture-good.json', ...F];
const untouched = (name: string) => (out: string) => assert.deepEqual(readdirSync(join(out, name)), ['keep.txt'], `${name} untouched`);

const ROWS: Row[] = [
  // Options
  { what: 'an unknown option', cmd: 'conformance', args: ['--bogus'], message: /unknown option '--bogus'/ },
  { what: '--walk-timeout above 2^31-1 ms (a Node timer would fire after 1 ms)', cmd: 'conformance', args: ['--walk-timeout', '2147483648', ...GOOD], message: /--walk-timeout <ms>' argument '2147483648' is invalid\. expected a whole number of milliseconds from 1 to 2147483647/ },
  { what: '--walk-timeout 0', cmd: 'conformance', args: ['--walk-timeout', '0', ...GOOD], message: /from 1 to 2147483647/ },
  { what: '--walk-timeout 1.5', cmd: 'conformance', args: ['--walk-timeout', '1.5', ...GOOD], message: /from 1 to 2147483647/ },
  { what: '--walk-timeout 1e3', cmd: 'conformance', args: ['--walk-timeout', '1e3', ...GOOD], message: /from 1 to 2147483647/ },
  { what: 'an empty --unwinder', cmd: 'conformance', args: ['--unwinder', '', ...F], message: /--unwinder needs a command line; it was empty/ },
  { what: 'an unknown requirement', cmd: 'conformance', args: ['--requirement', 'no-such-req'], message: /unknown requirement no-such-req; known requirements:/ },
  { what: 'an unknown topic', cmd: 'conformance', args: ['--topic', 'no-such-topic'], message: /unknown topic no-such-topic; known topics:/ },
  { what: 'a tag expression that does not parse', cmd: 'conformance', args: ['--tags', '@a and'], message: /--tags: cannot parse "\(@a and\)"/ },
  { what: 'a tag expression that selects nothing', cmd: 'conformance', args: ['--tags', '@no-such-tag'], message: /the filter \(@no-such-tag\) selects no scenario/ },
  { what: 'an expectations file that does not exist', cmd: 'conformance', args: ['--expectations', join(tmp, 'none.json'), ...GOOD], message: /none\.json is invalid:\n  at \$: .*no such file/ },
  // Profile files
  { what: 'a profile file that does not exist', cmd: 'conformance', args: ['--profile-file', join(tmp, 'missing.json'), ...F], message: /missing\.json is invalid:\n  at \$: cannot be read: no such file/ },
  { what: 'a profile file that is a folder', cmd: 'conformance', args: ['--profile-file', tmp, ...F], message: /is invalid:\n  at \$: cannot be read: is a folder, not a file/ },
  { what: 'a profile file with a bad claim', cmd: 'conformance', args: ['--profile-file', 'test/fixtures/cli/fixture-bad-profile.json', ...F], message: /fixture-bad-profile\.json is invalid:[\s\S]*at \$\.claims\.unwindsAcrossIrq:/ },
  { what: 'a profile with an unknown unwinder kind', cmd: 'conformance', args: ['--profile-file', profile('kind.json', { name: 'bad-kind', unwinder: 'no-such-kind' }), ...F], message: /profile bad-kind: .*no-such-kind/ },
  { what: 'a profile whose module: does not exist', cmd: 'conformance', args: ['--profile-file', profile('module.json', { name: 'bad-module', unwinder: 'module:no/such/module.ts' }), ...F], message: /profile bad-module: .*no\/such\/module/ },
  { what: 'the same profile twice', cmd: 'conformance', args: ['--profile-file', 'test/fixtures/cli/fixture-good.json', 'test/fixtures/cli/fixture-good.json', ...F], message: /profile fixture-good given twice/ },
  // Names that cannot be paths
  { what: 'a profile name longer than 64 characters', cmd: 'conformance', args: ['--profile-file', profile('long.json', { name: 'a'.repeat(300) }), ...F], message: /long\.json is invalid:\n  at \$\.name: must NOT have more than 64 characters/ },
  { what: 'a profile name with a slash', cmd: 'conformance', args: ['--profile-file', profile('slash.json', { name: 'a/../../b' }), ...F], message: /slash\.json is invalid:\n  at \$\.name: must match pattern/ },
  { what: 'a profile named allure-report (Allure cleans it)', cmd: 'conformance', args: ['--profile-file', profile('allure.json', { name: 'allure-report' }), ...F], message: /profile name allure-report is reserved/ },
  { what: 'a profile named allure-results', cmd: 'conformance', args: ['--profile-file', profile('allure-results.json', { name: 'allure-results' }), ...F], message: /profile name allure-results is reserved/ },
  { what: 'a profile named summary.md (was EISDIR after all the work)', cmd: 'conformance', args: ['--profile-file', profile('summary.json', { name: 'summary.md' }), ...F], message: /profile name summary\.md is reserved/ },
  { what: 'a profile named traceability.json', cmd: 'conformance', args: ['--profile-file', profile('trace.json', { name: 'traceability.json' }), ...F], message: /profile name traceability\.json is reserved/ },
  {
    what: 'a profile named like a folder the suite did not create (docs with --out .)',
    cmd: 'conformance',
    args: ['--profile-file', profile('docs.json', { name: 'docs' }), ...F],
    out: (out) => (mkdirSync(join(out, 'docs')), writeFileSync(join(out, 'docs', 'keep.txt'), 'mine')),
    message: /docs exists and was not written by this suite \(no \.conformance-report in it\): not replacing it/,
    after: untouched('docs'),
  },
  { what: 'a plugin announcing a reserved name', cmd: 'conformance', args: ['--unwinder', `NAME=allure-results ${PLUGIN}`, ...F], message: /profile name allure-results is reserved/ },
  { what: 'a plugin announcing a 300-character name', cmd: 'conformance', args: ['--unwinder', `NAME=${'n'.repeat(300)} ${PLUGIN}`, ...F], message: /start answer is invalid:\n  at \$\.implementation\.name: must NOT have more than 64 characters/ },
  { what: 'a plugin that does not start', cmd: 'conformance', args: ['--unwinder', 'exit 3', ...F], message: /unwinder "exit 3": exited with code 3 before answering start/ },
  // The report folder
  { what: 'a folder where summary.md goes (was EISDIR after all the work)', cmd: 'conformance', args: GOOD, out: (out) => mkdirSync(join(out, 'summary.md')), message: /summary\.md exists and is not a file: the suite writes its summary\.md there/ },
  { what: '--out is a file', cmd: 'conformance', args: [...GOOD], out: (out) => writeFileSync(join(out, 'file'), ''), message: /--out .*file is not a folder/ },
  {
    what: 'a second run into the same --out (its lock held by a live process)',
    cmd: 'conformance',
    args: GOOD,
    out: (out) => writeFileSync(join(out, '.conformance.lock'), `${process.pid}\n`),
    message: new RegExp(`another run \\(pid ${process.pid}\\) is writing reports into .*; wait for it to finish or choose another --out`),
    after: (out) => assert.ok(!existsSync(join(out, 'fixture-good')), 'nothing written'),
  },
  // replay
  { what: 'replay --timeout -5', cmd: 'replay', args: ['--unwinder', PLUGIN, '--timeout', '-5', snapshot], message: /--timeout <ms>' argument '-5' is invalid\. expected a whole number of milliseconds from 1 to 2147483647/ },
  { what: 'replay --timeout above 2^31-1', cmd: 'replay', args: ['--unwinder', PLUGIN, '--timeout', '9999999999', snapshot], message: /from 1 to 2147483647/ },
  { what: 'replay without --unwinder', cmd: 'replay', args: [snapshot], message: /required option '--unwinder <command>' not specified/ },
  { what: 'replay of a missing snapshot', cmd: 'replay', args: ['--unwinder', PLUGIN, join(tmp, 'none.json')], message: /none\.json is invalid:\n  at \$: cannot be read: no such file/ },
  { what: 'replay of a folder', cmd: 'replay', args: ['--unwinder', PLUGIN, tmp], message: /at \$: cannot be read: is a folder, not a file/ },
  { what: 'replay of a file that is not JSON', cmd: 'replay', args: ['--unwinder', PLUGIN, join(ROOT, 'README.md')], message: /README\.md is invalid:\n  at \$: not parseable/ },
];

function run(row: Row): Promise<{ status: number | null; stdout: string; stderr: string; out: string }> {
  const base = mkdtempSync(join(tmp, 'out-'));
  row.out?.(base);
  // '--out is a file' points --out at the file it made.
  const out = existsSync(join(base, 'file')) ? join(base, 'file') : base;
  const argv =
    row.cmd === 'conformance'
      ? ['-r', './scripts/ts-register.js', 'cli/conformance.ts', '--cucumber-config', 'test/fixtures/cli/cucumber.json', '--out', out, ...row.args]
      : ['-r', './scripts/ts-register.js', 'src/protocol/replay.ts', ...row.args];
  return new Promise((resolve) => {
    const c = spawn(process.execPath, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => c.kill('SIGKILL'), 120_000);
    c.on('close', (status) => (clearTimeout(t), resolve({ status, stdout, stderr, out: base })));
  });
}

describe('bad input: exit 2 and a message that says what to fix', { concurrency: 2 }, () => {
  for (const row of ROWS) {
    it(`${row.cmd}: ${row.what}`, async () => {
      const r = await run(row);
      assert.equal(r.status, 2, `exit status\n${r.stderr}${r.stdout}`);
      assert.match(r.stderr, row.message);
      assert.doesNotMatch(r.stderr, /\n\s+at .*\.(ts|js):\d+:\d+/, 'no stack trace');
      row.after?.(r.out);
      if (row.cmd === 'conformance') assert.ok(!existsSync(join(r.out, '.conformance.lock')) || row.out !== undefined, 'no lock left');
    });
  }
});

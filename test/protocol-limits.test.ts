/**
 * Issue 11, findings 3, 6 and 8: the external walker's limits. An answer over a limit makes that walk
 * `errored` with the reason and the run goes on; a line with no newline is not buffered without limit;
 * the plugin's whole process group dies on stop, restart and exit; a plugin that always dies is restarted
 * a bounded number of times with back-off, then the remaining walks are errored; a restarted plugin that
 * announces other claims is noticed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, describe, it } from 'node:test';
import { join } from 'path';
import { LIMITS, startExternalWalker, type ExternalWalker, type ExternalWalkerOptions } from '../src/protocol/external-walker';
import { loadSnapshot } from '../src/snapshot/io';
import { syntheticScene } from './protocol-fixtures';

const ROOT = join(__dirname, '..');
const PLUGIN = join(ROOT, 'test', 'fixtures', 'plugins', 'abusive.js');
const dir = mkdtempSync(join(tmpdir(), 'limits-'));
const snap = syntheticScene(51).snapshot;
const loaded = loadSnapshot(snap);
const walkers: ExternalWalker[] = [];
after(async () => {
  for (const w of walkers) await w.close();
});

async function walker(env: string, opts: ExternalWalkerOptions = {}): Promise<ExternalWalker> {
  const w = await startExternalWalker(`${env} node ${PLUGIN}`, { timeoutMs: 5000, ...opts });
  walkers.push(w);
  return w;
}

function dead(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  // A zombie (no one reaped it yet) is dead too.
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

describe('limits of one answer: that walk is errored with the reason, the next walk is fine', () => {
  const cases: [string, RegExp][] = [
    ['long-trace', /limit exceeded: the answer to walk seq 1 has a trace of 1025 entries, at most 1024/],
    ['many-accesses', /limit exceeded: the answer to walk seq 1 has accesses of 4097 entries, at most 4096/],
    ['long-reason', /has a reason of 1025 characters, at most 1024/],
    ['long-message', /has a message of 1025 characters, at most 1024/],
    ['long-skip-reason', /has a reason of 1025 characters, at most 1024/],
    ['long-line', /limit exceeded: the implementation wrote a line longer than 1048576 bytes \(the limit of one answer line\) during walk seq 1/],
    ['blank-flood', /limit exceeded: the implementation wrote more than 2097152 bytes on stdout for one walk/],
  ];
  for (const [mode, why] of cases) {
    it(mode, async () => {
      const w = await walker(`ABUSE=${mode}`);
      const r1 = await w.walk(snap, loaded);
      assert.equal(r1.result, undefined);
      assert.match(r1.error ?? '', why);
      const r2 = await w.walk(snap, loaded);
      assert.equal(r2.error, undefined, r2.error);
      assert.equal(r2.result?.reason, 'well-behaved walk');
    });
  }
  it('a maximal answer (1024 entries, 4096 accesses) is accepted', async () => {
    const w = await walker('ABUSE=max-trace');
    const r = await w.walk(snap, loaded);
    assert.equal(r.error, undefined, r.error);
    assert.equal(r.result?.trace.length, LIMITS.traceEntries);
    assert.equal(r.accesses?.length, LIMITS.accesses);
  });
});

describe('the plugin\'s whole process group is killed, whatever the leader did', () => {
  it('children left by a leader that exited die on restart, and on stop', async () => {
    const pidfile = join(dir, 'pids');
    writeFileSync(pidfile, '');
    const w = await walker(`PIDFILE=${pidfile} ABUSE=fork-and-exit`, { restartBackoffMs: 10 });
    const r1 = await w.walk(snap, loaded); // leaves a child, then the leader exits
    assert.match(r1.error ?? '', /exited with code 3 during walk seq 1/);
    const first = readFileSync(pidfile, 'utf8').trim().split('\n').map(Number);
    assert.equal(first.length, 1);
    const r2 = await w.walk(snap, loaded); // restarted; leaves another child
    assert.equal(r2.error, undefined, r2.error);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(dead(first[0]!), `the child ${first[0]} of the exited leader was killed with its group on restart`);
    await w.close();
    await new Promise((r) => setTimeout(r, 200));
    const all = readFileSync(pidfile, 'utf8').trim().split('\n').map(Number);
    assert.equal(all.length, 2);
    for (const pid of all) assert.ok(dead(pid), `child ${pid} killed on stop`);
  });
});

describe('the group dies when the runner exits', () => {
  it('children left by a leader that exited die when the runner process exits', async () => {
    const pidfile = join(dir, 'pids-exit');
    writeFileSync(pidfile, '');
    const script = `
      const { startExternalWalker } = require('./src/protocol/external-walker');
      const { loadSnapshot } = require('./src/snapshot/io');
      const { syntheticScene } = require('./test/protocol-fixtures');
      const snap = syntheticScene(51).snapshot;
      (async () => {
        const w = await startExternalWalker(${JSON.stringify(`PIDFILE=${pidfile} ABUSE=fork-and-exit node ${PLUGIN}`)}, { restartBackoffMs: 1 });
        await w.walk(snap, loadSnapshot(snap));
        await w.walk(snap, loadSnapshot(snap));
        process.exit(0); // no close(): the exit hook must kill the groups
      })();`;
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(process.execPath, ['-r', './scripts/ts-register.js', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    await new Promise((res) => setTimeout(res, 300));
    const pids = readFileSync(pidfile, 'utf8').trim().split('\n').map(Number);
    assert.equal(pids.length, 2);
    for (const pid of pids) assert.ok(dead(pid), `child ${pid} killed when the runner exited`);
  });
});

describe('restarts are bounded, with back-off', () => {
  it('a plugin that always dies: a few restarts, then the remaining walks are errored at once with the reason', async () => {
    const t0 = Date.now();
    const w = await walker('ABUSE=always-dies');
    const recs = [];
    for (let i = 0; i < 40; i++) recs.push(await w.walk(snap, loaded));
    const s = (Date.now() - t0) / 1000;
    assert.ok(s < 20, `40 walks took ${s} s`);
    assert.equal(w.restarts, LIMITS.consecutiveRestarts);
    for (const r of recs.slice(0, LIMITS.consecutiveRestarts + 1)) assert.match(r.error ?? '', /exited with code 7 during walk/);
    for (const r of recs.slice(LIMITS.consecutiveRestarts + 1)) {
      assert.match(r.error ?? '', /restart limit: the implementation was restarted 5 times in a row without a good answer \(at most 5\); the remaining walks are not sent/);
    }
  });

  it('the restarts of one run are bounded too (a plugin that dies every other walk)', async () => {
    const c = await startExternalWalker(`node ${join(ROOT, 'examples', 'misbehaving', 'crash.js')}`, { maxRestarts: 3, restartBackoffMs: 1 });
    walkers.push(c);
    const recs = [];
    for (let i = 0; i < 12; i++) recs.push(await c.walk(snap, loaded));
    assert.equal(c.restarts, 3);
    assert.match(recs.at(-1)!.error ?? '', /restart limit: the implementation was restarted 3 times in this run \(at most 3\)/);
    assert.equal(recs.filter((r) => r.result).length, 4, 'the good walks before the limit were judged');
  });

  it('a restarted plugin that announces other claims is noticed: that and every later walk errored with the reason', async () => {
    const state = join(dir, 'claims-state');
    const w = await walker(`STATEFILE=${state} ABUSE=changes-claims`, { restartBackoffMs: 1 });
    const r1 = await w.walk(snap, loaded);
    assert.match(r1.error ?? '', /exited with code 5/);
    for (let i = 0; i < 3; i++) {
      const r = await w.walk(snap, loaded);
      assert.match(r.error ?? '', /after a restart the implementation announced another profile \(claim unwindsAcrossIrq true, was false\)/);
    }
    assert.equal(w.restarts, 1, 'no restart after that');
  });
});

describe('the limits are the schema\'s', () => {
  it('walk-response.schema.json says what LIMITS enforces', () => {
    const s = JSON.parse(readFileSync(join(ROOT, 'schemas', 'protocol', 'walk-response.schema.json'), 'utf8'));
    assert.equal(s.$defs.result.properties.trace.maxItems, LIMITS.traceEntries);
    assert.equal(s.$defs.result.properties.accesses.maxItems, LIMITS.accesses);
    assert.equal(s.$defs.result.properties.reason.maxLength, LIMITS.reasonChars);
    assert.equal(s.$defs.skipped.properties.reason.maxLength, LIMITS.reasonChars);
    assert.equal(s.$defs.errored.properties.message.maxLength, LIMITS.reasonChars);
    const doc = readFileSync(join(ROOT, 'docs', 'maintainers.md'), 'utf8');
    for (const row of [`| entries in \`trace\` | ${LIMITS.traceEntries} |`, `| entries in \`accesses\` | ${LIMITS.accesses} |`, `| restarts in a row without one good answer | ${LIMITS.consecutiveRestarts} |`, `| restarts in one run | ${LIMITS.restartsPerRun} |`]) {
      assert.ok(doc.includes(row), `docs/maintainers.md: ${row}`);
    }
  });
});

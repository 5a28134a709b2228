/** Misbehaving plugins make their own walks errored/runaway with a clear reason; the run goes on. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, describe, it } from 'node:test';
import { join } from 'path';
import { judge } from '../src/oracle/oracle';
import { loadSnapshot } from '../src/snapshot/io';
import { tinySnapshot } from './fixtures/tiny-snapshot';
import type { Snapshot } from '../src/snapshot/types';
import { ProtocolError, startExternalWalker, type ExternalWalker } from '../src/protocol/external-walker';

const ROOT = join(__dirname, '..');
const plugin = (f: string) => `node ${join(ROOT, 'examples', 'misbehaving', f)}`;


const snap = tinySnapshot();
const loaded = loadSnapshot(snap);
const truth = { frames: [{ fn: 'schedule', addr: 0x800080001010, why: 'pc' as const }] };
const walkers: ExternalWalker[] = [];
after(async () => {
  for (const w of walkers) await w.close();
});

async function fourWalks(file: string, timeoutMs = 3000, validate = false) {
  const w = await startExternalWalker(plugin(file), { timeoutMs, validate });
  walkers.push(w);
  const recs = [];
  for (let i = 0; i < 4; i++) recs.push(await w.walk(snap, loaded));
  return { w, recs };
}

/** Odd walks are well-formed; even walks misbehave. The well-formed ones prove the walker recovered. */
function assertRecovered(recs: Awaited<ReturnType<typeof fourWalks>>['recs']) {
  for (const i of [0, 2]) {
    assert.equal(recs[i]!.error, undefined, `walk ${i + 1} should be fine: ${recs[i]!.error}`);
    assert.equal(judge(loaded, truth, recs[i]!).outcome, 'correctly-unreliable');
  }
}

describe('misbehaving plugins', () => {
  it('a hanging plugin: runaway "no answer within N ms", killed, restarted, later walks work', async () => {
    const { w, recs } = await fourWalks('hang.js', 1500);
    assertRecovered(recs);
    for (const i of [1, 3]) {
      assert.match(recs[i]!.runaway ?? '', /^no answer within 1500 ms/);
      assert.equal(judge(loaded, truth, recs[i]!).outcome, 'runaway');
    }
    assert.equal(w.starts, 2); // restarted lazily before walk 3
  });

  it('a crashing plugin: errored with the exit status and its stderr, then restarted', async () => {
    const { w, recs } = await fourWalks('crash.js');
    assertRecovered(recs);
    for (const i of [1, 3]) {
      const j = judge(loaded, truth, recs[i]!);
      assert.equal(j.outcome, 'errored');
      assert.match(j.explanation, /exited with code 139 during walk seq \d/);
      assert.match(j.explanation, /crash\.js: segfault-like death/);
    }
    assert.equal(w.starts, 2); // restarted lazily before walk 3
  });

  it('a plugin printing invalid JSON: errored "not JSON" quoting the line', async () => {
    const { recs } = await fourWalks('garbage.js');
    assertRecovered(recs);
    assert.match(recs[1]!.error ?? '', /answer to walk seq 2 is not JSON: walked seq 2: looks fine/);
    assert.equal(judge(loaded, truth, recs[1]!).outcome, 'errored');
  });

  it('a plugin answering the wrong seq: errored naming both seqs', async () => {
    const { recs } = await fourWalks('wrong-seq.js');
    assertRecovered(recs);
    assert.match(recs[1]!.error ?? '', /answer has seq 1002, expected 2/);
    assert.match(recs[3]!.error ?? '', /answer has seq 1004, expected 4/);
  });

  it('--validate-protocol names the JSON path of a schema violation', async () => {
    const { recs } = await fourWalks('bad-schema.js', 3000, true);
    assertRecovered(recs);
    assert.match(recs[1]!.error ?? '', /protocol violation: answer to walk seq 2 is invalid/);
    assert.match(recs[1]!.error ?? '', /\$\.trace\[0\]|\$\.confidence/);
  });

  it('without validation a malformed trace is still errored, never judged', async () => {
    const { recs } = await fourWalks('bad-schema.js');
    assert.match(recs[1]!.error ?? '', /trace must be an array of hex strings/);
  });

  it('without validation, malformed accesses (null, no size, size 0) are errored, never a runner crash', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'bad-accesses-')), 'plugin.js');
    const bad = [[null], [{ addr: '0x10' }], [{ addr: '0x10', size: 0 }]];
    writeFileSync(
      file,
      `const bad = ${JSON.stringify(bad)};\nrequire(${JSON.stringify(join(ROOT, 'examples', 'misbehaving', 'common.js'))}).run((req, send) => send({ seq: req.seq, rc: -22, trace: [], accesses: bad[req.seq / 2 - 1] }), {}, );\n`,
    );
    const w = await startExternalWalker(`MISBEHAVE_ALL=0 node ${file}`);
    walkers.push(w);
    for (let i = 0; i < 6; i++) {
      const rec = await w.walk(snap, loaded);
      if (i % 2 === 0) assert.equal(rec.error, undefined);
      else assert.match(rec.error ?? '', /accesses must be \[\{"addr":"0x…","size":n\}\]/);
    }
    assert.equal(w.starts, 1);
  });

  it('a protocol version mismatch is a clear start error', async () => {
    await assert.rejects(startExternalWalker(plugin('bad-version.js')), (e: Error) => {
      assert.ok(e instanceof ProtocolError);
      assert.match(e.message, /protocol version mismatch: the runner speaks version 1, the implementation answered version 99/);
      return true;
    });
  });

  it('a command that does not exist fails at start with its stderr', async () => {
    await assert.rejects(startExternalWalker('definitely-not-a-command-xyz'), /exited with code 127 before answering start[\s\S]*not found/);
  });
});

describe('external walker', () => {
  it('serialises concurrent walks over one process, each answer matched to its walk', async () => {
    const w = await startExternalWalker(`node ${join(ROOT, 'examples', 'minimal-js', 'always-unreliable.js')}`, { validate: true });
    walkers.push(w);
    const recs = await Promise.all(Array.from({ length: 6 }, () => w.walk(snap, loaded)));
    for (const r of recs) assert.equal(r.result?.rc, -22, r.error);
    assert.equal(w.starts, 1);
  });
});

describe('skipped and errored answers', () => {
  it('a skipped walk is an error record carrying the reason, with `skipped` set for the session', async () => {
    const w = await startExternalWalker(`node ${join(ROOT, 'examples', 'faulty-trusts-lr', 'unwinder.js')}`, { validate: true });
    walkers.push(w);
    const x86 = { ...snap, arch: 'x86_64' as const, id: 'test/tiny-x86' };
    const rec = await w.walk(x86, loadSnapshot(x86));
    assert.equal(rec.skipped, 'arm64 only');
    assert.equal(rec.error, 'skipped by implementation: arm64 only');
    assert.equal(judge(loaded, truth, rec).outcome, 'errored');
    // The process is fine: the next walk is answered.
    assert.ok((await w.walk(snap, loaded)).result);
  });

  it("an implementation's own errored answer is an errored walk with its message", async () => {
    const w = await startExternalWalker('node -r ./scripts/ts-register.js src/protocol/reference-server.ts --profile arm64-fp', { cwd: ROOT });
    walkers.push(w);
    const broken = { ...snap, regs: { pc: 'nonsense' } } as unknown as Snapshot;
    const rec = await w.walk(broken, loaded);
    assert.match(rec.error ?? '', /^implementation reported an error: .*walk seq 1 is invalid/s);
    assert.match(rec.error ?? '', /\$\.regs\.pc/);
    assert.equal(w.starts, 1);
  });
});

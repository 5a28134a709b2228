/**
 * The C worked example (examples/c-arm64-fp) against the in-process arm64-fp reference: the same
 * verdict on every scene, judged against the ground truth of the scene. Built with the machine's gcc.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { join } from 'path';
import { judge, type Outcome } from '../src/oracle/oracle';
import { loadSnapshot } from '../src/snapshot/io';
import { startExternalWalker, type ExternalWalker } from '../src/protocol/external-walker';
import { builtinProfile } from '../src/unwinders/profiles';
import { InProcessWalker } from '../src/unwinders/walker';
import { syntheticScenes } from './protocol-fixtures';
import { kitScenes } from './protocol-kit-scenes';

const ROOT = join(__dirname, '..');
const BIN = join(ROOT, 'examples', 'c-arm64-fp', 'build', 'c-arm64-fp');

const build = spawnSync(join(ROOT, 'scripts', 'build-examples.sh'), { encoding: 'utf8' });
const noCompiler = build.status === 3;
if (noCompiler) console.log(`# SKIP C example: ${build.stderr.trim()}`);

describe('examples/c-arm64-fp', { skip: noCompiler ? 'no C compiler on this machine (scripts/build-examples.sh exit 3)' : false }, () => {
  let c: ExternalWalker;
  const ref = new InProcessWalker(builtinProfile('arm64-fp'));
  before(async () => {
    assert.equal(build.status, 0, `scripts/build-examples.sh failed:\n${build.stdout}${build.stderr}`);
    assert.ok(existsSync(BIN));
    c = await startExternalWalker(BIN, { validate: true });
  });
  after(async () => c && (await c.close()));

  it('announces itself with the arm64-fp claims', () => {
    assert.equal(c.profile.name, 'c-arm64-fp');
    assert.equal(c.profile.reference, false);
    assert.deepEqual(c.profile.claims, builtinProfile('arm64-fp').claims);
  });

  it('gives the same walk and verdict as arm64-fp on 400 laid-out scenes (blocked, IRQ, fgraph, kretprobe, corruption)', async () => {
    const counts: Partial<Record<Outcome, number>> = {};
    for (const s of syntheticScenes(400, 1000)) {
      const loaded = loadSnapshot(s.snapshot);
      const a = await c.walk(s.snapshot, loaded);
      const b = ref.walkSync(loaded);
      assert.equal(a.error, undefined, `${s.name}: C example errored: ${a.error}`);
      assert.deepEqual(a.result, b.result, `${s.name}: different walk`);
      assert.deepEqual(a.accesses?.map((x) => x.addr), b.accesses?.map((x) => x.addr), `${s.name}: different reads`);
      const ja = judge(loaded, s.truth, a);
      const jb = judge(loaded, s.truth, b);
      assert.equal(ja.outcome, jb.outcome, `${s.name}: ${ja.explanation} / ${jb.explanation}`);
      counts[ja.outcome] = (counts[ja.outcome] ?? 0) + 1;
      // The spec's rules applied to the laid-out truth: an intact chain is walked reliably by a
      // frame-record unwinder, and an exception boundary on it must be rejected (3.3, 3.6).
      // STACK_FRAME_NON_STANDARD code is rejected (3.2).
      if (!s.kind.corrupt) assert.equal(ja.outcome, s.kind.irq || s.kind.nonStandard ? 'correctly-unreliable' : 'sound-reliable', `${s.name}: ${ja.explanation}`);
      if (s.kind.irq && !s.kind.corrupt) assert.match(ja.explanation, /exception boundary/);
    }
    console.log(`# synthetic outcomes: ${JSON.stringify(counts)}`);
    // The scenes must exercise both success and rejection, and corruption the FP walk cannot see.
    assert.ok((counts['sound-reliable'] ?? 0) >= 40, JSON.stringify(counts));
    assert.ok((counts['correctly-unreliable'] ?? 0) >= 100, JSON.stringify(counts));
    assert.ok((counts['unsafe'] ?? 0) + (counts['imprecise'] ?? 0) >= 1, JSON.stringify(counts));
  });

  it('gives the same verdict as arm64-fp on every applicable arm64 kit scene', async (t) => {
    const scenes = kitScenes('arm64');
    const counts: Partial<Record<Outcome, number>> = {};
    for (const s of scenes) {
      const loaded = loadSnapshot(s.snapshot);
      const a = await c.walk(s.snapshot, loaded);
      const b = ref.walkSync(loaded);
      const ja = judge(loaded, s.truth, a);
      const jb = judge(loaded, s.truth, b);
      assert.equal(ja.outcome, jb.outcome, `${s.label}: C: ${ja.explanation} / reference: ${jb.explanation}`);
      assert.deepEqual(a.result?.trace, b.result?.trace, `${s.label}: different trace`);
      assert.deepEqual(a.accesses?.map((x) => x.addr), b.accesses?.map((x) => x.addr), `${s.label}: different reads`);
      counts[ja.outcome] = (counts[ja.outcome] ?? 0) + 1;
    }
    console.log(`# kit scenes: ${scenes.length}, outcomes: ${JSON.stringify(counts)}`);
    assert.ok(scenes.length >= 20);
  });
});

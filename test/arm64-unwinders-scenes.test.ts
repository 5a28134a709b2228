/**
 * arm64-fp and arm64-meta on scenes the arm64 machine runs, judged by the oracle against the
 * machine's ground truth (the interpreter's shadow record), never against another unwinder.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { judge, type Outcome } from '../src/oracle/oracle';
import { kitFor } from '../src/scene/index';
import type { SceneSpec } from '../src/scene/types';
import { loadSnapshot } from '../src/snapshot/io';
import { builtinProfile } from '../src/unwinders/profiles';
import { referenceUnwinder, walkInProcess } from '../src/unwinders/registry';

const hasKit = existsSync(join(__dirname, '..', 'src', 'kernel', 'arm64', 'kit.ts'));
const skip = hasKit ? false : 'src/kernel/arm64/kit.ts does not exist yet';

function outcome(name: 'arm64-fp' | 'arm64-meta', spec: SceneSpec) {
  const scene = kitFor('arm64').buildScene(spec);
  const snap = loadSnapshot(scene.snapshot, scene.snapshot.id);
  const j = judge(snap, scene.truth, walkInProcess(referenceUnwinder(builtinProfile(name)), snap));
  return { j, scene };
}

function expect(spec: SceneSpec, want: Record<'arm64-fp' | 'arm64-meta', Outcome>) {
  for (const name of ['arm64-fp', 'arm64-meta'] as const) {
    const { j, scene } = outcome(name, spec);
    assert.equal(
      j.outcome,
      want[name],
      `${name} at ${scene.moment}: ${j.explanation}\n  truth: ${j.truth.map((f) => f.fn).join(' < ')}\n  trace: ${j.trace.map((e) => e.fn).join(' < ')}`,
    );
    if (j.outcome === 'sound-reliable') assert.ok(j.trace.length >= j.truth.filter((f) => !f.omissible).length);
  }
}

const both = { 'arm64-fp': 'sound-reliable', 'arm64-meta': 'sound-reliable' } as const;

test('blocked user task in schedule(): sound-reliable on both', { skip }, () => {
  expect({ workload: 'syscall-sleep', moment: { kind: 'blocked' } }, both);
});

test('blocked kernel thread: sound-reliable on both', { skip }, () => {
  expect({ workload: 'kthread-sleep', moment: { kind: 'blocked' } }, both);
});

test('fgraph-traced callers, blocked before return_to_handler runs: sound-reliable on both', { skip }, () => {
  expect({ workload: 'syscall-sleep', instrument: { fgraph: ['do_nanosleep', 'schedule'] }, moment: { kind: 'blocked' } }, both);
});

test('kretprobed caller, blocked: sound-reliable on both', { skip }, () => {
  expect({ workload: 'syscall-sleep', instrument: { kretprobe: ['do_nanosleep'] }, moment: { kind: 'blocked' } }, both);
});

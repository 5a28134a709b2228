/**
 * arm64-fp and arm64-meta on scenes the arm64 machine runs, judged by the oracle against the
 * machine's ground truth (the interpreter's shadow record), never against another unwinder.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { judge, type Outcome } from '../src/oracle/oracle';
import { kitFor } from '../src/scene/index';
import type { SceneSpec } from '../src/scene/types';
import { loadSnapshot } from '../src/snapshot/io';
import { builtinProfile } from '../src/unwinders/profiles';
import { referenceUnwinder, walkInProcess } from '../src/unwinders/registry';


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

test('blocked user task in schedule(): sound-reliable on both', () => {
  expect({ workload: 'syscall-sleep', moment: { kind: 'blocked' } }, both);
});

test('blocked kernel thread: sound-reliable on both', () => {
  expect({ workload: 'kthread-sleep', moment: { kind: 'blocked' } }, both);
});

test('fgraph-traced callers, blocked before return_to_handler runs: sound-reliable on both', () => {
  expect({ workload: 'syscall-sleep', instrument: { fgraph: ['do_nanosleep', 'schedule'] }, moment: { kind: 'blocked' } }, both);
});

test('kretprobed caller, blocked: sound-reliable on both', () => {
  expect({ workload: 'syscall-sleep', instrument: { kretprobe: ['do_nanosleep'] }, moment: { kind: 'blocked' } }, both);
});

test('the tracing scenes really rewrite return addresses (fgraph ret_stack / kretprobe instances are live)', () => {
  const f = kitFor('arm64').buildScene({ workload: 'syscall-sleep', instrument: { fgraph: ['do_nanosleep', 'schedule'] }, moment: { kind: 'blocked' } });
  assert.equal(f.snapshot.fgraph?.stack.length, 2);
  const k = kitFor('arm64').buildScene({ workload: 'syscall-sleep', instrument: { kretprobe: ['do_nanosleep'] }, moment: { kind: 'blocked' } });
  assert.equal(k.snapshot.kretprobes.length, 1);
});

const irqOnly = { 'arm64-fp': 'correctly-unreliable', 'arm64-meta': 'sound-reliable' } as const;
const irqAt = (workload: SceneSpec['workload'], fn: string, index: number, walk: 'in-handler' | 'preempted' = 'in-handler'): SceneSpec => ({
  workload,
  moment: { kind: 'exception', exception: 'irq', at: { fn, index }, walk },
});

test('IRQ in function bodies (before a BL, after a BL returned, in a leaf): arm64-meta sound-reliable, arm64-fp correctly-unreliable', () => {
  expect(irqAt('work-chain', 'work_b', 2), irqOnly);
  expect(irqAt('work-chain', 'work_b', 4), irqOnly); // LR still points into work_b: must not be reported twice
  expect(irqAt('work-chain', 'work_c', 1), irqOnly); // leaf: the return address is only in LR
  expect(irqAt('work-chain', 'work_a', 4, 'preempted'), irqOnly);
});

test('IRQ in prologue and epilogue states: arm64-meta sound-reliable, arm64-fp correctly-unreliable', () => {
  expect(irqAt('work-chain', 'work_b', 0), irqOnly); // before STP: LR only
  expect(irqAt('work-chain', 'work_b', 1), irqOnly); // after STP, before MOV X29: x29 is still the caller's
  expect(irqAt('work-chain', 'work_b', 6), irqOnly); // RET after LDP: LR only
});

test("the spec's 3.6 examples: no duplicate after the prologue or a returned BL, no inversion after ADR LR", () => {
  expect(irqAt('spec-function', 'function', 2), irqOnly); // LR and the frame both hold function's return address
  expect(irqAt('spec-function', 'function', 3), irqOnly); // other_function returned: LR points into function
  expect(irqAt('spec-caller', 'caller', 3), irqOnly); // after ADR LR, <callee>: LR names callee
});

test('NMI in a function body: rejected by both under nmiPolicy reject', () => {
  expect(
    { workload: 'work-chain', moment: { kind: 'exception', exception: 'nmi', at: { fn: 'work_b', index: 2 }, walk: 'in-handler' } },
    { 'arm64-fp': 'correctly-unreliable', 'arm64-meta': 'correctly-unreliable' },
  );
});

const corruptions = ['frame-pointer-zeroed', 'frame-chain-cycle', 'frame-pointer-misaligned', 'frame-pointer-unmapped', 'frame-pointer-other-task', 'frame-pointer-downward', 'return-address-garbage'] as const;
test('corrupt frame chains of a blocked task and of a preempted one: correctly-unreliable on both, no unsafe read', () => {
  const bad = { 'arm64-fp': 'correctly-unreliable', 'arm64-meta': 'correctly-unreliable' } as const;
  for (const corrupt of corruptions) {
    expect({ workload: 'syscall-sleep', moment: { kind: 'blocked' }, corrupt }, bad);
    expect({ ...irqAt('work-chain', 'work_b', 4, 'preempted'), corrupt }, bad);
  }
});

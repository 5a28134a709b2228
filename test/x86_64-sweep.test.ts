/**
 * Sweeps: an IRQ and an NMI at every instruction boundary of the x86_64 workloads, walked by both
 * x86_64 reference unwinders and judged against the machine's ground truth (the interpreter's
 * shadow record). No walk may be unsafe, imprecise, faulted, runaway or errored; the share of
 * reliable walks per unwinder is printed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { judge, type Outcome } from '../src/oracle/oracle';
import { kitFor } from '../src/scene/index';
import type { SweepSpec, Workload } from '../src/scene/types';
import { loadSnapshot } from '../src/snapshot/io';
import { builtinProfile } from '../src/unwinders/profiles';
import { referenceUnwinder, walkInProcess } from '../src/unwinders/registry';

const UNWINDERS = {
  'x86_64-orc': referenceUnwinder(builtinProfile('x86_64-orc')),
  'x86_64-fp': referenceUnwinder(builtinProfile('x86_64-fp')),
};
const BAD: ReadonlySet<Outcome> = new Set(['unsafe', 'imprecise', 'faulted', 'runaway', 'errored']);
/** Code every reference unwinder must handle; odd code (BPF, EFI, non-standard, hints) too. */
const CLEAN: Workload[] = ['work-chain', 'syscall-sleep', 'kthread-sleep', 'module-sleep', 'tail-call'];
const ODD: Workload[] = ['bpf-sleep', 'efi-call', 'nonstandard-sleep', 'hint-undefined'];

const SWEEPS: Omit<SweepSpec, 'workload'>[] = [
  { exception: 'irq', walk: 'in-handler' },
  { exception: 'nmi', walk: 'in-handler' },
  { exception: 'irq', walk: 'preempted' },
  { exception: 'irq', walk: 'in-handler', nested: 'nmi' },
];

function sweepAll(workloads: Workload[], instrument?: SweepSpec['instrument'], sweeps = SWEEPS) {
  const kit = kitFor('x86_64');
  const counts = new Map<string, { walks: number; reliable: number }>();
  const bad: string[] = [];
  for (const workload of workloads) {
    assert.ok(kit.workloads.includes(workload), `the x86_64 kit has no workload ${workload}`);
    for (const s of sweeps) {
      const kind = `${s.exception}${s.nested ? '+nmi' : ''} ${s.walk}`;
      for (const scene of kit.sweep({ workload, ...s, ...(instrument ? { instrument } : {}) })) {
        const snap = loadSnapshot(scene.snapshot, scene.snapshot.id);
        for (const [name, u] of Object.entries(UNWINDERS)) {
          const j = judge(snap, scene.truth, walkInProcess(u, snap));
          for (const key of [name, `${name} ${kind}`]) {
            const c = counts.get(key) ?? { walks: 0, reliable: 0 };
            c.walks++;
            if (j.outcome === 'sound-reliable') c.reliable++;
            counts.set(key, c);
          }
          if (BAD.has(j.outcome)) bad.push(`${name} ${scene.snapshot.id} (${scene.moment}): ${j.outcome}: ${j.explanation}`);
        }
      }
    }
  }
  return { counts, bad };
}

function report(title: string, counts: Map<string, { walks: number; reliable: number }>) {
  for (const [k, c] of [...counts].sort()) {
    console.log(`# ${title} ${k}: ${c.reliable}/${c.walks} reliable (${((100 * c.reliable) / c.walks).toFixed(1)}%)`);
  }
}

test('x86_64 sweeps of ordinary code: zero unsafe, imprecise, faulted or runaway walks; ORC mostly reliable', () => {
  const { counts, bad } = sweepAll(CLEAN);
  report('clean', counts);
  assert.deepEqual(bad.slice(0, 20), [], `${bad.length} bad walk(s)`);
  const orc = counts.get('x86_64-orc')!;
  const fp = counts.get('x86_64-fp')!;
  assert.ok(orc.walks > 500, `the sweep visited enough boundaries (${orc.walks})`);
  // Every IRQ-only walk is at a boundary where IRQs are on: ORC must unwind them all.
  const irq = counts.get('x86_64-orc irq in-handler')!;
  assert.equal(irq.reliable, irq.walks, 'ORC unwinds every IRQ taken in ordinary code');
  assert.ok(orc.reliable / orc.walks > 0.9, 'ORC unwinds nearly every boundary');
  // Frame pointers never unwind across a kernel-mode exception frame.
  assert.equal(fp.reliable, 0, 'FP never claims a walk across kernel-mode pt_regs');
});

test('x86_64 sweeps of BPF, EFI, non-standard and hinted code: zero unsafe, imprecise, faulted or runaway walks', () => {
  const { counts, bad } = sweepAll(ODD);
  report('odd', counts);
  assert.deepEqual(bad.slice(0, 20), [], `${bad.length} bad walk(s)`);
  assert.ok(counts.get('x86_64-orc')!.walks > 200);
  assert.equal(counts.get('x86_64-fp')!.reliable, 0, 'FP never claims a walk across kernel-mode pt_regs');
});

test('x86_64 sweeps with function-graph tracing and kretprobes: zero unsafe, imprecise, faulted or runaway walks', () => {
  const sweeps = SWEEPS.slice(0, 2);
  for (const instrument of [{ fgraph: ['work_b', 'work_c'] }, { kretprobe: ['work_b'] }]) {
    const { counts, bad } = sweepAll(['work-chain'], instrument, sweeps);
    report(JSON.stringify(instrument), counts);
    assert.deepEqual(bad.slice(0, 20), [], `${bad.length} bad walk(s)`);
    // Outside the return trampolines themselves, ORC recovers the rewritten return addresses.
    const orc = counts.get('x86_64-orc')!;
    assert.ok(orc.reliable / orc.walks > 0.5, `ORC reliable share with ${JSON.stringify(instrument)}`);
  }
});

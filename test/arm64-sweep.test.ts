/**
 * Sweep: an IRQ and an NMI at every instruction boundary of a few workloads (kit.sweep), each walk
 * judged by the oracle against the machine's ground truth. Neither reference unwinder may ever be
 * unsafe, imprecise, faulted, runaway or errored; the share of reliable walks is printed.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { judge, OUTCOMES, type Outcome } from '../src/oracle/oracle';
import { kitFor } from '../src/scene/index';
import type { SweepSpec } from '../src/scene/types';
import { loadSnapshot } from '../src/snapshot/io';
import { builtinProfile } from '../src/unwinders/profiles';
import { referenceUnwinder, walkInProcess } from '../src/unwinders/registry';
import type { Unwinder } from '../src/unwinders/types';


const BAD: ReadonlySet<Outcome> = new Set(['unsafe', 'imprecise', 'faulted', 'runaway', 'errored']);

const SWEEPS: SweepSpec[] = [
  { workload: 'work-chain', exception: 'irq', walk: 'in-handler' },
  { workload: 'work-chain', exception: 'nmi', walk: 'in-handler' },
  { workload: 'work-chain', exception: 'irq', walk: 'preempted' },
  { workload: 'work-chain', exception: 'irq', walk: 'in-handler', nested: 'nmi' },
  { workload: 'syscall-sleep', instrument: { fgraph: ['do_nanosleep', 'schedule'] }, exception: 'irq', walk: 'in-handler' },
  { workload: 'syscall-sleep', instrument: { fgraph: ['do_nanosleep'] }, exception: 'irq', walk: 'preempted' },
  { workload: 'syscall-sleep', instrument: { kretprobe: ['do_nanosleep'] }, exception: 'nmi', walk: 'in-handler' },
  { workload: 'kthread-sleep', exception: 'nmi', walk: 'in-handler' },
  { workload: 'spec-function', exception: 'irq', walk: 'in-handler' },
  { workload: 'spec-caller', exception: 'irq', walk: 'in-handler' },
  { workload: 'tail-call', exception: 'irq', walk: 'in-handler' },
  { workload: 'module-sleep', exception: 'irq', walk: 'in-handler' },
  { workload: 'bpf-sleep', exception: 'irq', walk: 'in-handler' },
  { workload: 'efi-call', exception: 'irq', walk: 'in-handler' },
  { workload: 'nonstandard-sleep', exception: 'irq', walk: 'in-handler' },
  { workload: 'fp-violation', exception: 'nmi', walk: 'in-handler' },
];

type Tally = Record<Outcome, number>;
const empty = (): Tally => Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Tally;

test('IRQ/NMI sweeps: no unsafe, imprecise, faulted or runaway walk on arm64-fp or arm64-meta', () => {
  const kit = kitFor('arm64');
  // arm64-meta as shipped (nmiPolicy reject), and with nmiPolicy unwind to show its NMI unwinding is sound too.
  const names = ['arm64-fp', 'arm64-meta', 'arm64-meta/nmi=unwind'] as const;
  const metaUnwind = { ...builtinProfile('arm64-meta'), name: 'arm64-meta/nmi=unwind', options: { nmiPolicy: 'unwind' } };
  const unwinders: Record<string, Unwinder> = {
    'arm64-fp': referenceUnwinder(builtinProfile('arm64-fp')),
    'arm64-meta': referenceUnwinder(builtinProfile('arm64-meta')),
    'arm64-meta/nmi=unwind': referenceUnwinder(metaUnwind),
  };
  const totals: Record<string, Tally> = Object.fromEntries(names.map((n) => [n, empty()]));
  const byKind: Record<string, Tally> = {};
  const problems: string[] = [];
  const lines: string[] = [];
  for (const spec of SWEEPS) {
    assert.ok(kit.workloads.includes(spec.workload), `the arm64 kit has no workload ${spec.workload}`);
    const per: Record<string, Tally> = Object.fromEntries(names.map((n) => [n, empty()]));
    let scenes = 0;
    for (const scene of kit.sweep(spec)) {
      scenes++;
      const snap = loadSnapshot(scene.snapshot, scene.snapshot.id);
      for (const n of names) {
        const j = judge(snap, scene.truth, walkInProcess(unwinders[n]!, snap));
        per[n]![j.outcome]++;
        totals[n]![j.outcome]++;
        const kind = `${n} ${spec.exception}${spec.nested ? '+' + spec.nested : ''}`;
        (byKind[kind] ??= empty())[j.outcome]++;
        if (BAD.has(j.outcome) && problems.length < 20) problems.push(`${n} ${j.outcome} at ${scene.moment}: ${j.explanation}`);
      }
    }
    const label = `${spec.workload}${spec.instrument ? ' ' + JSON.stringify(spec.instrument) : ''} ${spec.exception}${spec.nested ? '+' + spec.nested : ''} ${spec.walk}`;
    lines.push(`${label}: ${scenes} boundaries; ` + names.map((n) => `${n} reliable ${per[n]!['sound-reliable']}/${scenes}`).join(', '));
    assert.ok(scenes > 0, `${label}: the sweep produced no scene`);
    // Rules of the profiles, not counts copied from a run: every walk here crosses an exception
    // boundary, which arm64-fp must reject (3.3, 3.6) and arm64-meta must reject at an NMI under
    // nmiPolicy reject; and a sweep where the metadata unwinder is never reliable tests nothing.
    assert.equal(per['arm64-fp']!['sound-reliable'], 0, `${label}: arm64-fp reported a walk across an exception boundary reliable`);
    if (spec.exception === 'nmi' || spec.nested === 'nmi') assert.equal(per['arm64-meta']!['sound-reliable'], 0, `${label}: arm64-meta (nmiPolicy reject) unwound an NMI`);
    else assert.ok(per['arm64-meta']!['sound-reliable'] > 0, `${label}: arm64-meta never reliable`);
    assert.ok(per['arm64-meta/nmi=unwind']!['sound-reliable'] > 0, `${label}: arm64-meta (nmiPolicy unwind) never reliable`);
  }
  const share = (t: Tally): string => {
    const total = OUTCOMES.reduce((s, o) => s + t[o], 0);
    return `${t['sound-reliable']}/${total} (${((100 * t['sound-reliable']) / Math.max(1, total)).toFixed(1)}%)`;
  };
  for (const [k, t] of Object.entries(byKind)) lines.push(`${k} boundaries: reliable ${share(t)}`);
  for (const n of names) {
    const t = totals[n]!;
    const total = OUTCOMES.reduce((s, o) => s + t[o], 0);
    lines.push(`${n}: reliable ${t['sound-reliable']}/${total} (${((100 * t['sound-reliable']) / Math.max(1, total)).toFixed(1)}%), ` + OUTCOMES.filter((o) => t[o]).map((o) => `${o} ${t[o]}`).join(', '));
  }
  console.log(lines.join('\n'));
  assert.deepEqual(problems, []);
});

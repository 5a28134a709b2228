/**
 * Scenes from the arch kits for the protocol tests: blocked tasks on every workload, IRQ and NMI
 * sweeps, fgraph / kretprobe instrumentation and every corruption. Returns undefined while a kit
 * is not built yet. A spec a kit cannot build (workload absent on that arch) is left out.
 */
import { existsSync } from 'node:fs';
import { join } from 'path';
import { kitFor } from '../src/scene';
import type { Corruption, Scene, SceneSpec, SweepSpec, Workload } from '../src/scene/types';
import type { Arch } from '../src/snapshot/types';

export interface LabelledScene extends Scene {
  label: string;
}

const CORRUPTIONS: Corruption[] = [
  'frame-pointer-zeroed', 'frame-chain-cycle', 'frame-pointer-misaligned', 'frame-pointer-unmapped',
  'frame-pointer-other-task', 'frame-pointer-downward', 'return-address-garbage',
];

/** Specs a kit could not build, with why (printed by the tests, so gaps are visible). */
export const unbuilt: string[] = [];

export function kitScenes(arch: Arch, opts: { sweepLimit?: number } = {}): LabelledScene[] {
  const kit = kitFor(arch);
  const out: LabelledScene[] = [];
  const tryBuild = (spec: SceneSpec) => {
    try {
      const s = kit.buildScene(spec);
      out.push({ ...s, label: `${JSON.stringify(spec)} (${s.moment})` });
    } catch (e) {
      unbuilt.push(`${JSON.stringify(spec)}: ${(e as Error).message.split('\n')[0]}`);
    }
  };
  const workloads: readonly Workload[] = kit.workloads;
  for (const workload of workloads) tryBuild({ workload, moment: { kind: 'blocked' } });
  tryBuild({ workload: 'kthread-sleep', instrument: { fgraph: ['schedule'] }, moment: { kind: 'blocked' } });
  tryBuild({ workload: 'syscall-sleep', instrument: { fgraph: ['do_nanosleep', 'schedule'], kretprobe: ['sys_sleep'] }, moment: { kind: 'blocked' } });
  tryBuild({ workload: 'syscall-sleep', instrument: { kretprobe: ['do_nanosleep', 'schedule'] }, moment: { kind: 'blocked' } });
  for (const fn of ['work_a', 'work_b', 'work_c']) {
    for (const walk of ['preempted', 'in-handler'] as const) {
      tryBuild({ workload: 'work-chain', instrument: { fgraph: [fn] }, moment: { kind: 'exception', exception: 'irq', at: { fn: 'work_c', index: 1 }, walk } });
      tryBuild({ workload: 'work-chain', moment: { kind: 'exception', exception: 'nmi', at: { fn, index: 1 }, walk } });
    }
  }
  for (const corrupt of CORRUPTIONS) tryBuild({ workload: 'syscall-sleep', moment: { kind: 'blocked' }, corrupt });
  const limit = opts.sweepLimit ?? 60;
  const sweeps: SweepSpec[] = [
    { workload: 'work-chain', exception: 'irq', walk: 'in-handler' },
    { workload: 'work-chain', exception: 'irq', walk: 'preempted' },
    { workload: 'work-chain', instrument: { fgraph: ['work_b'], kretprobe: ['work_a'] }, exception: 'irq', walk: 'preempted' },
    { workload: 'work-chain', exception: 'irq', walk: 'in-handler', nested: 'nmi' },
    { workload: 'spec-function', exception: 'irq', walk: 'preempted', functions: ['function'] },
    { workload: 'spec-caller', exception: 'irq', walk: 'preempted', functions: ['caller'] },
    { workload: 'syscall-sleep', instrument: { fgraph: ['do_nanosleep'] }, exception: 'irq', walk: 'in-handler', functions: ['do_nanosleep', 'return_to_handler'] },
  ];
  for (const sw of sweeps) {
    let n = 0;
    try {
      for (const s of kit.sweep(sw)) {
        out.push({ ...s, label: `sweep ${JSON.stringify(sw)}: ${s.moment}` });
        if (++n >= limit) break;
      }
    } catch (e) {
      unbuilt.push(`sweep ${JSON.stringify(sw)}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  return out;
}

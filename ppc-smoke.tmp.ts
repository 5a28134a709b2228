import { kitFor } from './src/scene/index';
import { loadSnapshot } from './src/snapshot/io';
import { walkPowerpc64 } from './src/unwinders/powerpc64-bc';
import { MonitoredMemory } from './src/machine/memory';
const kit = kitFor('powerpc64');
const cases: [string, any, any][] = [
  ['syscall-sleep', { kind: 'blocked' }, {}],
  ['syscall-sleep', { kind: 'blocked' }, { firstFrameLr: true }],
  ['stale-marker-sleep', { kind: 'blocked' }, {}],
  ['stale-marker-sleep', { kind: 'blocked' }, { trustRegsMarker: true }],
  ['kthread-sleep', { kind: 'blocked' }, { stackEndAsUser: true }],
  ['work-chain', { kind: 'exception', exception: 'irq', at: { fn: 'work_b', index: 1 }, walk: 'preempted' }, {}],
  ['work-chain', { kind: 'exception', exception: 'irq', at: { fn: 'work_b', index: 1 }, walk: 'preempted' }, { trustRegsMarker: true }],
  ['work-chain', { kind: 'exception', exception: 'page-fault', at: { fn: 'work_b', index: 3 }, walk: 'in-handler' }, {}],
];
for (const [w, mo, k] of cases) {
  try {
    const scene = kit.buildScene({ workload: w as any, moment: mo });
    const snap = loadSnapshot(scene.snapshot, scene.snapshot.id);
    const r = walkPowerpc64({ snap, mem: new MonitoredMemory(snap.mem, 20000) }, k);
    console.log(w, JSON.stringify(k), r.rc, r.reason ?? '', '\n   ', r.trace.map((a) => snap.syms.lookup(a)?.name).join(' < '), '\n    truth:', scene.truth.frames.map((f) => f.fn + (f.omissible ? '?' : '')).join(' < '));
  } catch (e) { console.log(w, 'ERR', (e as Error).stack); }
}

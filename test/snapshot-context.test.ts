/** snapshot.context says the context the walk runs in; fgraph tells "no ret_stack" from an empty one. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kitFor } from '../src/scene/index';
import type { SceneSpec } from '../src/scene/types';
import type { Arch } from '../src/snapshot/types';

const BODY: Record<Arch, number> = { arm64: 2, x86_64: 3, riscv64: 4, loongarch64: 4, s390x: 4, powerpc64: 3 };
const ctx = (arch: Arch, s: SceneSpec) => kitFor(arch).buildScene(s).snapshot;

for (const arch of ['arm64', 'x86_64', 'riscv64', 'powerpc64'] as const) {
  test(`${arch}: context of blocked, IRQ-handler and NMI-handler walks`, () => {
    const blocked = ctx(arch, { workload: 'syscall-sleep', moment: { kind: 'blocked' } }).context!;
    assert.deepEqual(blocked, { cpu: 0, inNmi: false, inHardirq: false, preemptible: false, efiRuntimeActive: false });
    const at = { fn: 'work_b', index: BODY[arch] };
    const irq = ctx(arch, { workload: 'work-chain', moment: { kind: 'exception', exception: 'irq', at, walk: 'in-handler' } }).context!;
    assert.equal(irq.inHardirq, true);
    assert.equal(irq.inNmi, false);
    const nmi = ctx(arch, { workload: 'work-chain', moment: { kind: 'exception', exception: 'nmi', at, walk: 'in-handler' } }).context!;
    assert.equal(nmi.inNmi, true);
    assert.equal(nmi.inHardirq, true, 'an NMI counts as hardirq, like in_hardirq()');
    const nested = ctx(arch, { workload: 'work-chain', moment: { kind: 'exception', exception: 'irq', at, walk: 'in-handler', nested: 'nmi' } }).context!;
    assert.equal(nested.inNmi, true);
  });

  test(`${arch}: efiRuntimeActive when the task is inside an EFI runtime call`, () => {
    const s = ctx(arch, { workload: 'efi-call', moment: { kind: 'exception', exception: 'irq', at: { fn: 'efi_get_time', index: 2 }, walk: 'in-handler' } });
    assert.equal(s.context!.efiRuntimeActive, true);
  });

  test(`${arch}: fgraph is null without a ret_stack, and an empty stack when one exists with no live entry`, () => {
    assert.equal(ctx(arch, { workload: 'syscall-sleep', moment: { kind: 'blocked' } }).fgraph, null);
    const s = ctx(arch, { workload: 'syscall-sleep', moment: { kind: 'blocked' }, instrument: { fgraph: ['sys_sleep'] } });
    assert.ok(s.fgraph && s.fgraph.stack.length === 1, 'sys_sleep is live: one entry');
    // work_c is traced but not yet called: the ret_stack exists and is empty.
    const irq = ctx(arch, { workload: 'work-chain', moment: { kind: 'exception', exception: 'irq', at: { fn: 'sys_work', index: 1 }, walk: 'in-handler' }, instrument: { fgraph: ['work_c'] } });
    assert.deepEqual(irq.fgraph, { stack: [] });
  });
}

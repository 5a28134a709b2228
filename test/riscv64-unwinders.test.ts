/**
 * riscv64-fp (and the knobs its mutants turn) on hand-built snapshots. Each test lays out frame
 * records ({fp, ra} in the 16 bytes below each frame pointer), pt_regs with the series' meta record and
 * tracing state by hand, so the true chain is known because the test built it; expected traces are
 * written from that layout, never from an unwinder's answer.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RISCV64_ABI as A } from '../src/isa/riscv64/abi';
import { Memory } from '../src/machine/memory';
import { SymbolTable, type KSymbol } from '../src/machine/symbols';
import { unsafeAccesses } from '../src/oracle/oracle';
import { hex, loadSnapshot, makeSnapshot, type LoadedSnapshot } from '../src/snapshot/io';
import type { Snapshot } from '../src/snapshot/types';
import { walkInProcess } from '../src/unwinders/registry';
import { builtinProfile } from '../src/unwinders/profiles';
import { create, walkRiscv64, type Riscv64Knobs } from '../src/unwinders/riscv64-fp';

const TEXT = 0xffff80010000;
const STACK = 0xffc600100000;
const IRQ = 0xffc600200000;
const OTHER = 0xffc600300000;
const SZ = A.THREAD_SIZE;

// Every function is 0x40 bytes; a return address is at +0x20.
const FUNCS = ['handle_exception', 'do_trap_ecall_u', 'sys_work', 'work_a', 'work_b', 'schedule', '__schedule', 'do_irq', 'irq_handler', 'nonstd_fn', 'return_to_handler', 'arch_rethook_trampoline'];
const KIND: Record<string, KSymbol['kind']> = { handle_exception: 'code', return_to_handler: 'return-trampoline', arch_rethook_trampoline: 'return-trampoline' };
const syms: KSymbol[] = FUNCS.map((name, i) => ({ name, start: TEXT + 0x40 * i, end: TEXT + 0x40 * (i + 1), kind: KIND[name] ?? 'func', region: 'ktext', ...(name === 'nonstd_fn' ? { nonStandard: true } : {}), ...(name === 'handle_exception' ? { entry: true } : {}) }));
const table = new SymbolTable(syms);
const ret = (fn: string): number => table.get(fn).start + 0x20;
const reference = create(builtinProfile('riscv64-fp'));

class World {
  mem = new Memory();
  ptRegs = STACK + SZ - A.PT_REGS_SIZE;
  finalFrame = this.ptRegs + A.S_STACKFRAME;
  regs: Record<string, number> = {};
  state: 'blocked' | 'running' = 'blocked';
  stacks: Snapshot['stacks'] = [{ region: 'stack-1', type: 'task' }];
  fgraph: Snapshot['fgraph'] = null;
  kretprobes: Snapshot['kretprobes'] = [];
  constructor() {
    this.mem.map({ name: 'ktext', kind: 'kernel-text', base: TEXT, size: 0x10000 });
    this.mem.map({ name: 'stack-1', kind: 'task-stack', base: STACK, size: SZ, owner: '1' });
    this.mem.map({ name: 'irq-0', kind: 'irq-stack', base: IRQ, size: A.IRQ_STACK_SIZE, owner: '0' });
    this.mem.map({ name: 'stack-2', kind: 'task-stack', base: OTHER, size: SZ, owner: '2' });
    this.meta(this.ptRegs, A.FRAME_META_TYPE_FINAL);
  }
  /** The frame pointer just above a pt_regs' meta record. */
  static metaFp(regs: number): number {
    return regs + A.S_STACKFRAME + A.FRAME_RECORD_OFFSET;
  }
  meta(regs: number, type: number): number {
    this.mem.write64(regs + A.S_STACKFRAME, 0);
    this.mem.write64(regs + A.S_STACKFRAME + 8, 0);
    this.mem.write64(regs + A.S_STACKFRAME_TYPE, type);
    return World.metaFp(regs);
  }
  /** A frame at frame pointer `fp`: the record {link, ra} below it. */
  frame(fp: number, link: number, ra: number): number {
    this.mem.write64(fp - 16, link);
    this.mem.write64(fp - 8, ra);
    return fp;
  }
  /** The syscall chain do_trap_ecall_u <- sys_work <- work_a <- work_b <- schedule <- __schedule, blocked. */
  syscallChain(top = this.ptRegs): number[] {
    let fp = this.frame(top, World.metaFp(this.ptRegs), ret('handle_exception'));
    const fps = [fp];
    for (const caller of ['do_trap_ecall_u', 'sys_work', 'work_a', 'work_b', 'schedule']) {
      fp = this.frame(fp - 32, fp, ret(caller));
      fps.push(fp);
    }
    this.regs = { ra: ret('__schedule'), pc: ret('__schedule'), s0: fp, sp: fp - 32 };
    return fps;
  }
  snap(): LoadedSnapshot {
    const s = makeSnapshot({
      id: 'riscv64/test',
      arch: 'riscv64',
      task: { pid: 1, comm: 'test', kind: 'user', state: this.state },
      regs: this.regs,
      mem: this.mem,
      syms: table,
      stacks: this.stacks,
      ptRegs: this.ptRegs,
      finalFrame: this.finalFrame,
      abi: { ...A },
      unwind: {},
      fgraph: this.fgraph,
      kretprobes: this.kretprobes,
    });
    return loadSnapshot(s);
  }
}

const CHAIN = ['__schedule', 'schedule', 'work_b', 'work_a', 'sys_work', 'do_trap_ecall_u', 'handle_exception'].map(ret);
const walk = (w: World, k?: Riscv64Knobs) => {
  const snap = w.snap();
  const r = k ? walkInProcess({ name: 'knobs', walk: (i) => walkRiscv64(i, k) }, snap) : walkInProcess(reference, snap);
  return { ...r.result!, unsafe: unsafeAccesses(snap, r.accesses ?? []) };
};

test('a blocked task: thread.ra, then each record below its frame pointer, ending at the FINAL record', () => {
  const w = new World();
  w.syscallChain();
  const r = walk(w);
  assert.equal(r.rc, 0, r.reason);
  assert.deepEqual(r.trace, CHAIN);
  assert.deepEqual(r.unsafe, []);
});

test('an exception boundary (PT_REGS record) is rejected: ra may have been live', () => {
  const w = new World();
  const fps = w.syscallChain();
  // An IRQ in work_b (s0 = work_b's frame pointer fps[3]): pt_regs below the task's frames, the handler's record chaining to the meta record.
  const regs = fps[4]! - 32 - A.PT_REGS_SIZE;
  w.meta(regs, A.FRAME_META_TYPE_PT_REGS);
  w.mem.write64(regs + A.PT_EPC, table.get('work_b').start + 0x10);
  w.mem.write64(regs + A.PT_RA, ret('work_a'));
  w.mem.write64(regs + A.PT_S0, fps[3]!);
  w.mem.write64(regs + A.PT_STATUS, A.SR_SPP);
  const irqFp = w.frame(IRQ + A.IRQ_STACK_SIZE, World.metaFp(regs), ret('handle_exception'));
  w.regs = { pc: table.get('irq_handler').start + 8, s0: irqFp, sp: irqFp - 16, ra: ret('do_irq') };
  w.state = 'running';
  w.stacks = [{ region: 'stack-1', type: 'task' }, { region: 'irq-0', type: 'irq' }];
  const r = walk(w);
  assert.notEqual(r.rc, 0);
  assert.match(r.reason!, /exception boundary/);
  // The faulty knob reports epc and ra, then walks on from s0: work_a twice.
  const t = walk(w, { trustRaAtBoundary: true });
  assert.equal(t.rc, 0);
  assert.equal(t.trace.filter((a) => a === ret('work_a')).length, 2);
});

test('a FINAL record that is not task_pt_regs(task)->stackframe ends nothing', () => {
  const w = new World();
  const fps = w.syscallChain();
  // A stale copy of the FINAL pt_regs inside work_a's frame, and sys_work's link pointing at it.
  const stale = fps[2]! - 16 - A.PT_REGS_SIZE - 64;
  w.meta(stale, A.FRAME_META_TYPE_FINAL);
  w.mem.write64(fps[3]! - 16, World.metaFp(stale));
  const r = walk(w);
  assert.notEqual(r.rc, 0);
  assert.match(r.reason!, /FINAL record .* is not task_pt_regs/);
  assert.equal(walk(w, { finalAnywhere: true }).rc, 0, 'the faulty knob stops early and calls it reliable');
});

test('return_to_handler and arch_rethook_trampoline are recovered by the caller\'s frame pointer, or the walk fails', () => {
  const w = new World();
  const fps = w.syscallChain();
  // work_a and schedule graph-traced: their records hold return_to_handler; keys are their callers' fps.
  // fps[k] is the frame pointer of do_trap_ecall_u, sys_work, work_a, work_b, schedule, __schedule.
  w.mem.write64(fps[2]! - 8, table.get('return_to_handler').start); // work_a's record: ra into sys_work
  w.mem.write64(fps[4]! - 8, table.get('return_to_handler').start); // schedule's record: ra into work_b
  w.fgraph = { stack: [
    { ret: hex(ret('sys_work')), func: hex(table.get('work_a').start), retp: hex(fps[1]!) },
    { ret: hex(ret('work_b')), func: hex(table.get('schedule').start), retp: hex(fps[3]!) },
  ] };
  // work_b kretprobed: its record holds the trampoline, keyed by work_a's fp.
  w.mem.write64(fps[3]! - 8, table.get('arch_rethook_trampoline').start);
  w.kretprobes = [{ ret: hex(ret('work_a')), func: hex(table.get('work_b').start), retp: hex(fps[2]!) }];
  const r = walk(w);
  assert.equal(r.rc, 0, r.reason);
  assert.deepEqual(r.trace, CHAIN);
  // The 393da6cbb2ff bug class: each lookup starts over and takes the innermost entry.
  const bad = walk(w, { fgraphIdxReset: true });
  assert.equal(bad.rc, 0);
  assert.ok(!bad.trace.includes(ret('sys_work')), 'the outer traced function\'s caller is lost');
  w.fgraph = { stack: [] };
  const none = walk(w);
  assert.notEqual(none.rc, 0);
  assert.match(none.reason!, /no ret_stack entry/);
});

test('records must be aligned, on an accessible stack and strictly upward; the faulty knobs read or stop anywhere', () => {
  for (const [name, link] of [['misaligned', (fps: number[]) => fps[2]! + 4], ['other task', () => OTHER + 0x100], ['downward', (fps: number[]) => fps[5]! - 64], ['zero', () => 0]] as const) {
    const w = new World();
    const fps = w.syscallChain();
    w.mem.write64(fps[3]! - 16, link(fps));
    const r = walk(w);
    assert.notEqual(r.rc, 0, name);
    assert.deepEqual(r.unsafe, [], name);
    if (name === 'other task') assert.ok(walk(w, { noStackBounds: true }).unsafe.length > 0, 'no stack bounds: reads another task\'s stack');
    if (name === 'zero') assert.equal(walk(w, { noFinalCheck: true }).rc, 0, 'the chain ending is not the FINAL record');
  }
});

test('a pc in STACK_FRAME_NON_STANDARD code or outside kernel text makes the walk unreliable', () => {
  const w = new World();
  const fps = w.syscallChain();
  w.mem.write64(fps[4]! - 8, table.get('nonstd_fn').start + 0x20);
  assert.match(walk(w).reason!, /STACK_FRAME_NON_STANDARD/);
  w.mem.write64(fps[4]! - 8, 0x4141414141);
  assert.match(walk(w).reason!, /not kernel text/);
});

test('generated programs are not emitted for riscv64 yet: asking for one says so', () => {
  const { generatedCase } = require('../src/generate/run') as typeof import('../src/generate/run');
  assert.throws(() => generatedCase('riscv64', 5, 0), /no generated programs for riscv64 \(only arm64, x86_64[^)]*\)/);
});

test('today\'s walk_stackframe() leaf guess across an exception skips the caller of a function interrupted in its prologue', () => {
  const w = new World();
  const fps = w.syscallChain();
  // work_b interrupted after saving ra / s0 but before setting s0: s0 is still work_a's frame pointer.
  const regs = fps[5]! - 32 - A.PT_REGS_SIZE;
  w.meta(regs, A.FRAME_META_TYPE_PT_REGS);
  w.mem.write64(regs + A.PT_EPC, table.get('work_b').start + 0xc);
  w.mem.write64(regs + A.PT_RA, ret('work_a'));
  w.mem.write64(regs + A.PT_S0, fps[2]!);
  w.mem.write64(regs + A.PT_STATUS, A.SR_SPP);
  const irqFp = w.frame(IRQ + A.IRQ_STACK_SIZE, World.metaFp(regs), ret('handle_exception'));
  w.regs = { pc: table.get('irq_handler').start + 8, s0: irqFp, sp: irqFp - 16, ra: ret('do_irq') };
  w.state = 'running';
  w.stacks = [{ region: 'stack-1', type: 'task' }, { region: 'irq-0', type: 'irq' }];
  assert.notEqual(walk(w).rc, 0);
  const g = walk(w, { leafGuessAtBoundary: true });
  assert.equal(g.rc, 0);
  assert.ok(!g.trace.includes(ret('work_a')), 'work_a, where work_b returns, is missing');
});

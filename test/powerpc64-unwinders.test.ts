/**
 * powerpc64-bc (and the knobs its mutants turn) on hand-built snapshots. Each test lays out the back
 * chain (word 0 of each frame), the LR save slots (word 2: the return into the frame's own function,
 * saved by its callee), interrupt frames with the "regs" marker and tracing state by hand, so the true
 * chain is known because the test built it; expected traces are written from that layout, never from an
 * unwinder's answer.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { POWERPC64_ABI as A } from '../src/isa/powerpc64/abi';
import { Memory } from '../src/machine/memory';
import { SymbolTable, type KSymbol } from '../src/machine/symbols';
import { unsafeAccesses } from '../src/oracle/oracle';
import { hex, loadSnapshot, makeSnapshot, type LoadedSnapshot } from '../src/snapshot/io';
import type { Snapshot } from '../src/snapshot/types';
import { walkInProcess } from '../src/unwinders/registry';
import { builtinProfile } from '../src/unwinders/profiles';
import { create, walkPowerpc64, type Powerpc64Knobs } from '../src/unwinders/powerpc64-bc';

const TEXT = 0xc00000010000;
const STACK = 0xc00100100000;
const IRQ = 0xc00100200000;
const OTHER = 0xc00100300000;
const TOP = STACK + A.THREAD_SIZE;
const USER_END = TOP - A.STACK_USER_INT_FRAME_SIZE;
const KTHREAD_END = TOP - A.STACK_FRAME_MIN_SIZE;

// Every function is 0x40 bytes; a return address is at +0x20.
const FUNCS = ['system_call_common', 'start_kernel_thread', 'system_call_exception', 'kthread', 'sys_work', 'work_a', 'work_b', 'schedule', '__schedule', '_switch', 'pick_next_task', 'return_to_handler', 'arch_rethook_trampoline', 'livepatch_handler'];
const KIND: Record<string, KSymbol['kind']> = { system_call_common: 'code', start_kernel_thread: 'code', return_to_handler: 'return-trampoline', arch_rethook_trampoline: 'return-trampoline', livepatch_handler: 'return-trampoline' };
const syms: KSymbol[] = FUNCS.map((name, i) => ({ name, start: TEXT + 0x40 * i, end: TEXT + 0x40 * (i + 1), kind: KIND[name] ?? 'func', region: 'ktext' }));
const table = new SymbolTable(syms);
const ret = (fn: string): number => table.get(fn).start + 0x20;
const reference = create(builtinProfile('powerpc64-bc'));

class World {
  mem = new Memory();
  kind: 'user' | 'kthread' = 'user';
  regs: Record<string, number> = {};
  state: 'blocked' | 'running' = 'blocked';
  stacks: Snapshot['stacks'] = [{ region: 'stack-1', type: 'task' }];
  fgraph: Snapshot['fgraph'] = null;
  kretprobes: Snapshot['kretprobes'] = [];
  livepatchSp: number | undefined;
  constructor() {
    this.mem.map({ name: 'ktext', kind: 'kernel-text', base: TEXT, size: 0x10000 });
    this.mem.map({ name: 'stack-1', kind: 'task-stack', base: STACK, size: A.THREAD_SIZE, owner: '1' });
    this.mem.map({ name: 'irq-0', kind: 'irq-stack', base: IRQ, size: A.IRQ_STACK_SIZE, owner: '0' });
    this.mem.map({ name: 'stack-2', kind: 'task-stack', base: OTHER, size: A.THREAD_SIZE, owner: '2' });
  }
  /** A frame at `sp`: back chain `up`, and `lr` (the return into its function) in its LR save slot. */
  frame(sp: number, up: number, lr: number): number {
    this.mem.write64(sp, up);
    this.mem.write64(sp + 16, lr);
    return sp;
  }
  /**
   * A user task blocked in _switch: frames of system_call_exception, sys_work, work_a, work_b, schedule,
   * __schedule (each 128 bytes) below the user interrupt frame at stack_end, then _switch's (r1 = ksp) with
   * a stale return into pick_next_task in its LR save slot. Returns the frames, outermost first.
   */
  chain(end = USER_END, entry = 'system_call_common', outer = 'system_call_exception'): number[] {
    this.mem.write64(end + 16, ret(entry));
    let sp = end;
    const frames = [end];
    for (const fn of [outer, 'sys_work', 'work_a', 'work_b', 'schedule', '__schedule']) {
      sp = this.frame(sp - 128, sp, ret(fn));
      frames.push(sp);
    }
    const ksp = this.frame(sp - A.STACK_SWITCH_FRAME_SIZE, sp, ret('pick_next_task'));
    frames.push(ksp);
    this.regs = { r1: ksp, pc: table.get('_switch').start + 8 };
    return frames;
  }
  snap(): LoadedSnapshot {
    const s = makeSnapshot({
      id: 'powerpc64/test',
      arch: 'powerpc64',
      task: { pid: 1, comm: 'test', kind: this.kind, state: this.state, ...(this.livepatchSp === undefined ? {} : { livepatchSp: hex(this.livepatchSp) }) },
      regs: this.regs,
      mem: this.mem,
      syms: table,
      stacks: this.stacks,
      ptRegs: USER_END + A.STACK_INT_FRAME_REGS,
      finalFrame: this.kind === 'kthread' ? KTHREAD_END : USER_END,
      abi: { ...A },
      unwind: {},
      fgraph: this.fgraph,
      kretprobes: this.kretprobes,
    });
    return loadSnapshot(s);
  }
}

// As upstream: the walk stops at stack_end, before the return into the entry code (system_call_common).
const CHAIN = ['__schedule', 'schedule', 'work_b', 'work_a', 'sys_work', 'system_call_exception'].map(ret);
const walk = (w: World, k?: Powerpc64Knobs) => {
  const snap = w.snap();
  const r = k ? walkInProcess({ name: 'knobs', walk: (i) => walkPowerpc64(i, k) }, snap) : walkInProcess(reference, snap);
  return { ...r.result!, unsafe: unsafeAccesses(snap, r.accesses ?? []) };
};

test('a blocked user task: the first frame is skipped, each other frame reports its LR save slot, ending at stack_end (the entry code not reported)', () => {
  const w = new World();
  w.chain();
  const r = walk(w);
  assert.equal(r.rc, 0, r.reason);
  assert.deepEqual(r.trace, CHAIN);
  assert.deepEqual(r.unsafe, []);
  // The faulty knob reports the stale slot of the first frame as well.
  const f = walk(w, { firstFrameLr: true });
  assert.equal(f.trace[0], ret('pick_next_task'));
});

test('a kernel thread ends at THREAD_SIZE - STACK_FRAME_MIN_SIZE; the user-task stack_end (before c5cc3ca707bc) ends it early', () => {
  const w = new World();
  w.kind = 'kthread';
  // kthread's frame lies exactly where a user task's stack_end is.
  w.mem.write64(KTHREAD_END + 16, ret('start_kernel_thread'));
  w.frame(USER_END, KTHREAD_END, ret('kthread'));
  let sp = USER_END;
  for (const fn of ['schedule', '__schedule']) sp = w.frame(sp - 64, sp, ret(fn));
  const ksp = w.frame(sp - A.STACK_SWITCH_FRAME_SIZE, sp, 0);
  w.regs = { r1: ksp };
  const r = walk(w);
  assert.equal(r.rc, 0, r.reason);
  assert.deepEqual(r.trace, ['__schedule', 'schedule', 'kthread'].map(ret));
  const early = walk(w, { stackEndAsUser: true });
  assert.equal(early.rc, 0);
  assert.deepEqual(early.trace, ['__schedule', 'schedule'].map(ret), 'ends at kthread\'s frame: kthread is lost');
});

test('a frame holding the regs marker is an interrupt frame: rejected; trusting it walks through stale pt_regs', () => {
  const w = new World();
  const frames = w.chain();
  // A stale marker in __schedule's frame (a dead interrupt frame once lay there, a full one fits below
  // stack_end), stale pt_regs above it.
  const sched = frames[6]!;
  w.mem.write64(sched + A.STACK_INT_FRAME_MARKER, A.STACK_FRAME_REGS_MARKER);
  w.mem.write64(sched + A.STACK_INT_FRAME_REGS + A.NIP, ret('work_a'));
  const r = walk(w);
  assert.notEqual(r.rc, 0);
  assert.match(r.reason!, /regs marker/);
  const t = walk(w, { trustRegsMarker: true });
  assert.equal(t.rc, 0);
  assert.ok(!t.trace.includes(ret('__schedule')), 'the stale pt_regs replace __schedule');
  // The first frame's marker word is never looked at.
  const w2 = new World();
  const f2 = w2.chain();
  w2.mem.write64(f2[7]! + A.STACK_INT_FRAME_MARKER, A.STACK_FRAME_REGS_MARKER);
  assert.equal(walk(w2).rc, 0);
});

test('back chains that go down, past stack_end, misaligned or into another stack are rejected without unsafe reads', () => {
  for (const [name, edit] of [
    ['down', (f: number[], w: World) => w.mem.write64(f[5]!, f[7]! - 128)],
    ['past stack_end', (f: number[], w: World) => w.mem.write64(f[5]!, TOP - 16)],
    ['misaligned', (f: number[], w: World) => w.mem.write64(f[5]!, f[4]! + 4)],
    ['other task', (f: number[], w: World) => w.mem.write64(f[5]!, OTHER + 0x1000)],
    ['unmapped', (f: number[], w: World) => w.mem.write64(f[5]!, 0xc00fff000000)],
  ] as const) {
    const w = new World();
    edit(w.chain(), w);
    const r = walk(w);
    assert.notEqual(r.rc, 0, name);
    assert.deepEqual(r.unsafe, [], name);
  }
});

test('a walk that starts off the task stack (current on the hardirq stack) is rejected', () => {
  const w = new World();
  w.chain();
  w.state = 'running';
  w.stacks = [{ region: 'stack-1', type: 'task' }, { region: 'irq-0', type: 'irq' }];
  w.regs = { r1: IRQ + 0x1000, pc: ret('schedule') };
  const r = walk(w);
  assert.notEqual(r.rc, 0);
  assert.match(r.reason!, /not on the task stack/);
});

test('return_to_handler is recovered by frame; the rethook trampoline makes the walk unreliable', () => {
  const w = new World();
  const f = w.chain();
  // work_a is graph-traced: the return into sys_work, in sys_work's frame (f[2]), is return_to_handler.
  w.mem.write64(f[2]! + 16, table.get('return_to_handler').start);
  w.fgraph = { stack: [{ ret: hex(ret('sys_work')), func: hex(table.get('work_a').start), retp: hex(f[2]!) }] } as Snapshot['fgraph'];
  assert.deepEqual(walk(w).trace, CHAIN);
  assert.notEqual(walk(w, { noFgraphRecovery: true }).rc, 0);
  w.mem.write64(f[3]! + 16, table.get('arch_rethook_trampoline').start);
  const r = walk(w);
  assert.notEqual(r.rc, 0);
  assert.match(r.reason!, /kretprobed/);
});

test('a return into livepatch_handler is replaced by the real LR on the livepatch stack, innermost entry first', () => {
  const w = new World();
  const f = w.chain();
  // work_a and work_b are livepatched: the LR slots of sys_work's and work_a's frames return into livepatch_handler.
  const lp = table.get('livepatch_handler').start + 0x28;
  w.mem.write64(f[2]! + 16, lp);
  w.mem.write64(f[3]! + 16, lp);
  // The livepatch stack: the entry for work_a's call (outer) first, then work_b's; a stale third above the top.
  const entries = [ret('sys_work'), ret('work_a'), ret('schedule')];
  entries.forEach((lr, k) => {
    const e = STACK + 8 + k * A.LIVEPATCH_FRAME_SIZE;
    w.mem.write64(e + 8, lr);
    w.mem.write64(e + 16, A.STACK_END_MAGIC);
  });
  w.livepatchSp = STACK + 8 + 2 * A.LIVEPATCH_FRAME_SIZE;
  const r = walk(w);
  assert.equal(r.rc, 0, r.reason);
  assert.deepEqual(r.trace, CHAIN);
  // Ignoring the livepatch stack reports livepatch_handler twice and loses work_a and sys_work.
  const ig = walk(w, { livepatchStackIgnored: true });
  assert.deepEqual(ig.trace.filter((a) => a === lp).length, 2);
  assert.ok(!ig.trace.includes(ret('work_a')));
  // Without thread_info->livepatch_sp, or with a trashed magic word, the walk is unreliable.
  w.mem.write64(STACK + 8 + A.LIVEPATCH_FRAME_SIZE + 16, 0);
  assert.match(walk(w).reason!, /STACK_END_MAGIC/);
  w.livepatchSp = undefined;
  assert.notEqual(walk(w).rc, 0);
});

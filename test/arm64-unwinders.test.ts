/**
 * arm64-fp and arm64-meta on hand-built snapshots. Each test lays out frame records, pt_regs and
 * tracing state by hand, so the true chain is known because the test built it; expected traces
 * are written from that layout, never from an unwinder's answer.
 */
import { unhex } from '../src/machine/addr';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ARM64_ABI as A } from '../src/isa/arm64/abi';
import { Memory } from '../src/machine/memory';
import { SymbolTable, type KSymbol } from '../src/machine/symbols';
import { unsafeAccesses } from '../src/oracle/oracle';
import { hex, loadSnapshot, makeSnapshot, type LoadedSnapshot } from '../src/snapshot/io';
import type { Arm64MetaEntry, Snapshot } from '../src/snapshot/types';
import { walkInProcess } from '../src/unwinders/registry';
import type { Profile, ProfileClaims } from '../src/unwinders/types';
import { create as createFp } from '../src/unwinders/arm64-fp';
import { create as createMeta } from '../src/unwinders/arm64-meta';

const TEXT = 0x800080010000;
const FOREIGN = 0x800080030000;
const STACK = 0x800080100000; // task 1
const IRQ = 0x800080200000; // this CPU's IRQ stack
const NMI = 0x800080280000; // this CPU's NMI stack
const OTHER = 0x800080300000; // task 2
const SZ = A.THREAD_SIZE;

// Every function is 0x40 bytes: stp x29,x30 (+0), mov x29,sp (+4), body, ldp (+0x38), ret (+0x3c).
const FUNCS = ['sys_work', 'work_a', 'work_b', 'work_c', 'schedule', '__schedule', 'irq_handler', 'nmi_handler', 'nonstd_fn', 'nometa_fn'];
const syms: KSymbol[] = [{ name: 'el0_sync', start: TEXT, end: TEXT + 0x40, kind: 'code', region: 'ktext', entry: true }];
FUNCS.forEach((name, i) => syms.push({ name, start: TEXT + 0x40 * (i + 1), end: TEXT + 0x40 * (i + 2), kind: 'func', region: 'ktext', ...(name === 'nonstd_fn' ? { nonStandard: true } : {}) }));
const N = FUNCS.length + 1;
syms.push({ name: 'el1_irq', start: TEXT + 0x40 * N, end: TEXT + 0x40 * (N + 1), kind: 'code', region: 'ktext' });
syms.push({ name: 'return_to_handler', start: TEXT + 0x40 * (N + 1), end: TEXT + 0x40 * (N + 2), kind: 'return-trampoline', region: 'ktext' });
syms.push({ name: '__kretprobe_trampoline', start: TEXT + 0x40 * (N + 2), end: TEXT + 0x40 * (N + 3), kind: 'return-trampoline', region: 'ktext' });
syms.push({ name: 'efi_get_time', start: FOREIGN, end: FOREIGN + 0x40, kind: 'foreign', region: 'efi' });
const table = new SymbolTable(syms);
const at = (fn: string, off = 0): number => table.get(fn).start + off;

/** What the analyser would emit for a standard function, and for the entry code. */
function metadata(): Arm64MetaEntry[] {
  const m: Arm64MetaEntry[] = [];
  for (const fn of FUNCS) {
    if (fn === 'nometa_fn') continue;
    m.push({ ip: hex(at(fn, 0)), ra: 'lr', fp: 'caller', type: 'call' });
    m.push({ ip: hex(at(fn, 8)), ra: 'frame', fp: 'own', type: 'call' });
    m.push({ ip: hex(at(fn, 0x3c)), ra: 'lr', fp: 'caller', type: 'call' });
  }
  // Entry code: after the call into C, x29 is the FINAL record (el0_sync) or a PT_REGS one (el1_irq).
  for (const [fn, type] of [['el0_sync', 'end_of_stack'], ['el1_irq', 'regs']] as const) {
    m.push({ ip: hex(at(fn, 0)), ra: 'unknown', fp: 'unknown', type: 'undefined' });
    m.push({ ip: hex(at(fn, 0x20)), ra: 'frame', fp: 'own', type });
    m.push({ ip: hex(at(fn, 0x24)), ra: 'unknown', fp: 'unknown', type: 'undefined' });
  }
  for (const fn of ['return_to_handler', '__kretprobe_trampoline']) m.push({ ip: hex(at(fn, 0)), ra: 'unknown', fp: 'unknown', type: 'undefined' });
  return m;
}

const claims: ProfileClaims = {
  unwindsAcrossIrq: true,
  unwindsAcrossNmi: false,
  identifiesReliableExceptionUnwind: true,
  recoversFgraphReturns: true,
  recoversKretprobeReturns: true,
  unwindsInsideReturnToHandler: false,
  usesCompileTimeAnalysis: true,
  usesUnwindMetadata: true,
  checksTermination: true,
};
const profile = (name: string, unwinder: string, options?: Profile['options']): Profile => ({ name, arch: 'arm64', unwinder, description: 'test', reference: false, claims, ...(options ? { options } : {}) });
const fp = createFp(profile('arm64-fp', 'frame-pointer'));
const meta = createMeta(profile('arm64-meta', 'metadata', { nmiPolicy: 'reject' }));
const metaNmi = createMeta(profile('arm64-meta-nmi', 'metadata', { nmiPolicy: 'unwind' }));

/** A hand-built world: memory, a task stack with task_pt_regs (FINAL) at its top, and frame records. */
class World {
  mem = new Memory();
  ptRegs = STACK + SZ - A.PT_REGS_SIZE;
  finalFrame = this.ptRegs + A.S_STACKFRAME;
  regs: Record<string, number> = {};
  state: 'blocked' | 'running' = 'blocked';
  stacks: Snapshot['stacks'] = [{ region: 'stack-1', type: 'task' }];
  fgraph: Snapshot['fgraph'] = null;
  kretprobes: Snapshot['kretprobes'] = [];
  unwind: Arm64MetaEntry[] = metadata();

  constructor() {
    this.mem.map({ name: 'ktext', kind: 'kernel-text', base: TEXT, size: 0x10000 });
    this.mem.map({ name: 'efi', kind: 'foreign-text', base: FOREIGN, size: 0x1000 });
    this.mem.map({ name: 'stack-1', kind: 'task-stack', base: STACK, size: SZ, owner: '1' });
    this.mem.map({ name: 'irq-0', kind: 'irq-stack', base: IRQ, size: A.IRQ_STACK_SIZE, owner: '0' });
    this.mem.map({ name: 'nmi-0', kind: 'nmi-stack', base: NMI, size: A.IRQ_STACK_SIZE, owner: '0' });
    this.mem.map({ name: 'stack-2', kind: 'task-stack', base: OTHER, size: SZ, owner: '2' });
    this.meta(this.finalFrame, A.FRAME_META_TYPE_FINAL);
  }
  record(addr: number, fp: number, lr: number): number {
    this.mem.write64(addr, fp);
    this.mem.write64(addr + 8, lr);
    return addr;
  }
  /** A zeroed frame record with a frame_record_meta type. */
  meta(addr: number, type: number): void {
    this.record(addr, 0, 0);
    this.mem.write64(addr + 16, type);
  }
  /**
   * pt_regs of an exception boundary at `base`; returns &regs->stackframe. The stackframe record
   * is zeroed with a PT_REGS meta type (kernel v6.13+), or with `mirror` holds the interrupted
   * {x29, pc} as kernels before v6.13 stored it.
   */
  mirror = false;
  ptregs(base: number, r: { pc: number; lr: number; fp: number; pstate?: number }): number {
    this.mem.write64(base + A.S_PC, r.pc);
    this.mem.write64(base + A.S_LR, r.lr);
    this.mem.write64(base + A.S_FP, r.fp);
    this.mem.write64(base + A.S_SP, base + A.PT_REGS_SIZE);
    this.mem.write64(base + A.S_PSTATE, r.pstate ?? A.PSR_MODE_EL1h);
    this.meta(base + A.S_STACKFRAME, A.FRAME_META_TYPE_PT_REGS);
    if (this.mirror) this.record(base + A.S_STACKFRAME, r.fp, r.pc);
    return base + A.S_STACKFRAME;
  }
  snapshot(): LoadedSnapshot {
    const snap = makeSnapshot({
      id: 'hand/arm64',
      arch: 'arm64',
      task: { pid: 1, comm: 'hand', kind: 'user', state: this.state },
      regs: this.regs,
      mem: this.mem,
      syms: table,
      stacks: this.stacks,
      ptRegs: this.ptRegs,
      finalFrame: this.finalFrame,
      abi: { ...A },
      unwind: { arm64: this.unwind },
      fgraph: this.fgraph,
      kretprobes: this.kretprobes,
    });
    return loadSnapshot(JSON.parse(JSON.stringify(snap)), 'hand-built');
  }
}

/**
 * Blocked user task: el0_sync (x29 = final record) -> sys_work -> work_a -> work_b -> schedule ->
 * __schedule -> cpu_switch_to (leaf). Returns the records and the true trace.
 */
function blocked(w = new World()) {
  const top = w.ptRegs;
  const r1 = w.record(top - 0x20, w.finalFrame, at('el0_sync', 0x20)); // sys_work's record
  const ra = w.record(top - 0x60, r1, at('sys_work', 0x10)); // work_a
  const rb = w.record(top - 0xa0, ra, at('work_a', 0x14)); // work_b
  const rs = w.record(top - 0xe0, rb, at('work_b', 0x18)); // schedule
  const r_ = w.record(top - 0x120, rs, at('schedule', 0x10)); // __schedule
  w.regs = { pc: at('__schedule', 0x20), sp: top - 0x140, x29: r_, x30: at('__schedule', 0x20) };
  const trace = [at('__schedule', 0x20), at('schedule', 0x10), at('work_b', 0x18), at('work_a', 0x14), at('sys_work', 0x10), at('el0_sync', 0x20)];
  return { w, r1, ra, rb, rs, r_, trace };
}

function run(u: typeof fp, snap: LoadedSnapshot) {
  const rec = walkInProcess(u, snap, 10_000);
  assert.equal(rec.error, undefined, rec.error);
  assert.equal(rec.runaway, undefined);
  const unsafe = unsafeAccesses(snap, rec.accesses ?? []);
  assert.deepEqual(unsafe, [], `read outside the accessible stacks: ${JSON.stringify(unsafe)}`);
  return { ...rec.result!, reads: rec.accesses?.length ?? 0 };
}

const names = (t: number[]) => t.map((a) => table.describe(a));

test('a good chain of a blocked task: rc 0 with exactly the built chain, on both unwinders', () => {
  const { w, trace } = blocked();
  for (const u of [fp, meta]) {
    const r = run(u, w.snapshot());
    assert.equal(r.rc, 0, `${u.name}: ${r.reason}`);
    assert.deepEqual(names(r.trace), names(trace));
    assert.ok(r.reads <= 3 * trace.length + 3, `${u.name}: ${r.reads} reads`);
  }
});

const corruptions: [string, (b: ReturnType<typeof blocked>) => void][] = [
  ['misaligned', (b) => b.w.record(b.rb, b.ra + 4, at('work_a', 0x14))],
  ['unmapped', (b) => b.w.record(b.rb, 0x7000_0000, at('work_a', 0x14))],
  ['zero (fp 0 before the final record)', (b) => b.w.record(b.rb, 0, at('work_a', 0x14))],
  ['other task', (b) => {
    b.w.record(OTHER + 0x100, OTHER + 0x200, at('sys_work', 0x10));
    b.w.record(b.rb, OTHER + 0x100, at('work_a', 0x14));
  }],
  ['cyclic', (b) => b.w.record(b.rb, b.rs, at('work_a', 0x14))],
  ['self loop', (b) => b.w.record(b.rb, b.rb, at('work_a', 0x14))],
  ['downward', (b) => {
    b.w.record(b.rb - 0x200, b.ra, at('sys_work', 0x10));
    b.w.record(b.rb, b.rb - 0x200, at('work_a', 0x14));
  }],
  ['into the IRQ stack (not a stack this walk started from)', (b) => {
    b.w.stacks.push({ region: 'irq-0', type: 'irq' });
    b.w.record(IRQ + 0x100, b.ra, at('sys_work', 0x10));
    b.w.record(b.rb, IRQ + 0x100, at('work_a', 0x14));
  }],
  ['garbage return address', (b) => b.w.record(b.rb, b.ra, 0x1234)],
  ['return address in foreign code', (b) => b.w.record(b.rb, b.ra, at('efi_get_time', 8))],
  ['FINAL record in the wrong place', (b) => b.w.meta(b.ra, A.FRAME_META_TYPE_FINAL)],
  ['zeroed record of unknown meta type', (b) => b.w.meta(b.ra, 7)],
  ['final frame missing (chain ends at a zero record past the top)', (b) => b.w.meta(b.w.finalFrame, A.FRAME_META_TYPE_NONE)],
];
for (const [what, corrupt] of corruptions) {
  test(`corrupt chain (${what}): non-zero, no read outside accessible stacks, bounded reads`, () => {
    const b = blocked();
    corrupt(b);
    for (const u of [fp, meta]) {
      const r = run(u, b.w.snapshot());
      assert.notEqual(r.rc, 0, `${u.name} claimed ${names(r.trace).join(' < ')}`);
      assert.ok(r.reason && r.reason.length > 0);
      assert.ok(r.reads <= 40, `${u.name}: ${r.reads} reads`);
    }
  });
}

test('a stack once left is never re-entered: IRQ stack -> task stack -> IRQ stack is rejected', () => {
  const w = new World();
  w.state = 'running';
  w.stacks.push({ region: 'irq-0', type: 'irq' });
  const top = w.ptRegs;
  const r1 = w.record(top - 0x20, w.finalFrame, at('el0_sync', 0x20));
  const back = w.record(IRQ + 0x300, r1, at('sys_work', 0x10)); // above the handler's record
  const ra = w.record(top - 0x60, back, at('sys_work', 0x10));
  const rh = w.record(IRQ + 0x100, ra, at('work_a', 0x14));
  w.regs = { pc: at('irq_handler', 0x10), x29: rh, x30: 0, sp: IRQ + 0xf0 };
  for (const u of [fp, meta]) {
    const r = run(u, w.snapshot());
    assert.notEqual(r.rc, 0, `${u.name} claimed ${names(r.trace).join(' < ')}`);
    assert.match(r.reason!, /not on an accessible stack/);
  }
});

/**
 * A running task interrupted by an IRQ in `interrupted` (pc, lr, x29 as the CPU had them), walked
 * from the IRQ handler on the IRQ stack. Frames: el0_sync -> sys_work -> work_a -> work_b, and
 * work_b either has its own record (body) or not (prologue/leaf state).
 */
function irqWorld(interrupted: 'body' | 'after-bl' | 'entry' | 'prologue' | 'epilogue', opts: { pstate?: number; nmiStack?: boolean; mirror?: boolean } = {}) {
  const w = new World();
  w.mirror = !!opts.mirror;
  w.state = 'running';
  w.stacks.push({ region: 'irq-0', type: 'irq' });
  if (opts.nmiStack) w.stacks.push({ region: 'nmi-0', type: 'nmi' });
  const top = w.ptRegs;
  const r1 = w.record(top - 0x20, w.finalFrame, at('el0_sync', 0x20));
  const ra = w.record(top - 0x60, r1, at('sys_work', 0x10));
  const hasOwn = interrupted === 'body' || interrupted === 'after-bl';
  const rb = hasOwn ? w.record(top - 0xa0, ra, at('work_a', 0x14)) : 0;
  const pcOff = { body: 0x18, 'after-bl': 0x1c, entry: 0, prologue: 4, epilogue: 0x3c }[interrupted];
  // After a BL returned, LR still points into work_b itself: a stale value the unwinder must not use.
  const lr = interrupted === 'after-bl' ? at('work_b', 0x1c) : at('work_a', 0x14);
  const regsBase = top - 0x100 - A.PT_REGS_SIZE;
  const sf = w.ptregs(regsBase, { pc: at('work_b', pcOff), lr, fp: hasOwn ? rb : ra, ...(opts.pstate !== undefined ? { pstate: opts.pstate } : {}) });
  const hstack = opts.nmiStack ? NMI : IRQ;
  const rh = w.record(hstack + 0x200, sf, at('el1_irq', 0x20)); // irq_handler's record, linking to the pt_regs
  w.regs = { pc: at('irq_handler', 0x10), x29: rh, x30: at('el1_irq', 0x20), sp: hstack + 0x1f0 };
  const truth = [at('irq_handler', 0x10), at('el1_irq', 0x20), at('work_b', pcOff), at('work_a', 0x14), at('sys_work', 0x10), at('el0_sync', 0x20)];
  return { w, truth };
}

for (const where of ['body', 'after-bl', 'entry', 'prologue', 'epilogue'] as const) {
  test(`IRQ in work_b (${where}, zeroed stackframe): arm64-fp rejects the PT_REGS record, arm64-meta unwinds it exactly`, () => {
    const { w, truth } = irqWorld(where);
    const snap = w.snapshot();
    const f = run(fp, snap);
    assert.notEqual(f.rc, 0);
    assert.match(f.reason!, /exception boundary/);
    const m = run(meta, snap);
    assert.equal(m.rc, 0, m.reason);
    assert.deepEqual(names(m.trace), names(truth));
  });
}

test('a pre-v6.13 stackframe (copies of {x29, pc}) is an ordinary record to the v6.13 walk: only {0, 0} is looked at as meta', () => {
  const { w, truth } = irqWorld('body', { mirror: true });
  const f = run(fp, w.snapshot());
  assert.equal(f.rc, 0, f.reason);
  assert.deepEqual(names(f.trace), names(truth));
});

test('IRQ where the table says the return address is unknown: arm64-meta rejects', () => {
  const { w } = irqWorld('body');
  w.unwind = w.unwind.map((e) => (e.ip === hex(at('work_b', 8)) ? { ...e, ra: 'unknown' } : e));
  const m = run(meta, w.snapshot());
  assert.notEqual(m.rc, 0);
  assert.match(m.reason!, /undefined/);
});

test('IRQ in a function without metadata, a non-standard function, or foreign code: arm64-meta rejects', () => {
  for (const fn of ['nometa_fn', 'nonstd_fn', 'efi_get_time']) {
    const { w } = irqWorld('body');
    const regsBase = w.ptRegs - 0x100 - A.PT_REGS_SIZE;
    w.mem.write64(regsBase + A.S_PC, at(fn, 0x18));
    const m = run(meta, w.snapshot());
    assert.notEqual(m.rc, 0, `${fn}: ${names(m.trace).join(' < ')}`);
  }
});

test('IRQ interrupting return_to_handler: arm64-meta rejects (spec 3.4 does not require it)', () => {
  const { w } = irqWorld('entry');
  w.mem.write64(w.ptRegs - 0x100 - A.PT_REGS_SIZE + A.S_PC, at('return_to_handler', 8));
  w.unwind = w.unwind.filter((e) => e.ip !== hex(at('return_to_handler')));
  w.unwind.push({ ip: hex(at('return_to_handler')), ra: 'lr', fp: 'caller' }); // even if the table were wrong
  const m = run(meta, w.snapshot());
  assert.notEqual(m.rc, 0);
});

test('NMI (IRQs masked in the interrupted PSTATE): rejected under nmiPolicy reject, unwound under unwind', () => {
  const { w, truth } = irqWorld('prologue', { pstate: A.PSR_MODE_EL1h | 0x80 });
  const snap = w.snapshot();
  const m = run(meta, snap);
  assert.notEqual(m.rc, 0);
  assert.match(m.reason!, /NMI/);
  const n = run(metaNmi, snap);
  assert.equal(n.rc, 0, n.reason);
  assert.deepEqual(names(n.trace), names(truth));
});

test('NMI (handler on the NMI stack): rejected under nmiPolicy reject', () => {
  const { w, truth } = irqWorld('body', { nmiStack: true });
  const snap = w.snapshot();
  assert.notEqual(run(meta, snap).rc, 0);
  const n = run(metaNmi, snap);
  assert.equal(n.rc, 0, n.reason);
  assert.deepEqual(names(n.trace), names(truth));
});

test('pt_regs that are not wholly on an accessible stack are never read', () => {
  const { w } = irqWorld('body');
  // Point the handler's record at a "stackframe" whose pt_regs would start below the IRQ stack.
  w.meta(IRQ + 0x10, A.FRAME_META_TYPE_PT_REGS);
  w.record(IRQ, IRQ + 0x10, at('el1_irq', 0x20));
  w.regs['x29'] = IRQ;
  const m = run(meta, w.snapshot());
  assert.notEqual(m.rc, 0);
  assert.match(m.reason!, /pt_regs/);
});

/** work_b traced by the function graph tracer: its saved LR is return_to_handler, keyed by work_a's record. */
function fgraphWorld() {
  const b = blocked();
  b.w.record(b.rb, b.ra, at('return_to_handler'));
  b.w.fgraph = { stack: [{ ret: hex(at('work_a', 0x14)), func: hex(at('work_b')), retp: hex(b.ra) }] };
  return b;
}

test('fgraph: return_to_handler in a frame record is recovered through ret_stack', () => {
  const b = fgraphWorld();
  for (const u of [fp, meta]) {
    const r = run(u, b.w.snapshot());
    assert.equal(r.rc, 0, `${u.name}: ${r.reason}`);
    assert.deepEqual(names(r.trace), names(b.trace));
  }
});

test('fgraph: two traced functions are recovered in order from the innermost entry', () => {
  const b = fgraphWorld();
  b.w.record(b.ra, b.r1, at('return_to_handler')); // work_a traced too (entry pushed first)
  b.w.fgraph = {
    stack: [
      { ret: hex(at('sys_work', 0x10)), func: hex(at('work_a')), retp: hex(b.r1) },
      { ret: hex(at('work_a', 0x14)), func: hex(at('work_b')), retp: hex(b.ra) },
    ],
  };
  for (const u of [fp, meta]) {
    const r = run(u, b.w.snapshot());
    assert.equal(r.rc, 0, `${u.name}: ${r.reason}`);
    assert.deepEqual(names(r.trace), names(b.trace));
  }
});

test('fgraph: failed recovery (wrong key, or no ret_stack) is an error', () => {
  for (const variant of ['wrong-key', 'no-ret-stack'] as const) {
    const b = fgraphWorld();
    b.w.fgraph = variant === 'no-ret-stack' ? null : { stack: [{ ret: hex(at('work_a', 0x14)), func: hex(at('work_b')), retp: hex(b.r1) }] };
    for (const u of [fp, meta]) {
      const r = run(u, b.w.snapshot());
      assert.notEqual(r.rc, 0, `${u.name} (${variant}) claimed ${names(r.trace).join(' < ')}`);
      assert.match(r.reason!, /return_to_handler/);
    }
  }
});

test('kretprobe: __kretprobe_trampoline is recovered through the instance list; a missing instance is an error', () => {
  const b = blocked();
  b.w.record(b.rs, b.rb, at('__kretprobe_trampoline')); // schedule's return rewritten
  b.w.kretprobes = [{ ret: hex(at('work_b', 0x18)), func: hex(at('schedule')), retp: hex(b.rb) }];
  for (const u of [fp, meta]) {
    const r = run(u, b.w.snapshot());
    assert.equal(r.rc, 0, `${u.name}: ${r.reason}`);
    assert.deepEqual(names(r.trace), names(b.trace));
  }
  b.w.kretprobes = [];
  for (const u of [fp, meta]) assert.notEqual(run(u, b.w.snapshot()).rc, 0);
});

test('kretprobe: an instance that recorded the trampoline itself (tail call) is skipped, as __kretprobe_find_ret_addr() does', () => {
  // As a tail call between two kretprobed functions leaves them: two instances keyed by work_b's
  // record, the newest recorded the trampoline as its return address, the older the real one.
  const b = blocked();
  b.w.record(b.rs, b.rb, at('__kretprobe_trampoline'));
  b.w.kretprobes = [
    { ret: hex(at('__kretprobe_trampoline')), func: hex(at('__schedule')), retp: hex(b.rb) },
    { ret: hex(at('work_b', 0x18)), func: hex(at('schedule')), retp: hex(b.rb) },
  ];
  for (const u of [fp, meta]) {
    const r = run(u, b.w.snapshot());
    assert.equal(r.rc, 0, `${u.name}: ${r.reason}`);
    assert.deepEqual(names(r.trace), names(b.trace));
  }
  // Only trampoline-recording instances: nothing to recover, an error.
  b.w.kretprobes = [{ ret: hex(at('__kretprobe_trampoline')), func: hex(at('schedule')), retp: hex(b.rb) }];
  for (const u of [fp, meta]) assert.match(run(u, b.w.snapshot()).reason ?? '', /__kretprobe_trampoline/);
});

test('fgraph at an exception boundary in the LR state: arm64-meta recovers the LR keyed by the caller record', () => {
  const { w, truth } = irqWorld('prologue');
  const regsBase = w.ptRegs - 0x100 - A.PT_REGS_SIZE;
  const ra = w.mem.read64(regsBase + A.S_FP);
  w.mem.write64(regsBase + A.S_LR, at('return_to_handler'));
  w.fgraph = { stack: [{ ret: hex(at('work_a', 0x14)), func: hex(at('work_b')), retp: hex(ra) }] };
  const m = run(meta, w.snapshot());
  assert.equal(m.rc, 0, m.reason);
  assert.deepEqual(names(m.trace), names(truth));
});

test('arm64-meta: a return address into a function without its own frame record is rejected (its caller would be skipped)', () => {
  // fp-protocol violation: work_b called schedule before setting up its frame, so x29 was work_a's
  // record and schedule's record skips work_b's own return address (sys_work's call is lost).
  const b = blocked();
  b.w.unwind.push({ ip: hex(at('work_b', 0x18)), ra: 'unknown', fp: 'caller', type: 'call' }, { ip: hex(at('work_b', 0x1c)), ra: 'frame', fp: 'own', type: 'call' });
  b.w.unwind.sort((x, y) => unhex(x.ip) - unhex(y.ip));
  const r = run(meta, b.w.snapshot());
  assert.notEqual(r.rc, 0);
  assert.match(r.reason!, /call site/);
});

test('arm64-meta: a running task whose pc is still in a prologue starts from LR', () => {
  const w = new World();
  w.state = 'running';
  const top = w.ptRegs;
  const r1 = w.record(top - 0x20, w.finalFrame, at('el0_sync', 0x20));
  const ra = w.record(top - 0x60, r1, at('sys_work', 0x10));
  w.regs = { pc: at('work_b', 4), x29: ra, x30: at('work_a', 0x14), sp: top - 0x90 };
  const m = run(meta, w.snapshot());
  assert.equal(m.rc, 0, m.reason);
  assert.deepEqual(names(m.trace), names([at('work_b', 4), at('work_a', 0x14), at('sys_work', 0x10), at('el0_sync', 0x20)]));
});

test('arm64-meta rejects an invalid nmiPolicy option', () => {
  assert.throws(() => createMeta(profile('bad', 'metadata', { nmiPolicy: 'maybe' })), /nmiPolicy/);
});

test('an ordinary frame record with a PT_REGS-looking type word after it is not an exception boundary', () => {
  const b = blocked();
  // The word above work_a's record happens to equal FRAME_META_TYPE_PT_REGS.
  b.w.mem.write64(b.ra + 16, A.FRAME_META_TYPE_PT_REGS);
  for (const u of [fp, meta]) {
    const r = run(u, b.w.snapshot());
    assert.equal(r.rc, 0, `${u.name}: ${r.reason}`);
    assert.deepEqual(names(r.trace), names(b.trace));
  }
});

test('a return address into a STACK_FRAME_NON_STANDARD function is rejected by both', () => {
  const b = blocked();
  b.w.record(b.rs, b.rb, at('nonstd_fn', 0x18));
  for (const u of [fp, meta]) {
    const r = run(u, b.w.snapshot());
    assert.notEqual(r.rc, 0);
    assert.match(r.reason!, /STACK_FRAME_NON_STANDARD/);
  }
});

test('arm64-meta: entry code whose x29 is not the meta record its metadata promises is rejected', () => {
  // sys_work's record claims to return into el0_sync (end_of_stack), but links to another record.
  const b = blocked();
  const fake = b.w.record(b.w.ptRegs - 0x10, b.w.finalFrame, at('el0_sync', 0x20));
  b.w.record(b.r1, fake, at('el0_sync', 0x20));
  const r = run(meta, b.w.snapshot());
  assert.notEqual(r.rc, 0);
  assert.match(r.reason!, /entry code/);
});

test('walkInProcess: an answer the oracle cannot read (no rc, non-integer or negative addresses) is an error, not a verdict', () => {
  const snap = blocked().w.snapshot();
  const answers: unknown[] = [undefined, { trace: [] }, { rc: 0, trace: [1.5] }, { rc: 0, trace: [-8] }, { rc: 0, trace: 'x' }, { rc: 0.5, trace: [] }];
  for (const a of answers) {
    const rec = walkInProcess({ name: 'garbage', walk: () => a as never }, snap);
    assert.match(rec.error ?? '', /unwinder garbage answered garbage/, JSON.stringify(a));
    assert.equal(rec.result, undefined);
  }
  assert.equal(walkInProcess({ name: 'fine', walk: () => ({ rc: -22, trace: [at('schedule', 0x10)] }) }, snap).error, undefined);
});

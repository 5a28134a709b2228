/**
 * Hand-built x86_64 layouts for the reference unwinder tests: a tiny kernel (symbols + ORC entries
 * written by hand) and a CPU-like stack writer, so each test knows the true chain because it built it.
 */
import { Memory } from '../src/machine/memory';
import { SymbolTable, type KSymbol, type SymbolKind } from '../src/machine/symbols';
import { loadSnapshot, makeSnapshot, hex, type LoadedSnapshot } from '../src/snapshot/io';
import type { FgraphEntry, OrcEntry, SnapshotStack } from '../src/snapshot/types';
import { X86_64_ABI as A } from '../src/isa/x86_64/abi';

export const TEXT = 0x1000_0000;
export const TASK = 0x2000_0000;
export const IRQ = 0x3000_0000;
export const OTHER = 0x4000_0000;
export const NMI = 0x5000_0000;
export const EFI = 0x6000_0000;
export const SIZE = 0x4000;
export const PT_REGS = TASK + SIZE - A.PT_REGS_SIZE;
/** Every function calls at +0x10 and resumes at +0x15. */
export const CALL = 0x10;
export const RET = 0x15;

const orc = (ip: number, spReg: OrcEntry['spReg'], spOffset: number, bpReg: OrcEntry['bpReg'], bpOffset: number, type: OrcEntry['type']): OrcEntry => ({
  ip: hex(ip),
  spReg,
  spOffset,
  bpReg,
  bpOffset,
  type,
});

const FUNCS: [string, SymbolKind, boolean?][] = [
  ['entry_SYSCALL_64', 'code', true],
  ['ret_from_fork_asm', 'code', true],
  ['irq_entry', 'code'],
  ['nmi_entry', 'code'],
  ['sys_work', 'func'],
  ['work_a', 'func'],
  ['work_b', 'func'],
  ['work_c', 'func'],
  ['schedule', 'func'],
  ['__schedule', 'func'],
  ['kthread', 'func'],
  ['worker_thread', 'func'],
  ['irq_handler', 'func'],
  ['nmi_handler', 'func'],
  ['no_orc_fn', 'func'],
  ['undef_fn', 'func'],
  ['return_to_handler', 'return-trampoline'],
  ['arch_rethook_trampoline', 'return-trampoline'],
];

export function sym(name: string): number {
  const i = FUNCS.findIndex((f) => f[0] === name);
  if (i < 0) throw new Error(name);
  return TEXT + i * 0x100;
}

/** A standard frame function: push %rbp at +0, mov %rsp,%rbp at +1, body from +4. */
function stdOrc(start: number): OrcEntry[] {
  return [orc(start, 'sp', 8, 'undefined', 0, 'call'), orc(start + 1, 'sp', 16, 'prev_sp', -16, 'call'), orc(start + 4, 'bp', 16, 'prev_sp', -16, 'call')];
}

export function kernelOrc(): OrcEntry[] {
  const out: OrcEntry[] = [];
  for (const [name, kind] of FUNCS) {
    const s = sym(name);
    if (kind === 'func' && name !== 'no_orc_fn' && name !== 'undef_fn') out.push(...stdOrc(s));
  }
  // Syscall entry: pt_regs at sp while it calls the syscall.
  out.push(orc(sym('entry_SYSCALL_64'), 'sp', 0, 'undefined', 0, 'regs'));
  // Kernel threads start here (UNWIND_HINT_END_OF_STACK).
  out.push(orc(sym('ret_from_fork_asm'), 'undefined', 0, 'undefined', 0, 'end_of_stack'));
  // IRQ entry on the IRQ stack: the task's sp (pointing at pt_regs) is saved at the top (call_on_irqstack).
  out.push(orc(sym('irq_entry'), 'undefined', 0, 'undefined', 0, 'undefined'));
  out.push(orc(sym('irq_entry') + 0x20, 'sp_indirect', 0, 'undefined', 0, 'regs'));
  // NMI entry: pt_regs on the NMI stack at sp.
  out.push(orc(sym('nmi_entry'), 'sp', 0, 'undefined', 0, 'regs'));
  out.push(orc(sym('undef_fn'), 'undefined', 0, 'undefined', 0, 'undefined'));
  out.push(orc(sym('return_to_handler'), 'undefined', 0, 'undefined', 0, 'undefined'));
  out.push(orc(sym('arch_rethook_trampoline'), 'undefined', 0, 'undefined', 0, 'undefined'));
  return out;
}

/** A CPU-like writer: push, call, prologue, as compiled code would leave the stack. */
export class Cpu {
  readonly mem = new Memory();
  rsp = PT_REGS;
  rbp = 0x7ffc_0100;
  /** Return addresses pushed, outermost first. */
  readonly rets: number[] = [];
  /** Address of each return-address slot, parallel to rets. */
  readonly slots: number[] = [];

  constructor() {
    this.mem.map({ name: 'ktext', kind: 'kernel-text', base: TEXT, size: 0x10000 });
    this.mem.map({ name: 'efi', kind: 'foreign-text', base: EFI, size: 0x1000 });
    this.mem.map({ name: 'task-stack', kind: 'task-stack', base: TASK, size: SIZE, owner: '100' });
    this.mem.map({ name: 'irq-stack', kind: 'irq-stack', base: IRQ, size: SIZE, owner: '0' });
    this.mem.map({ name: 'nmi-stack', kind: 'nmi-stack', base: NMI, size: SIZE, owner: '0' });
    this.mem.map({ name: 'other-stack', kind: 'task-stack', base: OTHER, size: SIZE, owner: '200' });
  }

  push(v: number): number {
    this.rsp -= 8;
    this.mem.write64(this.rsp, v);
    return this.rsp;
  }

  /** `fn` calls the next function from +CALL. */
  call(fn: string, at = CALL + 5): void {
    const r = sym(fn) + at;
    this.slots.push(this.push(r));
    this.rets.push(r);
  }

  /** push %rbp; mov %rsp,%rbp; sub $locals,%rsp */
  prologue(locals = 16): number {
    this.push(this.rbp);
    this.rbp = this.rsp;
    this.rsp -= locals;
    return this.rbp;
  }

  /** Write a pt_regs at `at` with the given ip/sp/bp and cs. */
  ptRegs(at: number, ip: number, sp: number, bp: number, cs: number): void {
    this.mem.write64(at + A.PT_RIP, ip);
    this.mem.write64(at + A.PT_RSP, sp);
    this.mem.write64(at + A.PT_RBP, bp);
    this.mem.write64(at + A.PT_CS, cs);
    this.mem.write64(at + A.PT_SS, 0x2b);
    this.mem.write64(at + A.PT_EFLAGS, 0x246);
  }

  /** User task entering the kernel by syscall: user pt_regs at task_pt_regs, entry calls sys_work. */
  syscall(): void {
    this.ptRegs(PT_REGS, 0x40_1000, 0x7ffc_0000, this.rbp, A.USER_CS);
    this.rsp = PT_REGS;
    this.call('entry_SYSCALL_64', 0x25);
    this.prologue();
  }

  /** Kernel thread: kernel pt_regs (zeroed) at task_pt_regs, ret_from_fork_asm calls kthread. */
  kthread(): void {
    this.ptRegs(PT_REGS, 0, 0, 0, 0);
    this.rsp = PT_REGS;
    this.rbp = 0;
    this.call('ret_from_fork_asm');
    this.prologue();
  }

  /** The current function (whose frame is set up) calls `callee`'s caller chain: fn calls, callee's prologue runs. */
  into(fn: string, locals = 16): void {
    this.call(fn);
    this.prologue(locals);
  }

  /** __schedule calls __switch_to_asm, which pushes the inactive_task_frame; returns thread.sp. */
  switchOut(): number {
    this.call('__schedule');
    this.push(this.rbp); // rbp
    for (let i = 0; i < 5; i++) this.push(0x1111 * (i + 1)); // rbx r12 r13 r14 r15
    return this.rsp;
  }

  /** Expected reliable trace: the return addresses innermost first, after `pcs`. */
  expected(...pcs: number[]): number[] {
    return [...pcs, ...[...this.rets].reverse()];
  }
}

export interface SnapOpts {
  state: 'running' | 'blocked';
  regs: Record<string, number>;
  kind?: 'user' | 'kthread';
  stacks?: SnapshotStack[];
  orc?: OrcEntry[];
  fgraph?: FgraphEntry[] | null;
  kretprobes?: FgraphEntry[];
}

export function snapshotOf(cpu: Cpu, o: SnapOpts): LoadedSnapshot {
  const syms = new SymbolTable(
    FUNCS.map(
      ([name, kind, entry]): KSymbol => ({ name, start: sym(name), end: sym(name) + 0x100, kind, region: 'ktext', ...(entry ? { entry: true } : {}) }),
    ).concat([{ name: 'efi_get_time', start: EFI, end: EFI + 0x100, kind: 'foreign', region: 'efi' }]),
  );
  const snap = makeSnapshot({
    id: 'hand/x86_64',
    arch: 'x86_64',
    task: { pid: 100, comm: 'hand', kind: o.kind ?? 'user', state: o.state },
    regs: o.regs,
    mem: cpu.mem,
    syms,
    stacks: o.stacks ?? [
      { region: 'task-stack', type: 'task' },
      { region: 'irq-stack', type: 'irq' },
      { region: 'nmi-stack', type: 'nmi' },
    ],
    ptRegs: PT_REGS,
    finalFrame: PT_REGS - 16,
    abi: { ...A },
    unwind: { orc: o.orc ?? kernelOrc() },
    fgraph: o.fgraph === undefined ? null : o.fgraph === null ? null : { stack: o.fgraph },
    kretprobes: o.kretprobes ?? [],
  });
  return loadSnapshot(JSON.parse(JSON.stringify(snap)), 'hand-built snapshot');
}

/**
 * The simulated x86_64 kernel image: memory map, assembled code (core kernel + one workload),
 * analyser output (ORC, findings), and run-time patching for instrumentation (ftrace fentry
 * sites, kprobe int3, optprobe jumps into trampoline text).
 */
import { analyse, type AnalysisResult } from '../../analyser/x86_64';
import { X86_64_ABI as ABI } from '../../isa/x86_64/abi';
import { assemble, OP, type AsmUnit, type Insn, type Program, type SymInfo } from '../../isa/x86_64/assembler';
import type { RegionInfo } from '../../machine/memory';
import { SymbolTable, type KSymbol } from '../../machine/symbols';
import type { Instrumentation, Workload } from '../../scene/types';
import type { SnapshotStack } from '../../snapshot/types';
import { coreKernel, popRegs, pushRegs, workloadSource, type WorkloadSource } from './source';

/**
 * Internal addresses (the low 48 bits, src/machine/addr.ts) of the kernel's x86_64 layout: text at
 * 0xffffffff81000000, modules / BPF / trampolines at 0xffffffffa0000000, EFI at EFI_VA_START
 * (0xffffffef00000000), per-CPU and task data in the direct map (0xffff888000000000), stacks in
 * vmalloc space (0xffffc90000000000).
 */
export const LAYOUT = {
  KTEXT: 0xffff81000000,
  KTEXT_SIZE: 0x10000,
  MODTEXT: 0xffffa0000000,
  BPF: 0xffffa0100000,
  TRAMP: 0xffffa0200000,
  EFI: 0xffef00000000,
  SMALL_TEXT: 0x1000,
  PERCPU: 0x888000000000,
  TASKS: 0x888000100000,
  DATA_SIZE: 0x1000,
  TASK_STACK: 0xc90000000000,
  OTHER_STACK: 0xc90000008000,
  IRQ_STACK: 0xc90000010000,
  /** This CPU's struct cpu_entry_area (CPU_ENTRY_AREA_PER_CPU, 0xfffffe0000001000), see CEA. */
  CEA: 0xfe0000001000,
  USER_RSP: 0x7ffd4a3c1f20,
  USER_RIP: 0x401136,
  USER_RBP: 0x7ffd4a3c1f50,
} as const;

/**
 * Offsets inside struct cpu_entry_area (arch/x86/include/asm/cpu_entry_area.h), in its order: the
 * GDT page (a read-only guard below the entry stack), the entry (trampoline) stack page, the TSS
 * (five pages here: hardware TSS and I/O bitmaps), then struct cea_exception_stacks: each IST
 * stack (EXCEPTION_STKSZ, one page) above its own guard page, #DF, NMI, #DB, #MC, #VC, #VC2, and a
 * guard page on top. Guard pages are not mapped: any read there faults.
 */
export const CEA = {
  GDT: 0x0000,
  ENTRY_STACK: 0x1000,
  ENTRY_STACK_SIZE: 0x1000,
  TSS: 0x2000,
  ESTACKS: 0x7000,
  EXCEPTION_STKSZ: 0x1000,
  /** IST stacks in cea_exception_stacks order; each is preceded by a guard page. */
  IST: ['df', 'nmi', 'db', 'mce', 'vc', 'vc2'] as const,
  SIZE: 0x14000,
} as const;

/** Base of one IST stack in this CPU's cpu_entry_area (past its guard page). */
export const istStack = (name: (typeof CEA.IST)[number]): number => LAYOUT.CEA + CEA.ESTACKS + (2 * CEA.IST.indexOf(name) + 1) * CEA.EXCEPTION_STKSZ;

/** Per-CPU variables (data symbols, not code). */
export const PERCPU = {
  cpu_tss_sp2: LAYOUT.PERCPU + 0x00,
  cpu_current_top_of_stack: LAYOUT.PERCPU + 0x08,
  current_task: LAYOUT.PERCPU + 0x10,
  hardirq_stack_ptr: LAYOUT.PERCPU + 0x18,
  cea_exception_stacks: LAYOUT.PERCPU + 0x20,
  cpu_entry_area: LAYOUT.PERCPU + 0x28,
} as const;

/** struct task_struct of the current task and of the other task (thread.sp only). */
export const TASK = { current: LAYOUT.TASKS, other: LAYOUT.TASKS + 0x100, threadsp: 0x40 } as const;

export const CONSTS: Record<string, number> = {
  __USER_DS: 0x2b,
  __USER_CS: ABI.USER_CS,
  __KERNEL_CS: ABI.KERNEL_CS,
  PT_RAX: ABI.PT_RAX,
  PT_RIP: ABI.PT_RIP,
  PT_RSP: ABI.PT_RSP,
  TASK_threadsp: TASK.threadsp,
  MCOUNT_INSN_SIZE: 5,
  /** ftrace_64.S: the ftrace_regs frame (a struct pt_regs on x86_64) and calling.h's pt_regs offsets. */
  FRAME_SIZE: ABI.PT_REGS_SIZE,
  RAX: ABI.PT_RAX,
  RDX: ABI.PT_RDX,
  RBP: ABI.PT_RBP,
  RSP: ABI.PT_RSP,
};

export const REGIONS: RegionInfo[] = [
  { name: 'kernel-text', kind: 'kernel-text', base: LAYOUT.KTEXT, size: LAYOUT.KTEXT_SIZE },
  { name: 'module-text', kind: 'module-text', base: LAYOUT.MODTEXT, size: LAYOUT.SMALL_TEXT },
  { name: 'bpf-jit', kind: 'bpf-jit', base: LAYOUT.BPF, size: LAYOUT.SMALL_TEXT },
  { name: 'trampoline-text', kind: 'trampoline-text', base: LAYOUT.TRAMP, size: LAYOUT.SMALL_TEXT },
  { name: 'efi-runtime', kind: 'foreign-text', base: LAYOUT.EFI, size: LAYOUT.SMALL_TEXT },
  { name: 'percpu', kind: 'data', base: LAYOUT.PERCPU, size: LAYOUT.DATA_SIZE, owner: 'cpu0' },
  { name: 'tasks', kind: 'data', base: LAYOUT.TASKS, size: LAYOUT.DATA_SIZE },
  { name: 'task-stack', kind: 'task-stack', base: LAYOUT.TASK_STACK, size: ABI.THREAD_SIZE, owner: 'current' },
  { name: 'other-task-stack', kind: 'task-stack', base: LAYOUT.OTHER_STACK, size: ABI.THREAD_SIZE, owner: 'other' },
  { name: 'irq-stack', kind: 'irq-stack', base: LAYOUT.IRQ_STACK, size: ABI.IRQ_STACK_SIZE, owner: 'cpu0' },
  { name: 'entry-stack', kind: 'entry-stack', base: LAYOUT.CEA + CEA.ENTRY_STACK, size: CEA.ENTRY_STACK_SIZE, owner: 'cpu0' },
  ...CEA.IST.map((n): RegionInfo => ({ name: `${n}-stack`, kind: n === 'nmi' ? 'nmi-stack' : 'exception-stack', base: istStack(n), size: CEA.EXCEPTION_STKSZ, owner: 'cpu0' })),
];

/** The stacks a running task's walk may read on this CPU (get_stack_info() for current), and a blocked task's. */
export const RUNNING_STACKS: readonly SnapshotStack[] = [
  { region: 'task-stack', type: 'task' },
  { region: 'irq-stack', type: 'irq' },
  { region: 'entry-stack', type: 'entry' },
  ...CEA.IST.map((n): SnapshotStack => ({ region: `${n}-stack`, type: n === 'nmi' ? 'nmi' : 'exception' })),
];

export const TASK_TOP = LAYOUT.TASK_STACK + ABI.THREAD_SIZE;
export const PT_REGS = TASK_TOP - ABI.PT_REGS_SIZE;
export const IRQ_TOP = LAYOUT.IRQ_STACK + ABI.IRQ_STACK_SIZE;
export const NMI_TOP = istStack('nmi') + CEA.EXCEPTION_STKSZ;

const ANALYSED = new Set(['kernel-text', 'module-text']);

export interface BaseImage {
  workload: Workload;
  src: WorkloadSource;
  prog: Program;
  analysis: AnalysisResult;
}

const baseCache = new Map<Workload, BaseImage>();

function units(src: WorkloadSource): AsmUnit[] {
  const u: AsmUnit[] = [{ region: 'kernel-text', base: LAYOUT.KTEXT, source: coreKernel() + '\n' + src.kernel }];
  if (src.module) u.push({ region: 'module-text', base: LAYOUT.MODTEXT, source: src.module, module: 'testmod' });
  if (src.bpf) u.push({ region: 'bpf-jit', base: LAYOUT.BPF, source: src.bpf, funcKind: 'bpf' });
  if (src.efi) u.push({ region: 'efi-runtime', base: LAYOUT.EFI, source: src.efi, funcKind: 'foreign' });
  return u;
}

/** Assemble and analyse the kernel built with `w` (cached: images are immutable). */
export function baseImage(w: Workload): BaseImage {
  let b = baseCache.get(w);
  if (!b) {
    const src = workloadSource(w);
    const prog = assemble(units(src), CONSTS, PERCPU);
    const analysis = analyse(prog, { regions: ANALYSED });
    b = { workload: w, src, prog, analysis };
    baseCache.set(w, b);
  }
  return b;
}

export interface OptprobeSite {
  fn: string;
  /** Probed address (the patched JMP). */
  addr: number;
  /** Where the trampoline jumps back to (after the displaced instructions). */
  back: number;
  tramp: string;
}

/** The image as patched at run time for one instrumentation. */
export interface Image extends BaseImage {
  code: Map<number, Insn>;
  syms: SymbolTable;
  symInfo: Map<string, SymInfo>;
  instrument: Instrumentation;
  kprobes: Map<number, { fn: string; addr: number }>;
  optprobes: OptprobeSite[];
}

const imageCache = new Map<string, Image>();

const stripForm = (s: SymInfo): KSymbol => {
  const { form: _f, ...k } = s;
  return k;
};

/** The detour buffer of one optprobe: arch/x86/kernel/kprobes/opt.c optprobe_template_func, then the displaced instructions. */
function optprobeTrampoline(tramp: string, probe: number, displaced: Insn[], back: number): string {
  return `.kind ${tramp} optprobe-trampoline
SYM_CODE_START(${tramp})
\tpushq %rsp
\tpushfq
\tsubq $24, %rsp
${pushRegs()}
\tmovq %rsp, %rsi
\tmovq $${probe}, %rdi
\tcall optimized_callback
${popRegs()}
\taddq $24, %rsp
\tpopfq
\taddq $8, %rsp
${displaced.map((i) => `\t${i.op === OP.BODY ? 'BODY 1' : i.text}`).join('\n')}
\tjmp back_${back}
SYM_CODE_END(${tramp})
`;
}

/**
 * Optimise kprobes: replace at least 5 bytes of displaceable instructions at each probe with a
 * JMP (DETOUR) into a detour buffer assembled in trampoline text, which jumps back after them.
 */
function patchOptprobes(w: Workload, sites: NonNullable<Instrumentation['optprobe']>, code: Map<number, Insn>, symbols: SymInfo[], patched: ReadonlySet<number>): OptprobeSite[] {
  const p = baseImage(w).prog;
  const optprobes: OptprobeSite[] = [];
  const trampUnits: AsmUnit[] = [];
  let trampBase: number = LAYOUT.TRAMP;
  sites.forEach((op, n) => {
    const list = p.bySym.get(op.fn);
    if (!list || op.index < 0 || op.index >= list.length) throw new Error(`x86_64: no instruction ${op.fn}[${op.index}]`);
    const displaced: Insn[] = [];
    let size = 0;
    for (let k = op.index; size < 5; k++) {
      const i = list[k];
      if (!i) throw new Error(`x86_64: optprobe at ${op.fn}[${op.index}] runs past the function`);
      if (patched.has(i.addr) || [OP.CALL, OP.CALL_R, OP.JMP, OP.JMP_R, OP.JZ, OP.JNZ, OP.RET, OP.HOOK, OP.INT3].includes(i.op as never)) {
        throw new Error(`x86_64: cannot optimise a kprobe at ${op.fn}[${op.index}]: ${i.text} cannot be displaced`);
      }
      displaced.push(i);
      size += i.size;
    }
    const at = displaced[0]!;
    const tramp = `optinsn_slot_${n}`;
    const back = at.addr + size;
    trampUnits.push({ region: 'trampoline-text', base: trampBase, source: optprobeTrampoline(tramp, at.addr, displaced, back) });
    trampBase += 0x100;
    code.set(at.addr, { ...at, op: OP.DETOUR, size: 5, target: -1, imm: back, text: `jmp ${tramp}` });
    for (const d of displaced.slice(1)) code.delete(d.addr);
    optprobes.push({ fn: op.fn, addr: at.addr, back, tramp });
  });
  if (!trampUnits.length) return optprobes;
  const labels: Record<string, number> = { ...PERCPU };
  for (const [name, v] of p.labels) labels[name] = v;
  // Each `jmp back_<addr>` target is an address in the probed function.
  const tp = assemble(trampUnits, CONSTS, { ...labels, ...Object.fromEntries(optprobes.map((o) => [`back_${o.back}`, o.back])) });
  for (const i of tp.insns) code.set(i.addr, i);
  for (const o of optprobes) code.set(o.addr, { ...code.get(o.addr)!, target: tp.labels.get(o.tramp)! });
  symbols.push(...tp.symbols);
  return optprobes;
}

/** Forget the cached images of workloads `drop` selects (generated programs, which a long campaign never reuses). */
export function forgetImages(drop: (w: Workload) => boolean): void {
  for (const w of [...baseCache.keys()]) if (drop(w)) baseCache.delete(w);
  for (const [k, img] of imageCache) if (drop(img.workload)) imageCache.delete(k);
}

/** Apply instrumentation (cached per workload + instrumentation). */
export function image(w: Workload, instrument: Instrumentation = {}): Image {
  const k = `${w}|${JSON.stringify(instrument)}`;
  let img = imageCache.get(k);
  if (img) return img;
  const base = baseImage(w);
  const p = base.prog;
  const code = new Map(p.byAddr);
  const symbols = [...p.symbols];
  const first = (fn: string): Insn => {
    const l = p.bySym.get(fn);
    if (!l || !l.length) throw new Error(`x86_64 ${w}: no function ${fn}`);
    return l[0]!;
  };
  const fentry = (fn: string, what: string): Insn => {
    const i = first(fn);
    if (i.op !== OP.FENTRY) throw new Error(`x86_64: ${fn} has no fentry site (notrace), cannot ${what}`);
    return i;
  };
  const patched = new Set<number>();
  const ftraceCaller = p.labels.get('ftrace_caller')!;
  for (const fn of instrument.fgraph ?? []) {
    const i = fentry(fn, 'trace it');
    code.set(i.addr, { ...i, op: OP.CALL, target: ftraceCaller, text: 'call ftrace_caller' });
    patched.add(i.addr);
  }
  const kprobes = new Map<number, { fn: string; addr: number }>();
  for (const fn of instrument.kretprobe ?? []) {
    const i = fentry(fn, 'kretprobe it');
    if (patched.has(i.addr)) throw new Error(`x86_64: ${fn} is both graph-traced and kretprobed: unsupported`);
    code.set(i.addr, { ...i, op: OP.INT3, text: 'int3 (kprobe)' });
    kprobes.set(i.addr, { fn, addr: i.addr });
    patched.add(i.addr);
  }
  const optprobes = patchOptprobes(w, instrument.optprobe ?? [], code, symbols, patched);
  const symInfo = new Map(symbols.map((s) => [s.name, s]));
  img = { ...base, code, syms: new SymbolTable(symbols.map(stripForm)), symInfo, instrument, kprobes, optprobes };
  imageCache.set(k, img);
  return img;
}

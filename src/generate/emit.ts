/**
 * Generated programs as each arch's assembly: arm64 (compiled C with a frame record: STP X29, X30 /
 * MOV X29, SP ... LDP / RET, as cfunc() in src/kernel/arm64/image.ts) and x86_64 (fentry site, push %rbp /
 * mov %rsp, %rbp ... pop %rbp / ret, as cfn() in src/kernel/x86_64/source.ts). Tail calls tear the frame
 * down and jump (B / jmp); frameless functions keep the return address in the LR (arm64) or on the stack
 * top (x86_64), or, on arm64, in X9 (`lrReg`). Shrink-wrapped functions run instructions before the
 * prologue and after the epilogue. A noreturn call is the function's last instruction (no epilogue).
 *
 * Placement, as the kits' module-sleep / bpf-sleep / efi-call workloads lay it out: module functions are
 * reached from the kernel by an indirect call (arm64: out of BL range) and call kernel functions through a
 * PLT / veneer of the module (`__plt_<target>`); BPF programs keep a frame record (and, on arm64, save
 * X19/X20 like the JIT) and call kernel functions by address; EFI runtime code keeps no frame record: it
 * saves the LR (arm64) in its own stack frame, and x29 / rbp passes through untouched.
 */
import { MAP, type WorkloadCode } from '../kernel/arm64/image';
import { LAYOUT } from '../kernel/x86_64/image';
import type { WorkloadSource } from '../kernel/x86_64/source';
import { ARM64_ABI } from '../isa/arm64/abi';
import { X86_64_ABI } from '../isa/x86_64/abi';
import { REGS_COPY_FN, type GenFunction, type GenProgram, type Placement, type Step } from './program';

/** Depth counters of recursive functions: 8-byte slots in kernel data, zero at boot (functions: image.ts imports this module). */
export const arm64RecursionCounters = (): number => MAP.data.base + 0x800;
export const x86_64RecursionCounters = (): number => LAYOUT.TASKS + 0x800;

export type Where = (fn: string) => Placement;

/** Where each function of `p` sits (a name the program does not define is kernel text: schedule(), the kernel's own). */
export const placementOf = (p: GenProgram): Where => {
  const m = new Map(p.functions.map((f) => [f.name, f.placement ?? 'kernel']));
  return (fn) => m.get(fn) ?? 'kernel';
};

/** The module's PLT entry (veneer, stub) for a kernel function it calls. */
export const pltName = (target: string): string => `__plt_${target}`;

/** Kernel functions module code calls (each gets a PLT entry in the module). */
export function pltTargets(p: GenProgram, where: Where): string[] {
  const out = new Set<string>();
  for (const f of p.functions) {
    if (where(f.name) !== 'module') continue;
    for (const s of f.steps) if ((s.op === 'call' || s.op === 'noreturn') && where(s.fn) === 'kernel') out.add(s.fn);
  }
  return [...out];
}

/** How an arch spells the pieces of a recursion step (see recursionSteps). */
export interface RecursionOps {
  /** Increment the 8-byte counter at `counter` and branch to `base` when it reaches `limit`. */
  bump(counter: number, limit: number, base: string): string[];
  call(fn: string): string[];
  jump(label: string): string[];
}

/**
 * A `recurse` step: a depth counter in kernel data (slot `s.slot` of the arch's counters, zero at boot) counts
 * the function's entries; below `times + 1` it calls itself again, at `times + 1` (its deepest instance) it
 * calls `s.next`. The task's stack then holds the function `times + 1` times.
 */
export function recursionSteps(f: GenFunction, s: Extract<Step, { op: 'recurse' }>, counters: number, ops: RecursionOps): string[] {
  const base = `.L${f.name}_base`;
  const after = `.L${f.name}_after`;
  return [...ops.bump(counters + 8 * s.slot, s.times + 1, base), ...ops.call(f.name), ...ops.jump(after), `${base}:`, ...ops.call(s.next), `${after}:`];
}

// ---- arm64 ----

/** A call from `from`'s code to `to`, by BL where it reaches, else by address or through the module's PLT. */
function arm64Call(from: Placement, to: string, where: Where): string[] {
  const dest = where(to);
  if (from === 'module' && dest === 'kernel') return [`BL <${pltName(to)}>`];
  if (from === dest && from !== 'efi') return [`BL <${to}>`];
  if (from === 'kernel' && dest === 'kernel') return [`BL <${to}>`];
  if (from === 'efi') return [`ADR X10, <${to}>`, 'BLR X10'];
  if (from === 'bpf') return [`ADR X10, <${to}>`, 'BLR X10'];
  // kernel -> module / BPF / EFI, module -> BPF / EFI: an indirect call
  return [dest === 'efi' ? `ADR X8, <${to}>` : `ADR X9, <${to}>`, dest === 'efi' ? 'BLR X8' : 'BLR X9'];
}

function arm64Step(f: GenFunction, s: Step, where: Where): string[] {
  const from = f.placement ?? 'kernel';
  if (s.op === 'body') return [`BODY ${s.n}`];
  if (s.op === 'call' || s.op === 'noreturn') return arm64Call(from, s.fn, where);
  return recursionSteps(f, s, arm64RecursionCounters(), {
    bump: (c, limit, base) => [`MOV X10, #${c}`, 'LDR X11, [X10]', 'ADD X11, X11, #1', 'STR X11, [X10]', `SUB X12, X11, #${limit}`, `CBZ X12, <${base}>`],
    call: (fn) => [`BL <${fn}>`],
    jump: (l) => [`B <${l}>`],
  });
}

export const indent = (xs: string[]): string[] => xs.map((x) => (x.endsWith(':') ? x : `  ${x}`));

/** How an arch lays out a compiled C function around its body (see compiledFunction). */
export interface CompiledLayout {
  /** The frame's setup, and its teardown without the return (a function with a frame). */
  prologue: string[];
  epilogue: string[];
  ret: string[];
  /** A tail call to `fn`, once the frame is torn down. */
  tail(fn: string): string[];
  /** A branch to `label` (a noreturn function's endless loop). */
  branch(label: string): string[];
}

/**
 * A generated function as the arch's compiler lays out C: shrink-wrapped instructions (`pre`), the prologue,
 * the body `steps`, then the epilogue, `post` instructions and a return or tail call; a noreturn function
 * loops forever after its body, and a function ending in a noreturn call has nothing after it.
 */
export function compiledFunction(f: GenFunction, steps: string[], c: CompiledLayout): string {
  const out = [`SYM_FUNC_START(${f.name})`];
  if (f.pre) out.push(`  BODY ${f.pre}`);
  if (f.frame) out.push(...indent(c.prologue));
  out.push(...indent(steps));
  const noreturn = f.steps[f.steps.length - 1]?.op === 'noreturn';
  if (f.noreturn) out.push(`.L${f.name}_forever:`, ...indent(c.branch(`.L${f.name}_forever`)));
  else if (!noreturn) {
    if (f.frame) out.push(...indent(c.epilogue));
    if (f.post) out.push(`  BODY ${f.post}`);
    out.push(...indent(f.tail ? c.tail(f.tail) : c.ret));
  }
  out.push(`SYM_FUNC_END(${f.name})`);
  return out.join('\n');
}

/** The number of body instructions of `f` (at least 1): an `lrReg` leaf's explicit body. */
export const bodyLength = (f: GenFunction): number => Math.max(1, f.steps.reduce((t, s) => t + (s.op === 'body' ? s.n : 0), 0));

function arm64Fn(f: GenFunction, where: Where, entry: string): string {
  const steps = f.steps.flatMap((s) => arm64Step(f, s, where));
  const placement = f.placement ?? 'kernel';
  if (placement === 'bpf') {
    // As the BPF JIT lays a program out (bpf-sleep): frame record, then X19/X20 saved.
    return [`${f.name}:`, ...indent(['STP X29, X30, [SP, #-16]!', 'MOV X29, SP', 'STP X19, X20, [SP, #-16]!', ...steps, 'LDP X19, X20, [SP], #16', 'LDP X29, X30, [SP], #16', 'RET'])].join('\n');
  }
  if (placement === 'efi') {
    // Firmware code: no frame record; it keeps the LR in its own frame (x29 passes through).
    return [`${f.name}:`, ...indent(['SUB SP, SP, #32', 'STP X19, X30, [SP]', ...steps, 'LDP X19, X30, [SP]', 'ADD SP, SP, #32', 'RET'])].join('\n');
  }
  if (f.lrReg) {
    // Spec 3.3: the return address moves to X9, and X30 holds a text address (inside the entry function).
    const n = bodyLength(f);
    return [`SYM_FUNC_START(${f.name})`, ...indent(['MOV X9, X30', `ADR X30, <${entry}>`, 'ADD X30, X30, #4', ...Array.from({ length: n }, () => 'ADD X10, X10, #1'), 'RET X9']), `SYM_FUNC_END(${f.name})`].join('\n');
  }
  const frame = f.name === REGS_COPY_FN ? ARM64_ABI.FRAME_RECORD_SIZE + ARM64_ABI.PT_REGS_SIZE : 16;
  return compiledFunction(f, steps, {
    prologue: [`STP X29, X30, [SP, #-${frame}]!`, 'MOV X29, SP'],
    epilogue: [`LDP X29, X30, [SP], #${frame}`],
    ret: ['RET'],
    tail: (fn) => [`B <${fn}>`],
    branch: (l) => [`B <${l}>`],
  });
}

export function arm64Code(p: GenProgram): WorkloadCode {
  const where = placementOf(p);
  return codeByPlacement(p, where, (f) => arm64Fn(f, where, p.entry), (t) => [`SYM_CODE_START(${pltName(t)})`, `  ADR X16, <${t}>`, '  BR X16', `SYM_CODE_END(${pltName(t)})`, `SYM_KIND(${pltName(t)}, plt)`]);
}

/**
 * A program's code by placement, as the arm64, s390x and powerpc64 kits take a workload: the functions of each
 * placement (`emit`), the module's PLT entries after its code (`plt`: one entry's lines), and the entry as the
 * syscall handler or the kernel thread's function.
 */
export function codeByPlacement(p: GenProgram, where: Where, emit: (f: GenFunction) => string, plt: (target: string) => string[]): WorkloadCode {
  const fns = (pl: Placement) => p.functions.filter((f) => where(f.name) === pl).map(emit);
  const module = [...fns('module'), ...pltTargets(p, where).flatMap(plt)];
  const bpf = fns('bpf');
  const efi = fns('efi');
  return {
    ...(p.kthread ? { kthread: true, kthreadFn: p.entry } : { syscall: p.entry }),
    kernel: fns('kernel').join('\n'),
    ...(module.length ? { module: module.join('\n') } : {}),
    ...(bpf.length ? { bpf: bpf.join('\n') } : {}),
    ...(efi.length ? { efi: efi.join('\n') } : {}),
  };
}

// ---- x86_64 ----

function x86Call(from: Placement, to: string, where: Where): string[] {
  const dest = where(to);
  if (from === 'module' && dest === 'kernel') return [`call ${pltName(to)}`];
  // Indirect calls into BPF and EFI code (as the kernel reaches them: bpf_func(), efi_call()).
  if (dest === 'bpf' || dest === 'efi') return [`movq $${to}, %rax`, 'CALL_NOSPEC rax'];
  return [`call ${to}`];
}

function x86Step(f: GenFunction, s: Step, where: Where): string[] {
  const from = f.placement ?? 'kernel';
  if (s.op === 'body') return [`BODY ${s.n}`];
  if (s.op === 'call' || s.op === 'noreturn') return x86Call(from, s.fn, where);
  return recursionSteps(f, s, x86_64RecursionCounters(), {
    bump: (c, limit, base) => [`movq $${c}, %r10`, 'movq (%r10), %r11', 'addq $1, %r11', 'movq %r11, (%r10)', `cmpq $${limit}, %r11`, `jz ${base}`],
    call: (fn) => [`call ${fn}`],
    jump: (l) => [`jmp ${l}`],
  });
}

const tab = (xs: string[]): string[] => xs.map((x) => (x.endsWith(':') ? x : `\t${x}`));

function x86Fn(f: GenFunction, where: Where): string {
  const steps = f.steps.flatMap((s) => x86Step(f, s, where));
  const placement = f.placement ?? 'kernel';
  if (placement === 'bpf') {
    // As the BPF JIT lays a program out (bpf-sleep): no fentry site, a frame, a stack area.
    return [`SYM_FUNC_START(${f.name})`, ...tab(['xorl %eax, %eax', 'pushq %rbp', 'movq %rsp, %rbp', 'subq $8, %rsp', ...steps, 'leave', 'ret']), `SYM_FUNC_END(${f.name})`].join('\n');
  }
  if (placement === 'efi') {
    // Firmware code: no frame pointer, no fentry site.
    return [`SYM_FUNC_START(${f.name})`, ...tab(['subq $40, %rsp', ...steps, 'addq $40, %rsp', 'ret']), `SYM_FUNC_END(${f.name})`].join('\n');
  }
  const out = [`SYM_FUNC_START(${f.name})`, '\tcall __fentry__'];
  if (f.pre) out.push(`\tBODY ${f.pre}`);
  if (f.frame) out.push('\tpushq %rbp', '\tmovq %rsp, %rbp');
  const locals = f.name === REGS_COPY_FN ? X86_64_ABI.PT_REGS_SIZE : 0;
  if (locals) out.push(`\tsubq $${locals}, %rsp`);
  out.push(...tab(steps));
  const noreturn = f.steps[f.steps.length - 1]?.op === 'noreturn';
  if (f.noreturn) out.push(`.L${f.name}_forever:`, `\tjmp .L${f.name}_forever`);
  else if (!noreturn) {
    if (locals) out.push(`\taddq $${locals}, %rsp`);
    if (f.frame) out.push('\tpopq %rbp');
    if (f.post) out.push(`\tBODY ${f.post}`);
    out.push(f.tail ? `\tjmp ${f.tail}` : '\tret');
  }
  out.push(`SYM_FUNC_END(${f.name})`);
  return out.join('\n');
}

export function x86_64Source(p: GenProgram): WorkloadSource {
  const where = placementOf(p);
  const fns = (pl: Placement) => p.functions.filter((f) => (f.placement ?? 'kernel') === pl).map((f) => x86Fn(f, where));
  const kernel = fns('kernel');
  // A kernel thread: kthread() calls the thread function by pointer (as kthread-sleep's).
  if (p.kthread) kernel.unshift(`SYM_FUNC_START(kthread)\n\tcall __fentry__\n\tpushq %rbp\n\tmovq %rsp, %rbp\n\tpushq %rbx\n\tsubq $8, %rsp\n\tBODY 2\n\tmovq $${p.entry}, %rax\n\tCALL_NOSPEC rax\n\taddq $8, %rsp\n\tpopq %rbx\n\tpopq %rbp\n\tret\nSYM_FUNC_END(kthread)`);
  const module = fns('module');
  for (const t of pltTargets(p, where)) module.push(`.kind ${pltName(t)} plt\nSYM_FUNC_START(${pltName(t)})\n\tmovq $${t}, %r11\n\tjmp *%r11\nSYM_FUNC_END(${pltName(t)})`);
  const bpf = fns('bpf');
  const efi = fns('efi');
  return {
    kernel: kernel.join('\n') + '\n',
    ...(module.length ? { module: module.join('\n') + '\n' } : {}),
    ...(bpf.length ? { bpf: bpf.join('\n') + '\n' } : {}),
    ...(efi.length ? { efi: efi.join('\n') + '\n' } : {}),
    ...(p.kthread ? { kthread: true } : { sys: p.entry }),
    blocks: true,
  };
}

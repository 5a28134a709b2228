/**
 * Generated programs as LA64 assembly, laid out as this project's loongarch64 kernel lays out compiled C
 * (src/kernel/loongarch64/image.ts, frame pointers kept): `addi.d $sp, $sp, -N; st.d $ra, $sp, N-8;
 * st.d $fp, $sp, N-16; addi.d $fp, $sp, N` ... `ld.d $ra; ld.d $fp; addi.d $sp; jr $ra`, so fp is the CFA
 * and the ORC entries the analyser (src/analyser/loongarch64.ts) derives are fp-based after the prologue.
 * The ftrace call site (`move $t0, $ra` / `bl ftrace_caller`) goes before the prologue when a function
 * is traced, as the patched -fpatchable-function-entry nops.
 *
 * How each feature of the arch-neutral generator (src/generate/program.ts) maps to loongarch64:
 * - calls: `bl`; a tail call tears the frame down and branches (`b`); a noreturn call is the function's
 *   last instruction.
 * - frameless leaves keep the return address in ra (`jr $ra`). The `lrReg` leaf (spec 3.3) moves its
 *   return address to t2 (`move $t2, $ra`), puts a text address (inside the entry function) in ra and
 *   returns with `jr $t2`, as the kit's lr-in-gpr workload. The analyser follows the copy and gives those
 *   instructions undefined ORC entries (an unwinder rejects a walk through them); objtool warns only about
 *   calls made without a frame, so no finding is expected.
 * - shrink-wrapped functions run BODY instructions before the prologue and after the epilogue's sp
 *   restore (the ORC entries say ra and fp are in their registers there).
 * - module code is reached from the kernel through a pointer (`la.pcrel $t1` / `jirl $ra, $t1, 0`) and
 *   calls the kernel through its own PLT entry `__plt_<target>` (`la.abs $t1` / `jr $t1`), as module-sleep
 *   (emit_plt_entry() in arch/loongarch/include/asm/module.h: lu12i.w / lu32i.d / lu52i.d build the target's
 *   address in t1, then jirl through it).
 * - BPF programs have the JIT's layout (arch/loongarch/net/bpf_jit.c build_prologue): the tail-call
 *   counter set in a6, sp moved by 64, ra, fp and s0..s5 saved from the top down, then fp pointed at the
 *   frame's top (the same {fp, ra} record as C, 16 bytes below fp); the epilogue reloads them, moves the
 *   result to a0 and returns. BPF code has no ORC entries; it is reached and calls out by address
 *   (`la.abs $t1` / `jirl $ra, $t1, 0`, as emit_call's move_addr / jirl).
 * - EFI runtime code (loongarch has runtime services, called through a pointer by
 *   efi_call_virt_pointer()) keeps no frame record: it saves ra in its own frame and leaves fp alone.
 * - recursion counts its depth in kernel data (MAP.data + 0x800, 8 bytes per recursive function).
 * - a kernel thread starts in ret_from_kernel_thread, whose kthread() calls the program's entry by pointer.
 * - loongarch has no NMI: src/generate/run.ts turns the generator's NMI moments into IRQs on it.
 */
import { MAP, REGS_COPY_FRAME, type WorkloadCode } from '../kernel/loongarch64/image';
import { REGS_COPY_FN, type GenFunction, type GenProgram, type Placement, type Step } from './program';
import { bodyLength, codeByPlacement, compiledFunction, indent, placementOf, pltName, recursionSteps, type Where } from './emit';

/** Depth counters of recursive functions: 8-byte slots in kernel data, zero at boot (a function: image.ts imports this module). */
export const loongarch64RecursionCounters = (): number => MAP.data.base + 0x800;

/** A call from `from`'s code to `to`: `bl` where the kernel links it so, else through a pointer or the module's PLT. */
function call(from: Placement, to: string, where: Where): string[] {
  const dest = where(to);
  if (from === 'module' && dest === 'kernel') return [`bl ${pltName(to)}`];
  if (from === dest && from !== 'efi' && from !== 'bpf') return [`bl ${to}`];
  return [from === 'bpf' ? `la.abs $t1, ${to}` : `la.pcrel $t1, ${to}`, 'jirl $ra, $t1, 0'];
}

function step(f: GenFunction, s: Step, where: Where): string[] {
  if (s.op === 'body') return [`BODY ${s.n}`];
  if (s.op === 'call' || s.op === 'noreturn') return call(f.placement ?? 'kernel', s.fn, where);
  return recursionSteps(f, s, loongarch64RecursionCounters(), {
    bump: (c, limit, base) => [`li.d $t1, ${c}`, 'ld.d $t2, $t1, 0', 'addi.d $t2, $t2, 1', 'st.d $t2, $t1, 0', `addi.d $t2, $t2, -${limit}`, `beqz $t2, ${base}`],
    call: (fn) => [`bl ${fn}`],
    jump: (l) => [`b ${l}`],
  });
}

/** The BPF JIT's saved registers, from the top of its frame down (8 words: a 64-byte frame). */
const BPF_SAVED = ['$ra', '$fp', '$s0', '$s1', '$s2', '$s3', '$s4', '$s5'];
const BPF_FRAME = 8 * BPF_SAVED.length;

function fn(f: GenFunction, where: Where, entry: string): string {
  const steps = f.steps.flatMap((s) => step(f, s, where));
  const placement = f.placement ?? 'kernel';
  if (placement === 'bpf') {
    const N = BPF_FRAME;
    const save = BPF_SAVED.map((r, k) => `st.d ${r}, $sp, ${N - 8 * (k + 1)}`);
    const load = BPF_SAVED.map((r, k) => `ld.d ${r}, $sp, ${N - 8 * (k + 1)}`);
    return [`${f.name}:`, ...indent(['addi.d $a6, $zero, 33', `addi.d $sp, $sp, -${N}`, ...save, `addi.d $fp, $sp, ${N}`, ...steps, ...load, `addi.d $sp, $sp, ${N}`, 'move $a0, $a5', 'jr $ra'])].join('\n');
  }
  if (placement === 'efi') {
    // Firmware code: no frame record; it keeps ra in its own frame (fp passes through).
    return [`${f.name}:`, ...indent(['addi.d $sp, $sp, -32', 'st.d $s1, $sp, 0', 'st.d $ra, $sp, 8', ...steps, 'ld.d $ra, $sp, 8', 'ld.d $s1, $sp, 0', 'addi.d $sp, $sp, 32', 'jr $ra'])].join('\n');
  }
  if (f.lrReg) {
    // Spec 3.3: the return address moves to t2, and ra holds a text address (inside the entry function).
    return [`SYM_FUNC_START(${f.name})`, ...indent(['move $t2, $ra', `la.pcrel $ra, ${entry}`, 'addi.d $ra, $ra, 4', ...Array.from({ length: bodyLength(f) }, () => 'addi.d $t1, $t1, 1'), 'jr $t2']), `SYM_FUNC_END(${f.name})`].join('\n');
  }
  // regscopy_fn keeps a local struct pt_regs at its sp, below its frame record (the kit's REGS_COPY_OFFSET).
  const N = f.name === REGS_COPY_FN ? REGS_COPY_FRAME : 16;
  return compiledFunction(f, steps, {
    prologue: [`addi.d $sp, $sp, -${N}`, `st.d $ra, $sp, ${N - 8}`, `st.d $fp, $sp, ${N - 16}`, `addi.d $fp, $sp, ${N}`],
    epilogue: [`ld.d $ra, $sp, ${N - 8}`, `ld.d $fp, $sp, ${N - 16}`, `addi.d $sp, $sp, ${N}`],
    ret: ['jr $ra'],
    tail: (fn) => [`b ${fn}`],
    branch: (l) => [`b ${l}`],
  });
}

export function loongarch64Code(p: GenProgram): WorkloadCode {
  const where = placementOf(p);
  return codeByPlacement(p, where, (f) => fn(f, where, p.entry), (t) => [`SYM_CODE_START(${pltName(t)})`, `  la.abs $t1, ${t}`, '  jr $t1', `SYM_CODE_END(${pltName(t)})`, `SYM_KIND(${pltName(t)}, plt)`]);
}

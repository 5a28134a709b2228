/**
 * Generated programs as riscv64 assembly, laid out as this project's riscv64 kernel lays out compiled C
 * (src/kernel/riscv64/image.ts, CONFIG_FRAME_POINTER): `addi sp, sp, -N; sd ra, N-8(sp); sd s0, N-16(sp);
 * addi s0, sp, N` ... `ld ra; ld s0; addi sp; ret`, the frame record {s0, ra} the 16 bytes below s0. The
 * ftrace call site (`auipc t0` / `jalr t0`) goes before the prologue when a function is traced
 * (src/kernel/instrument.ts), as -fpatchable-function-entry puts it.
 *
 * How each feature of the arch-neutral generator (src/generate/program.ts) maps to riscv64:
 * - calls: `call` (a `jal ra` in the model); a tail call tears the frame down and `tail`s (a `jal zero`);
 *   a noreturn call is the function's last instruction.
 * - frameless leaves keep the return address in ra and return with `ret`. The `lrReg` leaf (spec 3.3)
 *   moves its return address to t2, puts a text address (inside the entry function) in ra, and returns
 *   with `jr t2`, as the kit's lr-in-gpr workload. The riscv64 analyser checks only the frame-pointer
 *   protocol (a call before the frame is set up), which such a leaf keeps: no finding is expected.
 * - shrink-wrapped functions run BODY instructions before `addi sp` and after the epilogue's `addi sp`.
 * - module code is reached from the kernel through a pointer (`la t1` / `jalr t1`) and calls the kernel
 *   through its own PLT entry `__plt_<target>` (`la t1` / `jr t1`), as module-sleep (arch/riscv/kernel/
 *   module-sections.c: a PLT entry is auipc t0 / ld t1 from its GOT slot / jr t1).
 * - BPF programs have the JIT's layout (arch/riscv/net/bpf_jit_comp64.c bpf_jit_build_prologue): the two
 *   nops reserved for the ftrace call site, the tail-call counter set in a6, sp moved, ra / s0 / s1 saved
 *   from the top down, then s0 pointed at the frame's top (the same {s0, ra} record as C); they are reached
 *   and call out by address (`la t1` / `jalr t1`, as emit_call's auipc/jalr pair).
 * - EFI runtime code (riscv has runtime services: efi_call_virt_pointer() calls them through a pointer)
 *   keeps no frame record: it saves ra in its own frame and leaves s0 alone.
 * - recursion counts its depth in kernel data (MAP.data + 0x800, 8 bytes per recursive function).
 * - a kernel thread starts in ret_from_fork, whose kthread() calls the program's entry by pointer.
 */
import { MAP, type WorkloadCode } from '../kernel/riscv64/image';
import { RISCV64_ABI as A } from '../isa/riscv64/abi';
import { REGS_COPY_FN, type GenFunction, type GenProgram, type Placement, type Step } from './program';
import { bodyLength, codeByPlacement, compiledFunction, indent, placementOf, pltName, recursionSteps, type Where } from './emit';

/** Depth counters of recursive functions: 8-byte slots in kernel data, zero at boot (a function: image.ts imports this module). */
export const riscv64RecursionCounters = (): number => MAP.data.base + 0x800;

/** A call from `from`'s code to `to`: direct where the kernel links it so, else through a pointer or the module's PLT. */
function call(from: Placement, to: string, where: Where): string[] {
  const dest = where(to);
  if (from === 'module' && dest === 'kernel') return [`call ${pltName(to)}`];
  if (from === dest && from !== 'efi' && from !== 'bpf') return [`call ${to}`];
  return [`la t1, ${to}`, 'jalr t1'];
}

function step(f: GenFunction, s: Step, where: Where): string[] {
  if (s.op === 'body') return [`BODY ${s.n}`];
  if (s.op === 'call' || s.op === 'noreturn') return call(f.placement ?? 'kernel', s.fn, where);
  return recursionSteps(f, s, riscv64RecursionCounters(), {
    bump: (c, limit, base) => [`li t1, ${c}`, 'ld t2, 0(t1)', 'addi t2, t2, 1', 'sd t2, 0(t1)', `addi t2, t2, -${limit}`, `beqz t2, ${base}`],
    call: (fn) => [`call ${fn}`],
    jump: (l) => [`j ${l}`],
  });
}

/** BPF JIT frame: ra, s0 (fp) and s1 saved from the top of a 32-byte frame. */
const BPF_FRAME = 32;

function fn(f: GenFunction, where: Where, entry: string): string {
  const steps = f.steps.flatMap((s) => step(f, s, where));
  const placement = f.placement ?? 'kernel';
  if (placement === 'bpf') {
    const N = BPF_FRAME;
    return [
      `${f.name}:`,
      ...indent(['nop', 'nop', 'li a6, 33', `addi sp, sp, -${N}`, `sd ra, ${N - 8}(sp)`, `sd s0, ${N - 16}(sp)`, `sd s1, ${N - 24}(sp)`, `addi s0, sp, ${N}`, ...steps, `ld ra, ${N - 8}(sp)`, `ld s0, ${N - 16}(sp)`, `ld s1, ${N - 24}(sp)`, `addi sp, sp, ${N}`, 'mv a0, a5', 'ret']),
    ].join('\n');
  }
  if (placement === 'efi') {
    // Firmware code: no frame record; it keeps ra in its own frame (s0 passes through).
    return [`${f.name}:`, ...indent(['addi sp, sp, -32', 'sd s1, 0(sp)', 'sd ra, 8(sp)', ...steps, 'ld ra, 8(sp)', 'ld s1, 0(sp)', 'addi sp, sp, 32', 'ret'])].join('\n');
  }
  if (f.lrReg) {
    // Spec 3.3: the return address moves to t2, and ra holds a text address (inside the entry function).
    return [`SYM_FUNC_START(${f.name})`, ...indent(['mv t2, ra', `la ra, ${entry}`, 'addi ra, ra, 4', ...Array.from({ length: bodyLength(f) }, () => 'addi t1, t1, 1'), 'jr t2']), `SYM_FUNC_END(${f.name})`].join('\n');
  }
  // regscopy_fn keeps a local struct pt_regs below its frame record (the kit's REGS_COPY_OFFSET).
  const N = f.name === REGS_COPY_FN ? A.FRAME_RECORD_SIZE + A.PT_REGS_SIZE : 16;
  return compiledFunction(f, steps, {
    prologue: [`addi sp, sp, -${N}`, `sd ra, ${N - 8}(sp)`, `sd s0, ${N - 16}(sp)`, `addi s0, sp, ${N}`],
    epilogue: [`ld ra, ${N - 8}(sp)`, `ld s0, ${N - 16}(sp)`, `addi sp, sp, ${N}`],
    ret: ['ret'],
    tail: (fn) => [`tail ${fn}`],
    branch: (l) => [`j ${l}`],
  });
}

export function riscv64Code(p: GenProgram): WorkloadCode {
  const where = placementOf(p);
  return codeByPlacement(p, where, (f) => fn(f, where, p.entry), (t) => [`SYM_CODE_START(${pltName(t)})`, `  la t1, ${t}`, '  jr t1', `SYM_CODE_END(${pltName(t)})`, `SYM_KIND(${pltName(t)}, plt)`]);
}

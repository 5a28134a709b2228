/**
 * Generated programs as powerpc64 (Book3S-64, ELFv2, -mprofile-kernel) assembly, laid out as the powerpc64
 * kit (src/kernel/powerpc64/image.ts) writes compiled C: `mflr r0` / `std r0,16(r1)` saves the return address
 * in the CALLER's frame (its LR save slot), `stdu r1,-32(r1)` makes the function's own frame with the back
 * chain as its first word; the epilogue is `addi r1,r1,32` / `ld r0,16(r1)` / `mtlr r0` / `blr`. The ftrace
 * call site `mflr r0; bl ftrace_caller` is patched in before the prologue (src/kernel/instrument.ts).
 *
 * How each generator feature maps to powerpc64:
 * - calls: `bl <fn>` within kernel text (and within a module or BPF image); a call by pointer (into module
 *   text or BPF JIT code, as the kit's module-sleep / bpf-sleep reach theirs) is `LOAD_REG_ADDR(r12, <fn>)` /
 *   `mtctr r12` / `bctrl` (ELFv2 calls through CTR with the target in r12); kthread() calls a generated
 *   kernel thread's function so too.
 * - tail calls: the epilogue without its `blr` (LR restored, frame popped), then `b <fn>`.
 * - frameless leaves keep the return address in LR and end with `blr`.
 * - `lrReg` (spec 3.3): the leaf moves its return address to r11 (`mflr r11`) and loads LR with a text
 *   address inside the entry function, returning with `mtctr r11` / `bctr`, as the kit's lr-in-gpr leaf. The
 *   powerpc64 analyser (a modelling assumption: upstream powerpc runs objtool for mcount and noinstr only)
 *   checks only calls made before LR is saved and the frame made, and this leaf calls nothing, so it reports
 *   nothing: no `expectFindings` for powerpc64.
 * - shrink-wrapping: instructions before `mflr r0`, and between the epilogue's `mtlr r0` and `blr` / `b`.
 * - noreturn calls: `bl gen_noreturn` as the function's last instruction.
 * - recursion: a depth counter in kernel data, `ld` / `addi` / `std`, `cmpdi` and `beq` to the deepest
 *   instance's call of the next function.
 * - module code calls kernel functions through its stub `__plt_<target>` (arch/powerpc/kernel/module_64.c's
 *   ELFv2 stub: r2 saved at 24(r1), the target into r12, `mtctr r12` / `bctr`), and the `nop` after the `bl`
 *   becomes `ld r2,24(r1)`, restoring the module's TOC pointer.
 * - BPF JIT code: the JIT's frame (arch/powerpc/net/bpf_jit_comp64.c bpf_jit_build_prologue(): LR saved in the
 *   caller's frame when the program calls out, `stdu r1`, non-volatile BPF registers saved in the frame), as
 *   the kit's bpf-sleep; it calls kernel functions by address through CTR (bpf_jit_emit_func_call_rel()),
 *   other BPF code by `bl`.
 * - EFI: powerpc64 has no EFI; its firmware runtime calls are OPAL (PowerNV) and RTAS (pSeries). An
 *   `efi`-placed function is firmware code in the kit's foreign `firmware-runtime` region (as its efi-call
 *   workload): a leaf with a frame of its own made by `stdu` and no LR save (LR stays live in its register).
 *   The kernel enters it as opal_call() does: hard interrupts off (OPAL runs with MSR[EE] clear), r2 saved in
 *   the caller's TOC slot, the entry point through CTR, r2 restored and interrupts on again after. The real
 *   __opal_call also switches to real mode with `hrfid` and skiboot moves to its own stack; the model keeps
 *   the kernel's stack and translation, so only an NMI (system reset) can find firmware code on the stack.
 * - regscopy_fn keeps a local struct pt_regs (REGS_COPY_FRAME), as the kit's.
 */
import { POWERPC64_ABI as A } from '../isa/powerpc64/abi';
import { epilogue, MAP, prologue, REGS_COPY_FRAME, type WorkloadCode } from '../kernel/powerpc64/image';
import { bodyLength, codeByPlacement, compiledFunction, indent, placementOf, pltName, recursionSteps, type Where } from './emit';
import { REGS_COPY_FN, type GenFunction, type GenProgram, type Placement, type Step } from './program';

/** Depth counters of recursive functions: 8-byte slots in kernel data, zero at boot (past the PACA and the tasks). */
export const powerpc64RecursionCounters = (): number => MAP.data.base + 0x800;

/** The JIT's frame (the kit's bpf-sleep program), and the non-volatile register it saves there. */
const BPF_FRAME = 64;
/** ELFv2's TOC save slot in a frame (R2_STACK_OFFSET). */
const TOC_SAVE = 24;

const irqs = (on: boolean): string[] => [`li r9, ${on ? A.MSR_EE | A.MSR_RI : A.MSR_RI}`, 'mtmsrd r9, 1'];

function powerpc64Call(from: Placement, to: string, where: Where): string[] {
  const dest = where(to);
  if (from === 'module' && dest === 'kernel') return [`bl ${pltName(to)}`, `ld r2, ${TOC_SAVE}(r1)`];
  const byCtr = [`LOAD_REG_ADDR(r12, ${to})`, 'mtctr r12', 'bctrl'];
  if (dest === 'efi') return [...irqs(false), `std r2, ${TOC_SAVE}(r1)`, ...byCtr, `ld r2, ${TOC_SAVE}(r1)`, ...irqs(true)];
  if (from === dest) return [`bl ${to}`];
  return byCtr;
}

function powerpc64Step(f: GenFunction, s: Step, where: Where): string[] {
  if (s.op === 'body') return [`BODY ${s.n}`];
  if (s.op === 'call' || s.op === 'noreturn') return powerpc64Call(where(f.name), s.fn, where);
  return recursionSteps(f, s, powerpc64RecursionCounters(), {
    bump: (c, limit, base) => [`LOAD_REG_IMMEDIATE(r11, ${c})`, 'ld r12, 0(r11)', 'addi r12, r12, 1', 'std r12, 0(r11)', `cmpdi r12, ${limit}`, `beq ${base}`],
    call: (fn) => [`bl ${fn}`],
    jump: (l) => [`b ${l}`],
  });
}

function powerpc64Fn(f: GenFunction, where: Where, entry: string): string {
  const steps = f.steps.flatMap((s) => powerpc64Step(f, s, where));
  const placement = where(f.name);
  if (placement === 'bpf') {
    // As the JIT lays a program out (bpf-sleep): LR into the caller's frame, a frame, r31 saved in it.
    return [`${f.name}:`, ...indent([...prologue(BPF_FRAME), 'std r31, 40(r1)', ...steps, 'ld r31, 40(r1)', ...epilogue(BPF_FRAME)])].join('\n');
  }
  if (placement === 'efi') {
    // Firmware code: a frame of its own, no LR save (a leaf: LR stays live), as the kit's efi_get_time.
    return [`${f.name}:`, ...indent(['stdu r1, -64(r1)', 'std r31, 32(r1)', ...steps, 'ld r31, 32(r1)', 'addi r1, r1, 64', 'blr'])].join('\n');
  }
  if (f.lrReg) {
    // Spec 3.3: the return address moves to r11, and LR holds a text address (inside the entry function).
    const body = Array.from({ length: bodyLength(f) }, () => 'addi r10, r10, 1');
    return [`SYM_FUNC_START(${f.name})`, ...indent(['mflr r11', `LOAD_REG_ADDR(r12, ${entry})`, 'addi r12, r12, 4', 'mtlr r12', ...body, 'mtctr r11', 'bctr']), `SYM_FUNC_END(${f.name})`].join('\n');
  }
  const frame = f.name === REGS_COPY_FN ? REGS_COPY_FRAME : A.STACK_FRAME_MIN_SIZE;
  const out = epilogue(frame);
  return compiledFunction(f, steps, { prologue: prologue(frame), epilogue: out.slice(0, -1), ret: out.slice(-1), tail: (fn) => [`b ${fn}`], branch: (l) => [`b ${l}`] });
}

export function powerpc64Code(p: GenProgram): WorkloadCode {
  const where = placementOf(p);
  return codeByPlacement(p, where, (f) => powerpc64Fn(f, where, p.entry), (t) => [`SYM_CODE_START(${pltName(t)})`, `  std r2, ${TOC_SAVE}(r1)`, `  LOAD_REG_ADDR(r12, ${t})`, '  mtctr r12', '  bctr', `SYM_CODE_END(${pltName(t)})`, `SYM_KIND(${pltName(t)}, plt)`]);
}

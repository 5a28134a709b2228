/**
 * Generated programs as s390x assembly, laid out as the s390x kit (src/kernel/s390x/image.ts) writes compiled
 * C, built -mpacked-stack -mbackchain: `stmg %r6,%r15,72(%r15)` saves the registers (the return address %r14
 * among them) into the CALLER's frame, then a 160-byte frame is allocated and its back chain stored as its last
 * word; the epilogue is `lmg %r6,%r15,<frame>+72(%r15)` and `br %r14`. The ftrace call site
 * `brasl %r0,ftrace_caller` is patched in before the prologue (src/kernel/instrument.ts).
 *
 * How each generator feature maps to s390x:
 * - calls: `brasl %r14,<fn>` within kernel text (and within a module or BPF image); a call by pointer (into
 *   module text or BPF JIT code, as the kit's module-sleep / bpf-sleep reach theirs, and a kernel thread's
 *   thread function from kthread()) is `larl %r1,<fn>` / `basr %r14,%r1`.
 * - tail calls: the epilogue's `lmg` restores %r14 and %r15, then `jg <fn>` (gcc's sibling call).
 * - frameless leaves keep the return address in %r14 and end with `br %r14`.
 * - `lrReg` (spec 3.3): the leaf moves its return address to %r5 and loads %r14 with a text address inside
 *   the entry function (`larl` + `aghi`), returning with `br %r5`, as the kit's lr-in-gpr leaf. The s390x
 *   analyser (a modelling assumption: s390 has no objtool stack validation) checks only calls made before the
 *   back chain is set up, and this leaf calls nothing, so it reports nothing: no `expectFindings` for s390x.
 * - shrink-wrapping: instructions before `stmg` and between the epilogue's `lmg` and `br %r14` / `jg`.
 * - noreturn calls: `brasl %r14,gen_noreturn` as the function's last instruction.
 * - recursion: a depth counter in kernel data (`lghi` of its address: the model's stand-in for `larl` of a
 *   variable), `lg` / `aghi` / `stg`, `ltgr` and `jz` to the deepest instance's call of the next function.
 * - module code calls kernel functions through its PLT entry `__plt_<target>` (`larl %r1,<target>` /
 *   `br %r1`: arch/s390/kernel/module.c's PLT loads the target into %r1 and branches to it).
 * - BPF JIT code: the JIT's prologue (arch/s390/net/bpf_jit_comp.c bpf_jit_prologue(): the registers into the
 *   caller's frame, `lgr %r1,%r15`, `aghi %r15,-(STK_OFF + stack depth)`, the back chain at 152), as the kit's
 *   bpf-sleep; it calls kernel functions by address (`larl %r1` / `basr %r14,%r1`), other BPF code by `brasl`.
 * - EFI: s390x has no EFI and no firmware code the kernel calls as a function (SCLP, DIAGNOSE and the
 *   hypervisor are reached by single instructions that leave nothing on the kernel stack): an `efi`-placed
 *   function is an ordinary kernel C function here, called on the way by its caller.
 * - regscopy_fn keeps a local struct pt_regs and the frame below it (REGS_COPY_LOCALS), as the kit's.
 */
import { S390X_ABI } from '../isa/s390x/abi';
import { epilogue, MAP, prologue, REGS_COPY_LOCALS, type WorkloadCode } from '../kernel/s390x/image';
import { bodyLength, codeByPlacement, compiledFunction, indent, placementOf, pltName, recursionSteps, type Where } from './emit';
import { REGS_COPY_FN, type GenFunction, type GenProgram, type Placement, type Step } from './program';

/** Depth counters of recursive functions: 8-byte slots in kernel data, zero at boot (past the lowcore and the tasks). */
export const s390xRecursionCounters = (): number => MAP.data.base + 0x800;

/** Locals of the JIT's frame (the kit's bpf-sleep program). */
const BPF_LOCALS = 32;

/** s390x has no EFI runtime code: an `efi`-placed function sits in kernel text. */
const s390xWhere = (p: GenProgram): Where => {
  const where = placementOf(p);
  return (fn) => {
    const pl = where(fn);
    return pl === 'efi' ? 'kernel' : pl;
  };
};

function s390xCall(from: Placement, to: string, where: Where): string[] {
  const dest = where(to);
  if (from === 'module' && dest === 'kernel') return [`brasl %r14,${pltName(to)}`];
  if (from === dest) return [`brasl %r14,${to}`];
  // By address: the kernel into module text or BPF code, a module into BPF code, BPF code into the kernel.
  return [`larl %r1,${to}`, 'basr %r14,%r1'];
}

function s390xStep(f: GenFunction, s: Step, where: Where): string[] {
  if (s.op === 'body') return [`BODY ${s.n}`];
  if (s.op === 'call' || s.op === 'noreturn') return s390xCall(where(f.name), s.fn, where);
  return recursionSteps(f, s, s390xRecursionCounters(), {
    bump: (c, limit, base) => [`lghi %r1,${c}`, 'lg %r3,0(%r1)', 'aghi %r3,1', 'stg %r3,0(%r1)', `aghi %r3,-${limit}`, 'ltgr %r3,%r3', `jz ${base}`],
    call: (fn) => [`brasl %r14,${fn}`],
    jump: (l) => [`j ${l}`],
  });
}

function s390xFn(f: GenFunction, where: Where, entry: string): string {
  const steps = f.steps.flatMap((s) => s390xStep(f, s, where));
  if (where(f.name) === 'bpf') {
    // As the JIT lays a program out (bpf-sleep): registers into the caller's frame, a frame with its back chain.
    return [`${f.name}:`, ...indent([...prologue(BPF_LOCALS), ...steps, ...epilogue(BPF_LOCALS)])].join('\n');
  }
  if (f.lrReg) {
    // Spec 3.3: the return address moves to %r5, and %r14 holds a text address (inside the entry function).
    const body = Array.from({ length: bodyLength(f) }, () => 'aghi %r1,1');
    return [`SYM_FUNC_START(${f.name})`, ...indent(['lgr %r5,%r14', `larl %r14,${entry}`, `aghi %r14,${S390X_ABI.INSN_SIZE}`, ...body, 'br %r5']), `SYM_FUNC_END(${f.name})`].join('\n');
  }
  const locals = f.name === REGS_COPY_FN ? REGS_COPY_LOCALS : 0;
  const [restore, ret] = epilogue(locals) as [string, string];
  return compiledFunction(f, steps, { prologue: prologue(locals), epilogue: [restore], ret: [ret], tail: (fn) => [`jg ${fn}`], branch: (l) => [`j ${l}`] });
}

export function s390xCode(p: GenProgram): WorkloadCode {
  const where = s390xWhere(p);
  return codeByPlacement(p, where, (f) => s390xFn(f, where, p.entry), (t) => [`SYM_CODE_START(${pltName(t)})`, `  larl %r1,${t}`, '  br %r1', `SYM_CODE_END(${pltName(t)})`, `SYM_KIND(${pltName(t)}, plt)`]);
}

/**
 * The mutant catalogue (issue 9). Load one as a profile's unwinder:
 *   { "unwinder": "module:src/mutants/index.ts", "options": { "mutant": "<id>" }, ... }
 * or build its profile with mutantProfile(entry). `npm run mutants` runs the suite once per entry.
 *
 * Faulty entries name the requirement that must catch them and, where they model one, the kernel
 * fix whose bug they re-introduce. Correct entries differ from their base and stay sound.
 */
import { create as createLegacy, type Mutant as LegacyMutant } from '../conformance/mutants';
import { builtinProfile } from '../unwinders/profiles';
import type { Profile, Unwinder } from '../unwinders/types';
import { walkArm64, type Arm64Knobs } from './arm64-walker';
import type { BaseProfile, MutantEntry } from './types';
import { walkOrcMutant, type OrcKnobs } from './x86_64-walker';
import { recoverReturn, walkLoongarchOrc, type LoongSeams } from '../unwinders/loongarch64-orc';
import { kretprobeTrampoline } from '../unwinders/common';
import { walkRiscv64, type Riscv64Knobs } from '../unwinders/riscv64-fp';
import { walkS390x, type S390xKnobs } from '../unwinders/s390x-bc';
import { walkPowerpc64, type Powerpc64Knobs } from '../unwinders/powerpc64-bc';
import { EINVAL, baseUnwinder, everythingIsTextView, noNonStandardView, onResult, onView, retStackUncheckedView, trampolinesUnknownView } from './wrappers';

export type { MutantEntry } from './types';

type Def = Omit<MutantEntry, 'create'>;

const named = (profile: Profile, base: string) => `${profile.name} (mutant of ${base})`;

function arm64(def: Def, knobs: Omit<Arm64Knobs, 'kind'>): MutantEntry {
  const kind = def.base === 'arm64-meta' ? 'meta' : 'fp';
  return {
    ...def,
    create: (profile) => {
      const k: Arm64Knobs = { kind, ...(kind === 'meta' ? { nmiPolicy: profile.claims.unwindsAcrossNmi ? 'unwind' : 'reject' } : {}), ...knobs };
      return { name: named(profile, def.base), walk: (input) => walkArm64(input, k) };
    },
  };
}

function riscv64(def: Def, knobs: Riscv64Knobs): MutantEntry {
  return { ...def, create: (profile) => ({ name: named(profile, def.base), walk: (input) => walkRiscv64(input, knobs) }) };
}

function s390x(def: Def, knobs: S390xKnobs): MutantEntry {
  return { ...def, create: (profile) => ({ name: named(profile, def.base), walk: (input) => walkS390x(input, knobs) }) };
}

function powerpc64(def: Def, knobs: Powerpc64Knobs): MutantEntry {
  return { ...def, create: (profile) => ({ name: named(profile, def.base), walk: (input) => walkPowerpc64(input, knobs) }) };
}

function orc(def: Def, knobs: OrcKnobs): MutantEntry {
  return { ...def, create: (profile) => ({ name: named(profile, def.base), walk: (input) => walkOrcMutant(input, knobs) }) };
}

const KIND: Record<BaseProfile, string> = { 'arm64-fp': 'frame-pointer', 'arm64-meta': 'metadata', 'x86_64-fp': 'frame-pointer', 'x86_64-orc': 'orc', 'riscv64-fp': 'frame-pointer', 'loongarch64-orc': 'orc', 's390x-bc': 'back-chain', 'powerpc64-bc': 'back-chain' };

/** A loongarch64 ORC reference walk with some of its seams changed (src/unwinders/loongarch64-orc.ts). */
function loong(def: Def, seams: LoongSeams): MutantEntry {
  return { ...def, create: (profile) => ({ name: named(profile, def.base), walk: (input) => walkLoongarchOrc(input, seams) }) };
}

/** unwind_orc.c's orc_fp_entry: CFA = fp, the caller's fp and ra saved just below it. */
const ORC_FP_ENTRY = { ip: '0x0', spReg: 'fp', spOffset: 16, fpReg: 'prev_sp', fpOffset: -16, raReg: 'prev_sp', raOffset: -8, type: 'call' } as const;

function wrap(def: Def, make: (base: Unwinder) => Unwinder['walk']): MutantEntry {
  return { ...def, create: (profile) => ({ name: named(profile, def.base), walk: make(baseUnwinder(profile, KIND[def.base])) }) };
}

function legacy(def: Def, mutant: LegacyMutant): MutantEntry {
  return { ...def, create: (profile) => createLegacy({ ...profile, options: { mutant, base: KIND[def.base] } }) };
}

/** Drop every reliable trace that names module text or BPF JIT code (stricter). */
const inModuleText = (snapMem: { find(a: number): { kind: string } | undefined }, a: number) => {
  const k = snapMem.find(a)?.kind;
  return k === 'module-text' || k === 'bpf-jit';
};

export const CATALOGUE: readonly MutantEntry[] = [
  // ============================================================== arm64, faulty
  arm64(
    {
      id: 'arm64-regs-lr-reported',
      arch: 'arm64',
      base: 'arm64-fp',
      kind: 'faulty',
      description: 'at an exception boundary reports regs->pc, then regs->lr (KUNWIND_SOURCE_REGS_LR), then walks on from regs->regs[29], without knowing whether LR was live',
      requirement: 'lr-reject-unless-identifiable',
      commit: '32ed1205682e ("arm64: stacktrace: Skip reporting LR at exception boundaries")',
    },
    { reportLrAtBoundary: true },
  ),
  arm64(
    {
      id: 'arm64-meta-claims-id-trusts-lr',
      arch: 'arm64',
      base: 'arm64-meta',
      kind: 'faulty',
      description: 'claims it identifies reliable exception unwinds, then reports LR at every boundary (pc, LR, frame record) whether or not LR is live: a duplicated callee after a prologue or a returned BL, an inverted pair after ADR LR',
      requirement: 'lr-duplicates-and-inversions-unreliable',
      commit: 'a63d7408afbd ("arm64: disable ARCH_CORRECT_STACKTRACE_ON_KRETPROBE tests"): after c2c6b27b5aa1 reported the LR at exception boundaries, a dead LR put the kretprobed callee in the trace twice (kprobe_stacktrace_target (P), then again (LK)) before its caller',
    },
    { reportLrAtBoundary: true },
  ),
  arm64(
    {
      id: 'arm64-fp-crosses-exceptions',
      arch: 'arm64',
      base: 'arm64-fp',
      kind: 'faulty',
      description: 'frame-record unwinder that unwinds across exception boundaries (regs->pc, then the record at regs->regs[29]) though it cannot tell whether the interrupted function had its frame record yet',
      requirement: 'reject-exceptions-when-unidentifiable',
    },
    { fpCrossBoundary: true },
  ),
  arm64(
    {
      id: 'arm64-fgraph-null-idx',
      arch: 'arm64',
      base: 'arm64-fp',
      kind: 'faulty',
      description: 'calls ftrace_graph_ret_addr() with a NULL idx and uses the answer unchecked: once the function honours idx it returns return_to_handler unchanged, which is reported in place of the traced function\'s caller',
      requirement: 'rewritten-return-unreliable-unless-recovered',
      commit: '29c1c24a2707 ("function_graph: Fix up ftrace_graph_ret_addr()"): callers passing NULL idx got `ret` back; arm64\'s WARN_ON_ONCE(pc == orig_pc) turned it into a splat and a failed walk, this mutant drops that check',
    },
    { fgraph: 'unrecovered' },
  ),
  arm64(
    {
      id: 'arm64-kretprobe-unchecked',
      arch: 'arm64',
      base: 'arm64-fp',
      kind: 'faulty',
      description: 'does not check kretprobe_find_ret_addr(): when no instance matches it reports 0 as the return address and walks on',
      requirement: 'rewritten-return-unreliable-unless-recovered',
      commit: 'beecfd6a88a6 ("arm64: stacktrace: Check kretprobe_find_ret_addr() return value")',
    },
    { kretprobe: 'unchecked' },
  ),
  arm64(
    {
      id: 'arm64-kretprobe-keyless',
      arch: 'arm64',
      base: 'arm64-fp',
      kind: 'faulty',
      description: 'recovers __kretprobe_trampoline with the wrong key: the next kretprobe instance in list order, whatever frame it belongs to (ri->fp is not compared), so an instance list out of step with the stack gives the wrong return address',
      requirement: 'rewritten-return-unreliable-unless-recovered',
    },
    { kretprobe: 'keyless' },
  ),
  arm64(
    {
      id: 'arm64-no-kernel-text-check',
      arch: 'arm64',
      base: 'arm64-fp',
      kind: 'faulty',
      description: 'never checks __kernel_text_address() on reported pcs: a corrupt return address is reported as if it were a caller',
      requirement: 'corruption-detected-nonzero',
    },
    { noKernelTextCheck: true },
  ),
  arm64(
    {
      id: 'arm64-stops-at-unknown-rc0',
      arch: 'arm64',
      base: 'arm64-fp',
      kind: 'faulty',
      description: 'stops at the first pc outside kernel text and returns 0 with the trace so far (early termination reported as success)',
      requirement: 'early-termination-not-reliable',
    },
    { stopAtUnknownReliable: true },
  ),
  arm64(
    {
      id: 'arm64-final-record-anywhere',
      arch: 'arm64',
      base: 'arm64-fp',
      kind: 'faulty',
      description: 'accepts a FINAL frame_record_meta wherever it is met, not only at task_pt_regs(task)->stackframe',
      requirement: 'termination-verified',
    },
    { finalAnywhere: true },
  ),
  arm64(
    {
      id: 'arm64-zero-fp-ends-walk',
      arch: 'arm64',
      base: 'arm64-fp',
      kind: 'faulty',
      description: 'treats a zero frame pointer as the end of the stack (as arm64 did before the FINAL record), so a chain cut short by corruption is reliable',
      requirement: 'early-termination-not-reliable',
    },
    { zeroFpEnds: true },
  ),
  arm64(
    {
      id: 'arm64-reads-other-stacks',
      arch: 'arm64',
      base: 'arm64-fp',
      kind: 'faulty',
      description: 'on_accessible_stack() accepts every task / IRQ / NMI stack of the machine: follows a frame pointer into another task\'s or CPU\'s stack',
      requirement: 'walk-memory-safe',
    },
    { anyStack: true },
  ),
  arm64(
    {
      id: 'arm64-unbounded-walk',
      arch: 'arm64',
      base: 'arm64-fp',
      kind: 'faulty',
      description: 'no frame limit and no unwind_consume_stack(): a cyclic frame chain is walked forever',
      requirement: 'walk-terminates',
    },
    { unbounded: true, noMonotonicCheck: true },
  ),
  arm64(
    {
      id: 'arm64-records-not-increasing',
      arch: 'arm64',
      base: 'arm64-fp',
      kind: 'faulty',
      description: 'does not require frame records to move strictly up the stack (bounded by the frame limit only): a frame pointer pointing down is followed',
      requirement: 'corruption-detected-nonzero',
    },
    { noMonotonicCheck: true },
  ),
  arm64(
    {
      id: 'arm64-stack-bounds-off-by-one',
      arch: 'arm64',
      base: 'arm64-fp',
      kind: 'faulty',
      description: 'checks only that a frame record starts below the stack\'s top, so a record straddling the top reads past the stack',
      requirement: 'walk-memory-safe',
    },
    { offByOneBounds: true },
  ),
  arm64(
    {
      id: 'arm64-nonstandard-ignored',
      arch: 'arm64',
      base: 'arm64-fp',
      kind: 'faulty',
      description: 'ignores STACK_FRAME_NON_STANDARD: walks through a function whose frame nothing vouches for',
      requirement: 'stack-frame-non-standard-handled',
    },
    { ignoreNonStandard: true },
  ),
  arm64(
    {
      id: 'arm64-irq-entry-ends-walk',
      arch: 'arm64',
      base: 'arm64-fp',
      kind: 'faulty',
      description: 'ends the walk successfully at the first exception boundary, i.e. cleanly on the IRQ stack, leaving out the interrupted task',
      requirement: 'termination-on-expected-stack',
    },
    { boundaryEndsWalk: true },
  ),
  arm64(
    {
      id: 'arm64-meta-nmi-as-irq',
      arch: 'arm64',
      base: 'arm64-meta',
      kind: 'faulty',
      description: 'claims it does not unwind across NMIs (policy reject), but never tells an NMI from an IRQ and unwinds both with the IRQ rules',
      requirement: 'reject-exceptions-when-unidentifiable',
    },
    { nmiAsIrq: true },
  ),
  arm64(
    {
      id: 'arm64-meta-unknown-state-breaks',
      arch: 'arm64',
      base: 'arm64-meta',
      kind: 'faulty',
      description: 'an unknown / unsupported unwind-table state at an exception boundary falls out of the switch and the walk goes on from regs->regs[29] instead of failing',
      requirement: 'unwind-hint-undefined-is-unreliable',
      commit: 'a0f81bf26888 ("x86/unwind/orc: Fix error handling in unwind_next_frame()") — the same break-instead-of-goto-err, in the arm64 table walker, where nothing else catches it',
    },
    { unknownStateBreaks: true },
  ),
  arm64(
    {
      id: 'arm64-meta-efi-as-ordinary',
      arch: 'arm64',
      base: 'arm64-meta',
      kind: 'faulty',
      description: 'treats foreign (EFI runtime services) code as an ordinary kernel function with its own frame record',
      requirement: 'foreign-code-handled',
    },
    { foreignAsOrdinary: true },
  ),
  arm64(
    {
      id: 'arm64-meta-ftrace-trampoline-lr',
      arch: 'arm64',
      base: 'arm64-meta',
      kind: 'faulty',
      description: 'interrupted in the ftrace entry trampoline, takes LR for the return address, though at its start X9 holds it (MOV X9, X30; BL <trampoline>)',
      requirement: 'obscured-return-unwound-or-rejected',
    },
    { ftraceTrampolineUsesLr: true },
  ),
  wrap(
    {
      id: 'arm64-reliable-count-lost',
      arch: 'arm64',
      base: 'arm64-fp',
      kind: 'faulty',
      description: 'stack_trace_save_tsk_reliable() returns arch_stack_walk_reliable()\'s 0 instead of the entry count: livepatch sees success with no entries',
      requirement: 'trace-complete-or-nonzero',
      commit: '7eaf51a2e094 ("stacktrace: Unbreak stack_trace_save_tsk_reliable()")',
    },
    (base) => onResult(base, (r) => (r.rc === 0 ? { rc: 0, trace: [] } : r)),
  ),
  legacy(
    {
      id: 'arm64-truncate',
      arch: 'arm64',
      base: 'arm64-fp',
      kind: 'faulty',
      description: 'rc 0 with only the starting pc: omits every caller',
      requirement: 'trace-complete-or-nonzero',
    },
    'truncate',
  ),
  legacy(
    {
      id: 'arm64-duplicate-innermost',
      arch: 'arm64',
      base: 'arm64-fp',
      kind: 'faulty',
      description: 'reports the innermost function twice in every reliable trace',
      requirement: 'reliable-trace-in-true-order',
    },
    'duplicate',
  ),
  legacy(
    {
      id: 'arm64-loop',
      arch: 'arm64',
      base: 'arm64-fp',
      kind: 'faulty',
      description: 're-reads the stack pointer\'s slot forever',
      requirement: 'walk-terminates',
    },
    'loop',
  ),

  // ============================================================== loongarch64, faulty
  loong(
    {
      id: 'loongarch64-orc-blocked-fp-unsaved',
      arch: 'loongarch64',
      base: 'loongarch64-orc',
      kind: 'faulty',
      description: 'walks a blocked task with fp 0 instead of thread.reg22 (the value __switch_to saved): the first fp-based ORC entry (__schedule\'s CFA is its fp) cannot be unwound, so every blocked task is needlessly unreliable and livepatch transitions stall',
      // Needless unreliability breaks no MUST: it is the SHOULD that a walk reaches its expected end.
      requirement: 'termination-verified',
      commit: '677d4a52d4dc',
    },
    { noBlockedFp: true },
  ),
  loong(
    {
      id: 'loongarch64-orc-undefined-walked',
      arch: 'loongarch64',
      base: 'loongarch64-orc',
      kind: 'faulty',
      description: 'an UNDEFINED ORC entry is unwound as if it were a function\'s entry (CFA = sp, ra in its register) instead of ending the walk as an error',
      requirement: 'unwind-hint-undefined-is-unreliable',
    },
    { undefinedAsEntry: true },
  ),
  loong(
    {
      id: 'loongarch64-orc-fp-guess',
      arch: 'loongarch64',
      base: 'loongarch64-orc',
      kind: 'faulty',
      description: 'a pc with no ORC entry (BPF, EFI, code the analyser skipped) is unwound with orc_fp_entry, a frame-pointer guess, without marking the walk unreliable (state->error not set)',
      requirement: 'generated-code-handled',
    },
    { missingEntry: () => ORC_FP_ENTRY },
  ),
  loong(
    {
      id: 'loongarch64-orc-trusts-ra',
      arch: 'loongarch64',
      base: 'loongarch64-orc',
      kind: 'faulty',
      description: 'once pt_regs gave an ra, uses it as the next return address whatever the ORC entry says (saved on the stack, or ra already consumed) and never drops it: the state->ra check of unwind_next_frame() left out',
      requirement: 'exception-walks-sound',
    },
    { trustRa: true },
  ),
  loong(
    {
      id: 'loongarch64-orc-fgraph-key-cfa',
      arch: 'loongarch64',
      base: 'loongarch64-orc',
      kind: 'faulty',
      description: 'looks return_to_handler up in the ret_stack by the frame\'s CFA instead of CFA - GRAPH_FAKE_OFFSET (the parent-ra slot of the pt_regs ftrace_caller built, which prepare_ftrace_return() keys by): no entry ever matches, so every graph-traced walk is rejected although the profile claims recovery',
      requirement: 'fgraph-original-return-reported',
    },
    { recover: (snap, rec, ret, cfa) => recoverReturn(snap, rec, ret, cfa + (snap.abi['GRAPH_FAKE_OFFSET'] ?? 0)) },
  ),
  loong(
    {
      id: 'loongarch64-orc-rethook-frame-zero',
      arch: 'loongarch64',
      base: 'loongarch64-orc',
      kind: 'faulty',
      description: 'keys rethook nodes as upstream arch_rethook_prepare() records them, frame 0: no node matches a frame, so every walk through arch_rethook_trampoline is rejected although the profile claims recovery',
      requirement: 'kretprobe-original-return-reported',
    },
    {
      recover: (snap, rec, ret, cfa) => {
        const tramp = kretprobeTrampoline(snap);
        return tramp !== undefined && ret === tramp ? recoverReturn(snap, rec, ret, 0) : recoverReturn(snap, rec, ret, cfa);
      },
    },
  ),

  // ============================================================== x86_64, faulty
  orc(
    {
      id: 'x86_64-orc-undefined-is-end',
      arch: 'x86_64',
      base: 'x86_64-orc',
      kind: 'faulty',
      description: 'an UNDEFINED ORC entry ends the walk successfully (UNWIND_HINT_EMPTY meant both "end of stack" and "undefined")',
      requirement: 'unwind-hint-undefined-is-unreliable',
      commit: 'fb799447ae29 ("x86,objtool: Split UNWIND_HINT_EMPTY in two")',
    },
    { undefinedIsEnd: true },
  ),
  wrap(
    {
      id: 'x86_64-orc-start-error-unflagged',
      arch: 'x86_64',
      base: 'x86_64-orc',
      kind: 'faulty',
      description: 'an error while __unwind_start() sets up the walk (up to its first unwind_next_frame()) ends the walk without state->error: rc 0 with at most one entry',
      requirement: 'early-termination-not-reliable',
      commit: '71c95825289f ("x86/unwind/orc: Fix error handling in __unwind_start()")',
    },
    (base) => onResult(base, (r) => (r.rc !== 0 && r.trace.length <= 1 ? { rc: 0, trace: r.trace } : r)),
  ),
  wrap(
    {
      id: 'x86_64-orc-skips-first-frame',
      arch: 'x86_64',
      base: 'x86_64-orc',
      kind: 'faulty',
      description: 'for an inactive (blocked) task, skips the first frame: the return address in the inactive_task_frame is never reported',
      requirement: 'trace-complete-or-nonzero',
      commit: 'f1d9a2abff66 ("x86/unwind/orc: Don\'t skip the first frame for inactive tasks")',
    },
    (base) => onResult(base, (r, input) => (r.rc === 0 && input.snap.json.task.state === 'blocked' ? { rc: 0, trace: r.trace.slice(1) } : r)),
  ),
  wrap(
    {
      id: 'x86_64-fp-ret-stack-unchecked',
      arch: 'x86_64',
      base: 'x86_64-fp',
      kind: 'faulty',
      description: 'uses ftrace_graph_ret_addr()\'s answer unchecked: with task->ret_stack NULL or empty while return_to_handler is on the stack it gets return_to_handler back, and reports it as the caller',
      // The kernels' own unwinders do this too; the lost entry is corrupt state, so it is the SHOULD to detect it.
      requirement: 'corruption-detected-nonzero',
    },
    (base) => onView(base, retStackUncheckedView),
  ),
  wrap(
    {
      id: 'x86_64-fp-fgraph-unrecovered',
      arch: 'x86_64',
      base: 'x86_64-fp',
      kind: 'faulty',
      description: 'claims to recover function-graph and kretprobe returns but never does: return_to_handler / __kretprobe_trampoline are reported as callers and the frame-pointer walk goes on past the traced function\'s caller',
      requirement: 'rewritten-return-unreliable-unless-recovered',
    },
    (base) => onView(base, trampolinesUnknownView),
  ),
  orc(
    {
      id: 'x86_64-orc-fp-guess',
      arch: 'x86_64',
      base: 'x86_64-orc',
      kind: 'faulty',
      description: 'an ip with no ORC entry (BPF, optprobe and ftrace trampolines, EFI) is unwound with orc_fp_entry, a frame-pointer guess, without marking the walk unreliable',
      requirement: 'obscured-return-unwound-or-rejected',
    },
    { fpGuessWithoutError: true },
  ),
  orc(
    {
      id: 'x86_64-orc-user-regs-anywhere',
      arch: 'x86_64',
      base: 'x86_64-orc',
      kind: 'faulty',
      description: 'user-mode pt_regs end the walk successfully wherever they are met, not only at task_pt_regs(task) (as arch/x86/kernel/stacktrace.c does today: the SHOULD to verify where a walk ends)',
      requirement: 'termination-verified',
    },
    { userRegsAnywhere: true },
  ),
  wrap(
    {
      id: 'x86_64-fp-no-kernel-text-check',
      arch: 'x86_64',
      base: 'x86_64-fp',
      kind: 'faulty',
      description: 'never checks __kernel_text_address() on return addresses: a corrupt return address is reported as a caller',
      requirement: 'corruption-detected-nonzero',
    },
    (base) => onView(base, everythingIsTextView),
  ),
  wrap(
    {
      id: 'x86_64-fp-nonstandard-ignored',
      arch: 'x86_64',
      base: 'x86_64-fp',
      kind: 'faulty',
      description: 'ignores STACK_FRAME_NON_STANDARD: walks through a function whose frame nothing vouches for',
      requirement: 'stack-frame-non-standard-handled',
    },
    (base) => onView(base, noNonStandardView),
  ),
  wrap(
    {
      id: 'x86_64-reliable-count-lost',
      arch: 'x86_64',
      base: 'x86_64-orc',
      kind: 'faulty',
      description: 'stack_trace_save_tsk_reliable() returns arch_stack_walk_reliable()\'s 0 instead of the entry count: livepatch sees success with no entries',
      requirement: 'trace-complete-or-nonzero',
      commit: '7eaf51a2e094 ("stacktrace: Unbreak stack_trace_save_tsk_reliable()")',
    },
    (base) => onResult(base, (r) => (r.rc === 0 ? { rc: 0, trace: [] } : r)),
  ),
  legacy(
    {
      id: 'x86_64-overclaim',
      arch: 'x86_64',
      base: 'x86_64-fp',
      kind: 'faulty',
      description: 'reports every walk reliable, whatever the base unwinder found',
      requirement: 'robust-to-corrupt-unwind-state',
    },
    'overclaim',
  ),
  wrap(
    {
      id: 'arm64-superset',
      arch: 'arm64',
      base: 'arm64-fp',
      kind: 'faulty',
      description: 'never reads the stack: rc 0 with every symbol of the image, in address order (nothing live is ever missing, nothing is the true chain)',
      requirement: 'reliable-trace-in-true-order',
    },
    () => (input) => ({ rc: 0, trace: input.snap.syms.all.map((f) => f.start) }),
  ),
  legacy(
    {
      id: 'x86_64-wild-read',
      arch: 'x86_64',
      base: 'x86_64-fp',
      kind: 'faulty',
      description: 'reads address 0 before walking',
      requirement: 'walk-memory-safe',
    },
    'wild-read',
  ),

  // ============================================================== riscv64, faulty
  riscv64(
    {
      id: 'riscv64-fgraph-idx-reset',
      arch: 'riscv64',
      base: 'riscv64-fp',
      kind: 'faulty',
      description: 'the ret_stack cursor restarts at every frame and return_to_handler is replaced by the innermost entry whatever the frame: with two graph-traced functions live, the outer one\'s caller is lost',
      requirement: 'fgraph-original-return-reported',
      commit: '393da6cbb2ff ("riscv: stacktrace: fix usage of ftrace_graph_ret_addr()"): walk_stackframe() declared its graph index inside the loop, so every lookup started over',
    },
    { fgraphIdxReset: true },
  ),
  riscv64(
    {
      id: 'riscv64-trusts-ra-at-boundary',
      arch: 'riscv64',
      base: 'riscv64-fp',
      kind: 'faulty',
      description: 'at an exception boundary reports regs->epc, then regs->ra, then walks on from regs->s0, without knowing whether ra was live (as walk_stackframe() does for a function that has not saved ra)',
      requirement: 'lr-reject-unless-identifiable',
    },
    { trustRaAtBoundary: true },
  ),
  riscv64(
    {
      id: 'riscv64-leaf-guess-at-boundary',
      arch: 'riscv64',
      base: 'riscv64-fp',
      kind: 'faulty',
      description: 'crosses exception boundaries as today\'s walk_stackframe() does: regs->epc, then a leaf frame guessed from a plausible frame pointer below regs->s0 (go on with regs->ra) or else the record there; in a prologue s0 is still the caller\'s, and the caller is skipped',
      requirement: 'reject-exceptions-when-unidentifiable',
    },
    { leafGuessAtBoundary: true },
  ),
  riscv64(
    {
      id: 'riscv64-no-final-check',
      arch: 'riscv64',
      base: 'riscv64-fp',
      kind: 'faulty',
      description: 'ignores the FINAL record: like today\'s walk_stackframe(), the walk succeeds wherever the frame chain ends (a zero, misaligned or off-stack frame pointer)',
      requirement: 'early-termination-not-reliable',
    },
    { noFinalCheck: true },
  ),
  riscv64(
    {
      id: 'riscv64-final-record-anywhere',
      arch: 'riscv64',
      base: 'riscv64-fp',
      kind: 'faulty',
      description: 'accepts a FINAL frame_record_meta wherever it is met, not only at task_pt_regs(task)->stackframe',
      requirement: 'termination-verified',
    },
    { finalAnywhere: true },
  ),
  riscv64(
    {
      id: 'riscv64-no-stack-bounds',
      arch: 'riscv64',
      base: 'riscv64-fp',
      kind: 'faulty',
      description: 'no stack bounds: reads the frame record wherever the frame pointer points (unmapped memory, another task\'s stack)',
      requirement: 'walk-memory-safe',
    },
    { noStackBounds: true },
  ),

  // ============================================================== s390x, faulty
  s390x(
    {
      id: 's390x-bc-fgraph-null-key',
      arch: 's390x',
      base: 's390x-bc',
      kind: 'faulty',
      description: 'looks return_to_handler up in the ret_stack with a NULL key instead of the frame\'s sp: no entry matches, ftrace_graph_ret_addr() hands return_to_handler back, and it is reported in place of the traced function\'s caller',
      requirement: 'fgraph-original-return-reported',
      commit: 'ded466e18066 ("s390/unwind: fix fgraph return address recovery"): unwind_recover_ret_addr() passed NULL, not (void *)state->sp, to ftrace_graph_ret_addr()',
    },
    { fgraphNullKey: true },
  ),
  s390x(
    {
      id: 's390x-bc-kretprobe-unrecovered',
      arch: 's390x',
      base: 's390x-bc',
      kind: 'faulty',
      description: 'does not recover rethook returns: arch_rethook_trampoline is reported in place of the kretprobed function\'s caller',
      requirement: 'kretprobe-original-return-reported',
      commit: 'd81675b60d09 ("s390/unwind: recover kretprobe modified return address in stacktrace"): before it the trampoline address stayed in the trace',
    },
    { noRethookRecovery: true },
  ),
  s390x(
    {
      id: 's390x-bc-regs-r14-duplicates',
      arch: 's390x',
      base: 's390x-bc',
      kind: 'faulty',
      description: 'walks across pt_regs: regs->psw.addr, then the interrupted frame\'s r14 slot whenever it is kernel text, without checking whether (recovered) it gives the entry psw.addr just gave: the same frame twice',
      requirement: 'lr-duplicates-and-inversions-unreliable',
      commit: '708b13763920 ("s390/unwind: avoid duplicated unwinding entries for kretprobes"): the r14 after pt_regs is compared with psw.addr once recovered, and skipped when equal',
    },
    { acrossRegs: 'no-duplicate-check' },
  ),
  s390x(
    {
      id: 's390x-bc-regs-crossed',
      arch: 's390x',
      base: 's390x-bc',
      kind: 'faulty',
      description: 'walks across pt_regs and off the task stack: psw.addr, then the interrupted frame\'s r14 slot unconditionally (random stack contents or a stale return address when the function had allocated its frame), and success at user-mode pt_regs at the bottom of the IRQ stack',
      requirement: 'reject-exceptions-when-unidentifiable',
      commit: 'bf018ee64489 ("s390/unwind: filter out unreliable bogus %r14"): before it the unwinder returned %r14 from the first frame pointed to by pt_regs\' r15 unconditionally',
    },
    { acrossRegs: 'unfiltered' },
  ),
  s390x(
    {
      id: 's390x-bc-return-to-handler-kept',
      arch: 's390x',
      base: 's390x-bc',
      kind: 'faulty',
      description: 'upstream as it is today: arch_stack_walk_reliable() refuses an unrecovered arch_rethook_trampoline but not an unrecovered return_to_handler, which it reports as a frame when the ret_stack is missing, empty or mis-keyed (the reference profile refuses both)',
      requirement: 'corruption-detected-nonzero',
    },
    { keepReturnToHandler: true },
  ),

  // ============================================================== powerpc64, faulty
  powerpc64(
    {
      id: 'powerpc64-trusts-regs-marker',
      arch: 'powerpc64',
      base: 'powerpc64-bc',
      kind: 'faulty',
      description: 'takes any frame holding the "regs" marker for a live interrupt frame and walks through it as show_stack() does (regs->nip, then the interrupted frame as a new first frame): a stale marker in a dead area yields stale pt_regs, and a live one the interrupted function\'s unsaved LR slot',
      requirement: 'reject-exceptions-when-unidentifiable',
      commit: '9580b71b5a78 / eddd0b332304 (stale exception markers left on the stack, as the issue describes them): a marker where a stale one can lie is trusted',
    },
    { trustRegsMarker: true },
  ),
  powerpc64(
    {
      id: 'powerpc64-stack-end-as-user',
      arch: 'powerpc64',
      base: 'powerpc64-bc',
      kind: 'faulty',
      description: 'stack_end as for a user task whatever the task (THREAD_SIZE - STACK_USER_INT_FRAME_SIZE): a kernel thread whose frame lies there ends its walk early, short of kthread\'s caller, with success',
      requirement: 'early-termination-not-reliable',
      commit: 'c5cc3ca707bc ("powerpc: Fix stack_end for kernel threads" in arch_stack_walk_reliable(), after copy_thread() gave kernel threads a minimal initial frame)',
    },
    { stackEndAsUser: true },
  ),
  powerpc64(
    {
      id: 'powerpc64-first-frame-lr',
      arch: 'powerpc64',
      base: 'powerpc64-bc',
      kind: 'faulty',
      description: 'reports the first frame\'s LR save slot too: nothing saved there for this walk (its callee never ran or ran long ago), so a stale return address is reported',
      requirement: 'trace-complete-or-nonzero',
    },
    { firstFrameLr: true },
  ),
  powerpc64(
    {
      id: 'powerpc64-livepatch-stack-ignored',
      arch: 'powerpc64',
      base: 'powerpc64-bc',
      kind: 'faulty',
      description: 'reports livepatch_handler as the LR save slot has it and goes on up the back chain: the real return address livepatch_handler keeps on the livepatch stack is never read, so the livepatched function\'s caller is left out',
      requirement: 'rewritten-return-unreliable-unless-recovered',
    },
    { livepatchStackIgnored: true },
  ),

  // ============================================================== correct, but different
  arm64(
    {
      id: 'arm64-meta-conservative',
      arch: 'arm64',
      base: 'arm64-meta',
      kind: 'correct',
      description: 'metadata unwinder that rejects every exception boundary, and says so in its claims',
      claims: { unwindsAcrossIrq: false, unwindsAcrossNmi: false, identifiesReliableExceptionUnwind: false },
    },
    { rejectAllBoundaries: true },
  ),
  orc(
    {
      id: 'x86_64-orc-conservative',
      arch: 'x86_64',
      base: 'x86_64-orc',
      kind: 'correct',
      description: 'ORC unwinder that rejects every kernel-mode exception frame, and says so in its claims',
      claims: { unwindsAcrossIrq: false, unwindsAcrossNmi: false, identifiesReliableExceptionUnwind: false },
    },
    { rejectKernelRegs: true },
  ),
  arm64(
    {
      id: 'arm64-fp-no-module-frames',
      arch: 'arm64',
      base: 'arm64-fp',
      kind: 'correct',
      description: 'stricter: rejects any walk with a frame in module text or BPF JIT code',
    },
    { rejectModuleText: true },
  ),
  wrap(
    {
      id: 'x86_64-orc-no-module-frames',
      arch: 'x86_64',
      base: 'x86_64-orc',
      kind: 'correct',
      description: 'stricter: rejects any walk with a frame in module text or BPF JIT code',
    },
    (base) => (input) => {
      const r = base.walk(input);
      const bad = r.rc === 0 ? r.trace.find((a) => inModuleText(input.snap.mem, a)) : undefined;
      return bad === undefined ? r : { rc: EINVAL, trace: r.trace, reason: `stricter: 0x${bad.toString(16)} is module or BPF code` };
    },
  ),
  arm64(
    {
      id: 'arm64-fp-fgraph-by-index',
      arch: 'arm64',
      base: 'arm64-fp',
      kind: 'correct',
      description: 'alternative recovery: the n-th return_to_handler met is the n-th real entry from the top of ret_stack (by index, not by the frame-pointer key)',
    },
    { fgraph: 'by-index' },
  ),
  orc(
    {
      id: 'x86_64-orc-fgraph-by-index',
      arch: 'x86_64',
      base: 'x86_64-orc',
      kind: 'correct',
      description: 'alternative recovery: the n-th return_to_handler met is the n-th real entry from the top of ret_stack (by index, not by the slot-address key)',
    },
    { fgraph: 'by-index' },
  ),
  arm64(
    {
      id: 'arm64-fp-stops-at-unknown',
      arch: 'arm64',
      base: 'arm64-fp',
      kind: 'correct',
      description: 'stricter: stops (rc != 0) at a pc in no known symbol instead of reporting it',
    },
    { rejectUnknownSymbol: true },
  ),
  loong(
    {
      id: 'loongarch64-orc-conservative',
      arch: 'loongarch64',
      base: 'loongarch64-orc',
      kind: 'correct',
      description: 'ORC unwinder that rejects every kernel-mode exception frame (IRQ, kprobe, page fault, ftrace_caller\'s pt_regs), and says so in its claims',
      claims: { unwindsAcrossIrq: false, identifiesReliableExceptionUnwind: false },
    },
    { rejectKernelRegs: true },
  ),
  s390x(
    {
      id: 's390x-bc-no-trampoline-recovery',
      arch: 's390x',
      base: 's390x-bc',
      kind: 'correct',
      description: 'does not recover rewritten return addresses: return_to_handler or arch_rethook_trampoline in a return slot makes the walk unreliable, and its claims say so',
      claims: { recoversFgraphReturns: false, recoversKretprobeReturns: false },
    },
    { rejectTrampolines: true },
  ),
  wrap(
    {
      id: 'riscv64-fp-no-module-frames',
      arch: 'riscv64',
      base: 'riscv64-fp',
      kind: 'correct',
      description: 'stricter: rejects any walk with a frame in module text or BPF JIT code',
    },
    (base) => (input) => {
      const r = base.walk(input);
      const bad = r.rc === 0 ? r.trace.find((a) => inModuleText(input.snap.mem, a)) : undefined;
      return bad === undefined ? r : { rc: EINVAL, trace: r.trace, reason: `stricter: 0x${bad.toString(16)} is module or BPF code` };
    },
  ),
  powerpc64(
    {
      id: 'powerpc64-bc-no-fgraph-recovery',
      arch: 'powerpc64',
      base: 'powerpc64-bc',
      kind: 'correct',
      description: 'does not recover return_to_handler: any graph-traced frame on the stack makes the walk unreliable, and its claims say so',
      claims: { recoversFgraphReturns: false },
    },
    { noFgraphRecovery: true },
  ),
  orc(
    {
      id: 'x86_64-orc-no-fgraph-recovery',
      arch: 'x86_64',
      base: 'x86_64-orc',
      kind: 'correct',
      description: 'does not recover rewritten return addresses: any return_to_handler / kretprobe trampoline on the stack makes the walk unreliable, and its claims say so',
      claims: { recoversFgraphReturns: false, recoversKretprobeReturns: false },
    },
    { fgraph: 'reject' },
  ),
];

export function mutantById(id: string): MutantEntry {
  const m = CATALOGUE.find((x) => x.id === id);
  if (!m) throw new Error(`no mutant ${id} (have: ${CATALOGUE.map((x) => x.id).join(', ')})`);
  return m;
}

/** The profile a mutant is judged under: its base's claims, overridden by its own; never a reference. */
export function mutantProfile(m: MutantEntry): Profile {
  const base = builtinProfile(m.base);
  return {
    ...base,
    name: `mutant-${m.id}`,
    description: `${m.kind} mutant of ${m.base}: ${m.description}`,
    reference: false,
    unwinder: 'module:src/mutants/index.ts',
    claims: { ...base.claims, ...(m.claims ?? {}) },
    options: { ...(base.options ?? {}), mutant: m.id },
  };
}

/** `module:` entry point. */
export function create(profile: Profile): Unwinder {
  const id = profile.options?.['mutant'];
  if (typeof id !== 'string') throw new Error(`profile ${profile.name}: options.mutant must name a mutant of src/mutants/index.ts`);
  const m = mutantById(id);
  if (m.arch !== profile.arch) throw new Error(`profile ${profile.name}: mutant ${id} is for ${m.arch}, not ${profile.arch}`);
  return m.create(profile);
}

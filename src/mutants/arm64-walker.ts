/**
 * A patchable copy of the arm64 reference unwinders (src/unwinders/arm64-fp.ts, arm64-meta.ts),
 * built from the same kunwind_* pieces of src/unwinders/arm64-common.ts. Every knob is off by
 * default, and with every knob off it walks exactly as the reference of its kind: a mutant turns
 * on one knob, i.e. re-introduces one bug (or one deliberate difference, for correct mutants).
 */
import type { Arm64MetaEntry, StackType } from '../snapshot/types';
import type { LoadedSnapshot } from '../snapshot/io';
import { unhex } from '../snapshot/io';
import { MAX_FRAMES, kernelTextAddress, symbolAddr } from '../unwinders/common';
import {
  EINVAL,
  err,
  isError,
  kunwindInit,
  kunwindReadRegs,
  layoutOf,
  type FrameStep,
  type KunwindError,
  type KunwindState,
  type SavedRegs,
} from '../unwinders/arm64-common';
import { isNmiBoundary, lookupMeta } from '../unwinders/arm64-meta';
import type { WalkInput, WalkResult } from '../unwinders/types';

const h = (n: number): string => '0x' + n.toString(16);

export interface Arm64Knobs {
  /** 'fp': frame records only, every exception boundary rejected; 'meta': analyser metadata decides. */
  kind: 'fp' | 'meta';
  /** meta: NMI boundaries are unwound ('unwind') or rejected ('reject', the default). */
  nmiPolicy?: 'reject' | 'unwind';

  // ---- return-address recovery (kunwind_recover_return_address)
  /** How return_to_handler is recovered: by retp key from a cursor (reference), not at all, or by index. */
  fgraph?: 'reference' | 'unrecovered' | 'by-index';
  /** How __kretprobe_trampoline is recovered: reference, unchecked (a failed lookup gives 0 and the walk goes on), keyless (the next instance, whatever its key). */
  kretprobe?: 'reference' | 'unchecked' | 'keyless';

  // ---- per-pc checks (arch_reliable_kunwind_consume_entry)
  /** Skip the __kernel_text_address() check of reported pcs. */
  noKernelTextCheck?: boolean;
  /** A pc outside kernel text ends the walk with rc 0 (the trace so far), instead of an error. */
  stopAtUnknownReliable?: boolean;
  /** Skip the STACK_FRAME_NON_STANDARD check (fp). */
  ignoreNonStandard?: boolean;
  /** Reject a reported pc in module text or BPF JIT code (stricter, correct). */
  rejectModuleText?: boolean;
  /** Reject a reported pc that is in no known symbol (stricter, correct). */
  rejectUnknownSymbol?: boolean;

  // ---- frame records (kunwind_next_frame_record / unwind_consume_stack)
  /** A FINAL meta record ends the walk wherever it is, not only at task_pt_regs(task)->stackframe. */
  finalAnywhere?: boolean;
  /** A zero frame pointer ends the walk successfully (pre-FINAL-record arm64). */
  zeroFpEnds?: boolean;
  /** Frame records need not move up the stack (no unwind_consume_stack). */
  noMonotonicCheck?: boolean;
  /** No frame limit. */
  unbounded?: boolean;
  /** Stack bounds checked with `addr < high` only (the record may straddle the stack's top). */
  offByOneBounds?: boolean;
  /** Every task / IRQ / NMI stack of the machine is accessible, not only this task's and this CPU's. */
  anyStack?: boolean;

  // ---- exception boundaries
  /** fp: at a PT_REGS record, report regs->pc and carry on from regs->regs[29] (no LR, no metadata). */
  fpCrossBoundary?: boolean;
  /** At a PT_REGS record, report regs->pc and then regs->lr, then carry on from regs->regs[29] (KUNWIND_SOURCE_REGS_LR). */
  reportLrAtBoundary?: boolean;
  /** At a PT_REGS record, end the walk successfully (as if the exception entry were the end of the stack). */
  boundaryEndsWalk?: boolean;
  /** meta: an NMI boundary is judged as an IRQ (isNmiBoundary() is never true). */
  nmiAsIrq?: boolean;
  /** meta: reject every exception boundary (conservative, correct). */
  rejectAllBoundaries?: boolean;
  /** meta: an unknown/unsupported unwind state at a boundary falls out of the switch and the walk carries on from regs->regs[29]. */
  unknownStateBreaks?: boolean;
  /** meta: foreign (EFI) code is taken for an ordinary function with its own frame record. */
  foreignAsOrdinary?: boolean;
  /** meta: the ftrace entry trampoline is taken for a function whose return address is still in LR. */
  ftraceTrampolineUsesLr?: boolean;
}

/** struct unwind_state stack bookkeeping, with the knobs that break it. */
class Stacks {
  cur: { low: number; high: number; type: StackType; region: string } | null = null;
  private readonly stacks: ({ low: number; high: number; type: StackType; region: string } | null)[];
  constructor(
    snap: LoadedSnapshot,
    private readonly k: Arm64Knobs,
  ) {
    const list = k.anyStack
      ? snap.mem.regions
          .filter((r) => r.kind === 'task-stack' || r.kind === 'irq-stack' || r.kind === 'nmi-stack')
          .map((r) => ({ region: r.name, type: (r.kind === 'task-stack' ? 'task' : r.kind === 'irq-stack' ? 'irq' : 'nmi') as StackType }))
      : snap.stacks;
    this.stacks = list.map((s) => {
      const r = snap.mem.region(s.region);
      return { low: r.base, high: r.base + r.size, type: s.type, region: r.name };
    });
  }
  private on(info: Stacks['cur'], addr: number, size: number): boolean {
    if (!info || !Number.isSafeInteger(addr)) return false;
    if (this.k.offByOneBounds) return addr >= info.low && addr < info.high;
    return addr >= info.low && addr + size <= info.high;
  }
  find(addr: number, size: number) {
    if (this.on(this.cur, addr, size)) return this.cur!;
    for (const s of this.stacks) if (s && this.on(s, addr, size)) return s;
    return undefined;
  }
  consume(info: NonNullable<Stacks['cur']>, addr: number, size: number): void {
    if (this.k.noMonotonicCheck) return;
    if (info !== this.cur) {
      const i = this.stacks.indexOf(info);
      if (i >= 0) this.stacks[i] = null;
      this.cur = { ...info };
    }
    this.cur.low = addr + size;
  }
}

type Step = FrameStep | { kind: 'final-anywhere' };

interface State extends KunwindState {
  st: Stacks;
  k: Arm64Knobs;
  /** by-index fgraph recovery: entries consumed so far, innermost first. */
  graphUsed: number;
  /** The pc came from an unchecked failed kretprobe lookup: reported as it is. */
  uncheckedPc?: boolean;
}

// ---------------------------------------------------------------- recovery

function recoverFgraph(s: State): KunwindError | undefined {
  const rth = symbolAddr(s.snap, 'return_to_handler');
  if (rth === undefined || s.pc !== rth) return undefined;
  const stack = s.snap.json.fgraph?.stack ?? [];
  switch (s.k.fgraph ?? 'reference') {
    case 'unrecovered':
      // ftrace_graph_ret_addr(task, NULL, ...) after 29c1c24a2707 returns `ret` unchanged, unchecked.
      return undefined;
    case 'by-index': {
      // The n-th return_to_handler met (innermost first) is the n-th entry from the top of
      // ret_stack that recorded a real return address (entries recording return_to_handler are
      // left by tail calls and share one slot).
      const real = stack.filter((e) => unhex(e.ret) !== rth).reverse();
      const e = real[s.graphUsed];
      if (!e) return err(`recover (by index): return_to_handler #${s.graphUsed} has no ret_stack entry`);
      s.graphUsed++;
      s.pc = unhex(e.ret);
      return undefined;
    }
    case 'reference': {
      const idx = s.graphIdx;
      if (idx.value < 0 || idx.value > stack.length) idx.value = stack.length;
      for (let i = idx.value - 1; i >= 0; i--) {
        const e = stack[i]!;
        if (unhex(e.retp) === s.fp && unhex(e.ret) !== rth) {
          idx.value = i;
          s.pc = unhex(e.ret);
          return undefined;
        }
      }
      return err(`kunwind_recover_return_address: return_to_handler at fp ${h(s.fp)} has no ret_stack entry`);
    }
  }
}

function recoverKretprobe(s: State): KunwindError | undefined {
  const tramp = symbolAddr(s.snap, '__kretprobe_trampoline');
  if (tramp === undefined || s.pc !== tramp) return undefined;
  const list = s.snap.json.kretprobes;
  const mode = s.k.kretprobe ?? 'reference';
  for (let i = s.krCur.value; i < list.length; i++) {
    const e = list[i]!;
    if (unhex(e.ret) === tramp) continue;
    if (mode === 'keyless' || unhex(e.retp) === s.fp) {
      s.krCur.value = i + 1;
      s.pc = unhex(e.ret);
      return undefined;
    }
  }
  if (mode === 'unchecked') {
    // kretprobe_find_ret_addr() returns 0 when it finds nothing; before beecfd6a88a6 nobody checked,
    // and the reliable consume_entry() of that time reported whatever pc it was given.
    s.pc = 0;
    s.uncheckedPc = true;
    return undefined;
  }
  return err(`kunwind_recover_return_address: __kretprobe_trampoline at fp ${h(s.fp)} has no kretprobe instance`);
}

function recover(s: State): KunwindError | undefined {
  const before = s.pc;
  const e = recoverFgraph(s) ?? recoverKretprobe(s);
  if (e) return e;
  // After the kretprobe, an address fgraph had rewritten (see kunwindRecoverReturnAddress).
  return s.pc !== before ? recoverFgraph(s) : undefined;
}

// ---------------------------------------------------------------- frame records

function nextFrameRecord(s: State): Step {
  const { abi, fp } = s;
  if (fp % abi.FRAME_RECORD_ALIGN !== 0) return { kind: 'error', error: err(`kunwind_next_frame_record: fp ${h(fp)} is misaligned`) };
  if (s.k.zeroFpEnds && fp === 0) return { kind: 'final-anywhere' };
  const info = s.st.find(fp, abi.FRAME_RECORD_SIZE);
  if (!info) return { kind: 'error', error: err(`kunwind_next_frame_record: frame record at ${h(fp)} is not on an accessible stack`) };
  const newFp = s.mem.read64(fp);
  const newPc = s.mem.read64(fp + 8);
  if (newFp === 0 && newPc === 0) {
    const metaSize = abi.S_STACKFRAME_TYPE - abi.S_STACKFRAME + 8;
    if (!s.st.find(fp, metaSize)) return { kind: 'error', error: err(`meta record at ${h(fp)} is not on an accessible stack`) };
    const type = s.mem.read64(fp + abi.S_STACKFRAME_TYPE - abi.S_STACKFRAME);
    if (type === abi.FRAME_META_TYPE_FINAL) {
      if (fp === s.snap.finalFrame) return { kind: 'final' };
      if (s.k.finalAnywhere) return { kind: 'final-anywhere' };
      return { kind: 'error', error: err(`FINAL record at ${h(fp)} is not task_pt_regs(task)->stackframe`) };
    }
    if (type === abi.FRAME_META_TYPE_PT_REGS) return { kind: 'regs', regs: fp - abi.S_STACKFRAME };
    return { kind: 'error', error: err(`zeroed frame record at ${h(fp)} with unknown meta type ${type}`) };
  }
  // Only a zeroed record is a frame_record_meta; any other record chains on (arm64 v6.13+).
  if (s.k.zeroFpEnds && newFp === 0) {
    // Before FINAL records, a zero frame pointer was the end of the chain.
    s.st.consume(info, fp, abi.FRAME_RECORD_SIZE);
    s.fp = 0;
    s.pc = newPc;
    return { kind: 'frame' };
  }
  s.st.consume(info, fp, abi.FRAME_RECORD_SIZE);
  s.fp = newFp;
  s.pc = newPc;
  s.source = 'frame';
  return { kind: 'frame' };
}


// ---------------------------------------------------------------- identification (meta)

const TRAMPOLINE_KINDS = new Set(['return-trampoline', 'ftrace-trampoline', 'kprobe-trampoline', 'optprobe-trampoline', 'foreign']);
const ORDINARY: Arm64MetaEntry = { ip: '0x0', ra: 'frame', fp: 'own' };

type Verdict = KunwindError | 'stop-reliable' | undefined;

function textCheck(s: State, what: string): Verdict {
  if (s.k.noKernelTextCheck) return undefined;
  if (s.uncheckedPc) {
    s.uncheckedPc = false;
    return undefined;
  }
  const sym = s.k.foreignAsOrdinary ? s.snap.syms.lookup(s.pc) : undefined;
  if (sym?.kind === 'foreign') return undefined;
  if (kernelTextAddress(s.snap, s.pc)) return undefined;
  if (s.k.stopAtUnknownReliable) return 'stop-reliable';
  return err(`${what}: pc ${h(s.pc)} is not kernel text`);
}

function identify(s: State, what: string): { entry: Arm64MetaEntry } | Verdict {
  const t = textCheck(s, what);
  if (t) return t;
  const sym = s.snap.syms.lookup(s.pc);
  if (!sym) return err(`${what}: pc ${h(s.pc)} is in no known symbol`);
  if (s.k.foreignAsOrdinary && sym.kind === 'foreign') return { entry: ORDINARY };
  if (sym.nonStandard && !s.k.ignoreNonStandard) return err(`${what}: ${sym.name} is STACK_FRAME_NON_STANDARD`);
  const entry = lookupMeta(s.snap, s.pc);
  if (!entry) return err(`${what}: no unwind metadata for ${s.snap.syms.describe(s.pc)}`);
  if (entry.type === 'undefined' || entry.ra === 'unknown' || entry.fp === 'unknown') {
    return err(`${what}: unwind state at ${s.snap.syms.describe(s.pc)} is undefined`);
  }
  return { entry };
}

const isEntry = (x: unknown): x is { entry: Arm64MetaEntry } => typeof x === 'object' && x !== null && 'entry' in x;

/** Checks on a pc about to be reported (arch_reliable_kunwind_consume_entry, plus the meta call-site check). */
function atPc(s: State): Verdict {
  const sym = s.snap.syms.lookup(s.pc);
  if (s.k.rejectModuleText) {
    const r = s.snap.mem.find(s.pc);
    if (r && (r.kind === 'module-text' || r.kind === 'bpf-jit')) return err(`stricter: pc ${h(s.pc)} is in ${r.kind}`);
  }
  if (s.k.rejectUnknownSymbol && !sym) return err(`stricter: pc ${h(s.pc)} is in no known symbol`);
  if (s.k.kind === 'fp' || s.source === 'regs_pc' || s.source === 'caller') {
    const t = textCheck(s, 'arch_reliable_kunwind_consume_entry');
    if (t) return t;
    if (s.k.kind === 'fp' && sym?.nonStandard && !s.k.ignoreNonStandard) return err(`pc ${h(s.pc)} is in ${sym.name}, marked STACK_FRAME_NON_STANDARD`);
    return undefined;
  }
  const id = identify(s, 'call site');
  if (!isEntry(id)) return id;
  const { entry } = id;
  if (entry.type === 'end_of_stack' || entry.type === 'regs') {
    s.expect = entry.type === 'end_of_stack' ? 'final' : 'regs';
    return undefined;
  }
  if (entry.ra === 'frame' && entry.fp === 'own') return undefined;
  return err(`call site ${s.snap.syms.describe(s.pc)} has no frame record of its own`);
}

/** The meta unwinder's start for a running task: the live pc may not have its frame record yet. */
function start(s: State, trace: number[]): Verdict {
  if (s.k.kind !== 'meta' || s.source !== 'caller') return undefined;
  const id = identify(s, 'start');
  if (!isEntry(id)) return id;
  const { entry } = id;
  if (entry.ra === 'frame' && entry.fp === 'own') return undefined;
  if (entry.ra === 'lr' && entry.fp === 'caller') {
    trace.push(s.pc);
    s.pc = s.snap.regs['x30'] ?? 0;
    s.source = 'frame';
    return recover(s);
  }
  return err(`start: unsupported unwind state at ${s.snap.syms.describe(s.pc)}`);
}

/** An exception boundary (a PT_REGS record): fail, end, or leave state at the interrupted context. */
function boundary(s: State, regsAddr: number, trace: number[]): Verdict {
  const k = s.k;
  if (k.boundaryEndsWalk) return 'stop-reliable';
  if (k.kind === 'fp' && !k.fpCrossBoundary && !k.reportLrAtBoundary) {
    return err(`exception boundary (pt_regs at ${h(regsAddr)}); the LR may have been live`);
  }
  if (k.kind === 'meta' && k.rejectAllBoundaries) return err(`conservative: exception boundary at pt_regs ${h(regsAddr)} rejected`);
  const r = kunwindReadRegs({ abi: s.abi, mem: s.mem, stacks: s.st }, regsAddr);
  if (isError(r)) return r;
  const nmi = !k.nmiAsIrq && isNmiBoundary(s.snap, r, trace[trace.length - 1]);
  if (k.kind === 'meta' && nmi && (k.nmiPolicy ?? 'reject') !== 'unwind') return err(`exception boundary at pt_regs ${h(regsAddr)} is an NMI (policy: reject)`);
  s.pc = r.pc;
  s.fp = r.fp;
  s.source = 'regs_pc';
  if (k.reportLrAtBoundary) {
    // KUNWIND_SOURCE_REGS_PC then KUNWIND_SOURCE_REGS_LR, then the frame record at regs->regs[29].
    const t = textCheck(s, 'regs pc');
    if (t) return t;
    trace.push(s.pc);
    s.pc = r.lr;
    s.source = 'frame';
    return recover(s);
  }
  if (k.kind === 'fp') return undefined; // fpCrossBoundary: report regs->pc, then walk on from regs->regs[29]
  const what = `${nmi ? 'NMI' : 'IRQ'} boundary`;
  const sym = s.snap.syms.lookup(s.pc);
  if (k.ftraceTrampolineUsesLr && sym?.kind === 'ftrace-trampoline') {
    trace.push(s.pc);
    s.pc = r.lr;
    s.source = 'frame';
    return recover(s);
  }
  const id = identify(s, what);
  if (!isEntry(id)) {
    if (k.unknownStateBreaks && id !== 'stop-reliable' && sym && kernelTextAddress(s.snap, s.pc)) return undefined;
    return id;
  }
  if (sym && TRAMPOLINE_KINDS.has(sym.kind) && !(k.foreignAsOrdinary && sym.kind === 'foreign')) return err(`${what}: interrupted ${sym.name} (${sym.kind})`);
  const { entry } = id;
  if (entry.type === 'end_of_stack') {
    if (s.fp === s.snap.finalFrame) return undefined;
    return err(`${what}: entry code with x29 ${h(s.fp)} not at the final record`);
  }
  if (entry.type === 'regs') return err(`${what}: interrupted entry code (type regs)`);
  if (entry.ra === 'frame' && entry.fp === 'own') return undefined;
  if (entry.ra === 'lr' && entry.fp === 'caller') {
    trace.push(s.pc);
    s.pc = r.lr;
    s.source = 'frame';
    return recover(s);
  }
  if (k.unknownStateBreaks) return undefined;
  return err(`${what}: unsupported unwind state at ${s.snap.syms.describe(s.pc)}`);
}

/** do_kunwind() for a reliable walk, with the knobs. */
export function walkArm64(input: WalkInput, k: Arm64Knobs): WalkResult {
  const init = kunwindInit(input);
  if (isError(init)) return { rc: init.rc, trace: [], reason: init.reason };
  const s: State = Object.assign(init, { st: new Stacks(input.snap, k), k, graphUsed: 0, abi: layoutOf(input.snap) });
  const trace: number[] = [];
  const done = (v: Verdict): WalkResult | undefined => {
    if (v === undefined) return undefined;
    if (v === 'stop-reliable') return { rc: 0, trace };
    return { rc: v.rc, trace, reason: v.reason };
  };
  let r = done(recover(s)) ?? done(start(s, trace));
  if (r) return r;
  for (;;) {
    if (!k.unbounded && trace.length >= MAX_FRAMES) return { rc: -EINVAL, trace, reason: `more than ${MAX_FRAMES} frames` };
    r = done(atPc(s));
    if (r) return r;
    trace.push(s.pc);
    const step = nextFrameRecord(s);
    if (s.expect && step.kind !== 'error' && step.kind !== s.expect && step.kind !== 'final-anywhere') {
      return { rc: -EINVAL, trace, reason: `entry code whose x29 should be a ${s.expect} record, but ${h(s.fp)} is not` };
    }
    s.expect = undefined;
    switch (step.kind) {
      case 'final':
      case 'final-anywhere':
        return { rc: 0, trace };
      case 'error':
        return { rc: step.error.rc, trace, reason: step.error.reason };
      case 'regs':
        r = done(boundary(s, step.regs, trace));
        if (r) return r;
        continue;
      case 'frame':
        if (k.zeroFpEnds && s.fp === 0) {
          // The caller of the last record is reported, and the chain ends there.
          r = done(recover(s)) ?? done(atPc(s));
          if (r) return r;
          trace.push(s.pc);
          return { rc: 0, trace };
        }
        r = done(recover(s));
        if (r) return r;
        continue;
    }
  }
}

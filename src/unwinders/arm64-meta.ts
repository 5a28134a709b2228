/**
 * arm64 reliable unwinder guided by analyser metadata (objtool/SFrame-like, snapshot.unwind.arm64).
 * It walks frame records exactly like arm64-fp, and in addition:
 * - at an exception boundary it reads the interrupted pc/lr/x29 from pt_regs and asks the table
 *   where the interrupted function's return address is: in its frame record ('frame' + 'own': the
 *   LR is never used, so no duplicate after a prologue or a returned BL, no inversion after
 *   ADR LR), or in LR with x29 still the caller's record ('lr' + 'caller'). Anything else is
 *   rejected (spec 3.3, 3.6);
 * - every reported pc must be positively identified: kernel text with a table entry and not
 *   STACK_FRAME_NON_STANDARD; a return address must be a call site where the function's own frame
 *   record is live (spec 3.2, compile-time analysis);
 * - NMI boundaries follow profile.options.nmiPolicy ('reject' | 'unwind').
 */
import type { LoadedSnapshot } from '../snapshot/io';
import { coveringEntry, ipTable } from './common';
import type { Arm64MetaEntry } from '../snapshot/types';
import {
  checkKernelText,
  doKunwind,
  err,
  isError,
  kunwindReadRegs,
  kunwindRecoverReturnAddress,
  type KunwindError,
  type KunwindPolicy,
  type KunwindState,
  type SavedRegs,
} from './arm64-common';
import type { Profile, Unwinder } from './types';
import { hex } from '../machine/addr';

const h = hex;

/** PSTATE.I: IRQs masked. An exception taken with IRQs masked can only be an NMI. */
export const PSR_I_BIT = 0x80;

const NO_META: Arm64MetaEntry[] = [];

/** The table entry covering pc (see coveringEntry). */
export function lookupMeta(snap: LoadedSnapshot, pc: number): Arm64MetaEntry | undefined {
  return coveringEntry(snap, ipTable(snap.json.unwind.arm64 ?? NO_META), pc);
}

/** Code that must never be unwound from mid-flight: its unwind state is transient (spec 3.4, 3.5). */
const TRAMPOLINE_KINDS = new Set(['return-trampoline', 'ftrace-trampoline', 'kprobe-trampoline', 'optprobe-trampoline', 'foreign']);

/** Positive identification of the code at state.pc (spec 3.2). */
function identify(state: KunwindState, what: string): { entry: Arm64MetaEntry } | KunwindError {
  const bad = checkKernelText(state, what);
  if (bad) return bad;
  const sym = state.snap.syms.lookup(state.pc);
  if (!sym) return err(`${what}: pc ${h(state.pc)} is in no known symbol`);
  if (sym.nonStandard) return err(`${what}: pc ${h(state.pc)} is in ${sym.name}, marked STACK_FRAME_NON_STANDARD`);
  const entry = lookupMeta(state.snap, state.pc);
  if (!entry) return err(`${what}: no unwind metadata for ${state.snap.syms.describe(state.pc)}`);
  if (entry.type === 'undefined' || entry.ra === 'unknown' || entry.fp === 'unknown') {
    return err(`${what}: unwind state at ${state.snap.syms.describe(state.pc)} is undefined (ra ${entry.ra}, fp ${entry.fp}${entry.type ? `, type ${entry.type}` : ''})`);
  }
  return { entry };
}

/**
 * A return address (or a blocked task's saved pc) is a call site: the calling function's return
 * address must be in its own frame record, which is the record the walk reads next.
 */
function checkCallSite(state: KunwindState): KunwindError | undefined {
  const id = identify(state, 'call site');
  if (isError(id)) return id;
  const { entry } = id;
  if (entry.type === 'end_of_stack' || entry.type === 'regs') {
    // Entry code: x29 is the meta record of its pt_regs, FINAL or an exception boundary.
    state.expect = entry.type === 'end_of_stack' ? 'final' : 'regs';
    return undefined;
  }
  if (entry.ra === 'frame' && entry.fp === 'own') return undefined;
  return err(`call site ${state.snap.syms.describe(state.pc)} has no frame record of its own (ra ${entry.ra}, fp ${entry.fp}): its caller would be skipped`);
}

type NmiPolicy = 'reject' | 'unwind';

/** Exception entry code of an NMI vector (el1h_64_nmi here; asm_exc_nmi on x86_64). */
const NMI_VECTOR = /(^|_)nmi$/;

/**
 * Whether a boundary is an NMI, from what the snapshot shows: the handler ran on (or the pt_regs
 * are on) an NMI stack; or the interrupted context had IRQs masked, where only an NMI can be taken
 * (as the kernel's el1_interrupt() tells a pseudo-NMI from an IRQ); or the handler's frames return
 * into the NMI vector's entry code (`entryPc`: the last pc reported before the boundary).
 */
export function isNmiBoundary(snap: LoadedSnapshot, r: SavedRegs, entryPc: number | undefined): boolean {
  if (r.from === 'nmi' || r.stack === 'nmi' || (r.pstate & PSR_I_BIT) !== 0) return true;
  const entry = entryPc === undefined ? undefined : snap.syms.lookup(entryPc);
  return !!entry && entry.kind === 'code' && NMI_VECTOR.test(entry.name);
}

/**
 * Unwind the interrupted context of a PT_REGS record. Leaves state so that the walk continues by
 * reporting state.pc and then reading the frame record at state.fp.
 */
function boundary(nmiPolicy: NmiPolicy, state: KunwindState, regsAddr: number, trace: number[]): KunwindError | undefined {
  const r = kunwindReadRegs(state, regsAddr);
  if (isError(r)) return r;
  const kind = isNmiBoundary(state.snap, r, trace[trace.length - 1]) ? 'NMI' : 'IRQ';
  if (kind === 'NMI' && nmiPolicy !== 'unwind') return err(`exception boundary at pt_regs ${h(regsAddr)} is an NMI (policy: reject)`);
  state.pc = r.pc;
  state.fp = r.fp;
  state.source = 'regs_pc';
  const what = `${kind} boundary`;
  const id = identify(state, what);
  if (isError(id)) return id;
  const sym = state.snap.syms.lookup(state.pc)!;
  if (TRAMPOLINE_KINDS.has(sym.kind)) return err(`${what}: interrupted ${sym.name} (${sym.kind}), whose return address is in transit`);
  const { entry } = id;
  if (entry.type === 'end_of_stack') {
    // Entry code after the final record is set up: x29 must be that record, and the walk ends there.
    if (state.fp === state.snap.finalFrame) return undefined;
    return err(`${what}: entry code ${state.snap.syms.describe(state.pc)} with x29 ${h(state.fp)} not at the final record`);
  }
  if (entry.type === 'regs') return err(`${what}: interrupted entry code ${state.snap.syms.describe(state.pc)} (type regs)`);
  if (entry.ra === 'frame' && entry.fp === 'own') {
    // The interrupted function's return address is in the record at x29: report pc, then walk on.
    return undefined;
  }
  if (entry.ra === 'lr' && entry.fp === 'caller') {
    // The return address is only in LR and x29 is still the caller's record.
    trace.push(state.pc);
    state.pc = r.lr;
    state.source = 'frame';
    return kunwindRecoverReturnAddress(state);
  }
  return err(`${what}: unsupported unwind state at ${state.snap.syms.describe(state.pc)} (ra ${entry.ra}, fp ${entry.fp})`);
}

function policyFor(nmiPolicy: NmiPolicy): KunwindPolicy {
  return {
    start(state, trace) {
      if (state.source !== 'caller') return undefined;
      // A running task starts at its live pc: that function may not have its frame record yet.
      const id = identify(state, 'start');
      if (isError(id)) return id;
      const { entry } = id;
      if (entry.ra === 'frame' && entry.fp === 'own') return undefined;
      if (entry.ra === 'lr' && entry.fp === 'caller') {
        trace.push(state.pc);
        state.pc = state.snap.regs['x30'] ?? 0;
        state.source = 'frame';
        return kunwindRecoverReturnAddress(state);
      }
      return err(`start: unsupported unwind state at ${state.snap.syms.describe(state.pc)} (ra ${entry.ra}, fp ${entry.fp})`);
    },
    atPc(state) {
      if (state.source === 'regs_pc' || state.source === 'caller') return checkKernelText(state, 'arch_reliable_kunwind_consume_entry');
      return checkCallSite(state);
    },
    boundary: (state, regs, trace) => boundary(nmiPolicy, state, regs, trace),
  };
}

export function create(profile: Profile): Unwinder {
  const opt = profile.options?.['nmiPolicy'];
  if (opt !== undefined && opt !== 'reject' && opt !== 'unwind') {
    throw new Error(`profile ${profile.name}: options.nmiPolicy must be 'reject' or 'unwind', not ${String(opt)}`);
  }
  const policy = policyFor((opt as NmiPolicy | undefined) ?? 'reject');
  return { name: profile.name, walk: (input) => doKunwind(input, policy) };
}

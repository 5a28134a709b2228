/**
 * Pieces shared by the x86_64 reference unwinders (x86_64-orc, x86_64-fp): stack bookkeeping like
 * get_stack_info()/stack_mask, the reliable-walk driver of arch_stack_walk_reliable()
 * (arch/x86/kernel/stacktrace.c), and return-address recovery (unwind_recover_ret_addr()).
 */
import type { MonitoredMemory } from '../machine/memory';
import type { LoadedSnapshot } from '../snapshot/io';
import { X86_64_ABI } from '../isa/x86_64/abi';
import { MAX_FRAMES, accessibleStack, ftraceGraphRetAddr, kernelTextAddress, kretprobeFindRetAddr } from './common';
import type { WalkResult } from './types';
import { hex } from '../machine/addr';
import type { StackType } from '../snapshot/types';

export const EINVAL = -22;

/** ABI constant from the snapshot, falling back to the built-in layout. */
export function abi(snap: LoadedSnapshot, key: keyof typeof X86_64_ABI): number {
  const v = snap.abi[key];
  return typeof v === 'number' ? v : X86_64_ABI[key];
}

/** user_mode(regs): (cs & 3) == 3. */
export const userMode = (cs: number): boolean => (cs & 3) === 3;

/**
 * Stacks are left in one direction only: entry -> other IST (#DF/#DB/#MC/#VC) -> NMI -> IRQ -> task
 * (the kernel's stack_mask forbids going back to a stack type once left; this order is stricter).
 */
const RANK: Record<StackType, number> = { entry: 4, exception: 3, overflow: 3, sdei: 3, nmi: 2, irq: 1, task: 0 }; // overflow / sdei: arm64 only

export interface StackInfo {
  region: string;
  type: StackType;
  base: number;
  end: number;
}

/** Thrown to leave a walk through a named error path. */
export class UnwindError extends Error {}

/**
 * The stack the walk is on, and every read it makes. A read is made only after the address was
 * found on one of this task's accessible stacks, reached by a permitted transition.
 */
export class Stacks {
  cur: StackInfo | undefined;
  private readonly visited = new Set<string>();

  constructor(
    private readonly snap: LoadedSnapshot,
    private readonly mem: MonitoredMemory,
  ) {}

  /** The accessible stack holding [addr, addr+len), without moving to it. */
  find(addr: number, len: number): StackInfo | undefined {
    if (!Number.isSafeInteger(addr) || addr < 0) return undefined;
    const s = accessibleStack(this.snap, addr, len);
    return s ? { region: s.name, type: s.type, base: s.base, end: s.base + s.size } : undefined;
  }

  onCurrent(addr: number, len: number): boolean {
    const c = this.cur;
    return !!c && addr >= c.base && addr + len <= c.end;
  }

  /** stack_access_ok(): [addr, addr+len) is on the current stack or a stack we may move on to. */
  access(addr: number, len: number, what: string): void {
    if (addr % 8 !== 0) throw new UnwindError(`${what} at ${hex(addr)} is misaligned`);
    if (this.onCurrent(addr, len)) return;
    const next = this.find(addr, len);
    if (!next) throw new UnwindError(`${what} at ${hex(addr)} is not on an accessible stack of this task`);
    const c = this.cur;
    if (c) {
      if (RANK[next.type] >= RANK[c.type]) {
        throw new UnwindError(`${what} at ${hex(addr)} moves from the ${c.type} stack to the ${next.type} stack (stacks are left one way only)`);
      }
      this.visited.add(c.region);
    }
    if (this.visited.has(next.region)) throw new UnwindError(`${what}: stack ${next.region} was already left`);
    this.cur = next;
  }

  /** A checked 8-byte stack read. */
  read(addr: number, what: string): number {
    this.access(addr, 8, what);
    return this.mem.read64(addr);
  }

  /** Enter the first stack (no transition rule applies). */
  start(addr: number, len: number, what: string): void {
    if (addr % 8 !== 0) throw new UnwindError(`${what} at ${hex(addr)} is misaligned`);
    const s = this.find(addr, len);
    if (!s) throw new UnwindError(`${what} at ${hex(addr)} is not on an accessible stack of this task`);
    this.cur = s;
  }
}

const symKind = (snap: LoadedSnapshot, addr: number) => snap.syms.lookup(addr)?.kind;

/** The address lies inside a return trampoline (return_to_handler, arch_rethook_trampoline). */
export function inReturnTrampoline(snap: LoadedSnapshot, addr: number): boolean {
  return symKind(snap, addr) === 'return-trampoline';
}

/** Cursors into task->ret_stack and the kretprobe instance list, as unwind_state keeps them. */
export interface RecoverState {
  graphIdx: { value: number };
  krCur: { value: number };
}

export const newRecoverState = (): RecoverState => ({ graphIdx: { value: -1 }, krCur: { value: 0 } });

/**
 * unwind_recover_rethook(): at pt_regs whose ip is exactly the rethook trampoline (an exception
 * taken right after the RET into it), the original return address, keyed by the slot that RET
 * consumed (regs->sp - 8). Any other ip is returned as it is. A failed lookup is an error.
 */
export function recoverRethook(snap: LoadedSnapshot, st: RecoverState, ip: number, retp: number): number {
  const k = kretprobeFindRetAddr(snap, st.krCur, ip, retp);
  if (k === undefined) throw new UnwindError(`kretprobe trampoline interrupted at its entry: no rethook node for frame ${hex(retp)}`);
  return k;
}

/**
 * unwind_recover_ret_addr(): the original return address behind return_to_handler or the kretprobe
 * trampoline, found by the address of the slot that holds it. A failed recovery is an error, where
 * the kernel would report return_to_handler itself and so lose the real caller.
 */
export function recoverRetAddr(snap: LoadedSnapshot, st: RecoverState, ret: number, retp: number): number {
  const g = ftraceGraphRetAddr(snap, st.graphIdx, ret, retp);
  if (g === undefined) throw new UnwindError(`return_to_handler at ${hex(retp)} has no matching ret_stack entry`);
  const k = kretprobeFindRetAddr(snap, st.krCur, g, retp);
  if (k === undefined) throw new UnwindError(`kretprobe trampoline at ${hex(retp)} has no matching instance`);
  if (k === g) return k;
  // A kretprobed function tail-called from a graph-traced one: the instance saved the slot as fgraph
  // had rewritten it, so recover that too (the kernel's unwind_recover_ret_addr() stops here).
  const again = ftraceGraphRetAddr(snap, st.graphIdx, k, retp);
  if (again === undefined) throw new UnwindError(`return_to_handler behind the kretprobe trampoline at ${hex(retp)} has no matching ret_stack entry`);
  return again;
}

/** The frames an unwinder yields, one per step, as unwind_next_frame() moves the state. */
export interface Frame {
  /** unwind_get_return_address(): the address to report. */
  ip: number;
  /** unwind_get_entry_regs(): the pt_regs this state was unwound through, if any. */
  regs?: { addr: number; cs: number };
}

/**
 * arch_stack_walk_reliable(): consume frames until the unwinder is done; fail on an unwinder error,
 * on kernel-mode regs when `rejectKernelRegs` (frame pointers), on an address outside kernel text, or
 * in a STACK_FRAME_NON_STANDARD function when `rejectNonStandard` (bounds-based rejection, spec 3.2).
 * `next()` returns the next frame, `'done'`, or throws UnwindError.
 */
export function reliableWalk(
  snap: LoadedSnapshot,
  first: () => Frame | 'done',
  next: () => Frame | 'done',
  opts: { rejectKernelRegs: boolean; rejectNonStandard: boolean; userRegsAnywhere?: boolean },
): WalkResult {
  const trace: number[] = [];
  try {
    let f = first();
    for (let n = 0; f !== 'done'; n++) {
      if (n >= MAX_FRAMES) return { rc: EINVAL, trace, reason: `more than ${MAX_FRAMES} frames: giving up` };
      if (f.regs) {
        if (userMode(f.regs.cs)) {
          // Success path for user tasks, only at the task's own entry regs.
          if (f.regs.addr === snap.ptRegs || opts.userRegsAnywhere) return { rc: 0, trace };
          return { rc: EINVAL, trace, reason: `user-mode pt_regs at ${hex(f.regs.addr)} are not task_pt_regs (${hex(snap.ptRegs)})` };
        }
        if (opts.rejectKernelRegs) {
          return { rc: EINVAL, trace, reason: `kernel-mode pt_regs at ${hex(f.regs.addr)}: an in-kernel exception makes frame pointers unreliable` };
        }
      }
      if (!kernelTextAddress(snap, f.ip)) {
        return { rc: EINVAL, trace, reason: `address ${hex(f.ip)} is not kernel text` };
      }
      if (opts.rejectNonStandard && snap.syms.lookup(f.ip)?.nonStandard) {
        return { rc: EINVAL, trace, reason: `${snap.syms.describe(f.ip)} is STACK_FRAME_NON_STANDARD: its frame cannot be trusted` };
      }
      trace.push(f.ip);
      f = next();
    }
  } catch (e) {
    if (e instanceof UnwindError) return { rc: EINVAL, trace, reason: e.message };
    throw e;
  }
  return { rc: 0, trace };
}

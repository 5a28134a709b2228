/**
 * x86_64 frame-pointer reference unwinder, modelled on arch/x86/kernel/unwind_frame.c
 * (update_stack_state, unwind_next_frame, is_last_task_frame) driven by arch_stack_walk_reliable().
 *
 * Frame record at rbp: [rbp] = caller's rbp, [rbp+8] = return address. Entry code stores
 * (pt_regs | 1) in rbp (ENCODE_FRAME_POINTER); kernel-mode regs make the walk unreliable. The only
 * successful end is the last task frame (task_pt_regs - 16, under the entry code's call) or the
 * user-mode regs at task_pt_regs.
 *
 * Differences from the kernel, all towards rejecting more: a blocked task's first entry is the
 * inactive_task_frame's return address (the kernel starts from frame->bp and never reports it);
 * frame pointers must be 8-byte aligned; a return address into entry code (SYM_CODE) anywhere but
 * the last task frame must be followed by encoded pt_regs (else the exception frame went unseen);
 * a return address in a STACK_FRAME_NON_STANDARD function is rejected (its frame may be missing).
 */
import type { LoadedSnapshot } from '../snapshot/io';
import type { Profile, Unwinder, WalkInput } from './types';
import { abi, newRecoverState, recoverRetAddr, reliableWalk, Stacks, UnwindError, inReturnTrampoline, type Frame } from './x86_64-common';
import { hex } from '../machine/addr';

const FRAME_HEADER_SIZE = 16;

/** last_frame(): where the frame of the function called by entry code sits, under task_pt_regs. */
export const lastFrame = (snap: LoadedSnapshot): number => snap.ptRegs - FRAME_HEADER_SIZE;

interface FpState {
  ip: number;
  /** Current frame record, or null when the state is at pt_regs. */
  bp: number | null;
  regs: number | null;
  regsCs: number;
  /** End of the previous frame: the next one must not overlap it (on the same stack). */
  prevFrameEnd: number;
  prevStack: string | undefined;
}

export function walkFp({ snap, mem }: WalkInput) {
  const A = (k: Parameters<typeof abi>[1]) => abi(snap, k);
  const stacks = new Stacks(snap, mem);
  const rec = newRecoverState();
  const st: FpState = { ip: 0, bp: null, regs: null, regsCs: 0, prevFrameEnd: 0, prevStack: undefined };

  const frame = (): Frame => (st.regs !== null ? { ip: st.ip, regs: { addr: st.regs, cs: st.regsCs } } : { ip: st.ip });

  /** update_stack_state(): move to the frame record (or encoded pt_regs) at nextBp, if it is safe. */
  const updateStackState = (nextBp: number): void => {
    const bit = A('FP_REGS_ENCODE_BIT');
    const encoded = (nextBp & bit) !== 0;
    const addr = encoded ? nextBp - bit : nextBp;
    const len = encoded ? A('PT_REGS_SIZE') : FRAME_HEADER_SIZE;
    const what = encoded ? 'encoded pt_regs' : 'frame record';
    stacks.access(addr, len, what);
    // Make sure it only unwinds up and doesn't overlap the previous frame.
    if (stacks.cur!.region === st.prevStack && addr < st.prevFrameEnd) {
      throw new UnwindError(`${what} at ${hex(addr)} is below the previous frame (stack going in the wrong direction)`);
    }
    st.prevStack = stacks.cur!.region;
    st.prevFrameEnd = addr + len;
    if (encoded) {
      st.regs = addr;
      st.bp = null;
      st.regsCs = mem.read64(addr + A('PT_CS'));
      if ((st.regsCs & 3) === 3) st.ip = 0;
      else {
        st.ip = mem.read64(addr + A('PT_RIP'));
        if (inReturnTrampoline(snap, st.ip)) throw new UnwindError(`exception taken inside return trampoline ${snap.syms.describe(st.ip)}`);
      }
    } else {
      st.bp = addr;
      st.regs = null;
      const retp = addr + 8;
      st.ip = recoverRetAddr(snap, rec, mem.read64(retp), retp);
    }
  };

  let pending: Frame | undefined;
  const first = (): Frame => {
    if (snap.json.task.state === 'blocked') {
      const tsp = snap.regs.rsp ?? 0;
      stacks.start(tsp, A('ITF_SIZE'), 'inactive_task_frame');
      if (stacks.cur!.type !== 'task') throw new UnwindError('a blocked task must be switched out on its task stack');
      const retp = tsp + A('ITF_RET_ADDR');
      const ip = recoverRetAddr(snap, rec, mem.read64(retp), retp);
      const bp = mem.read64(tsp + A('ITF_RBP'));
      st.prevStack = stacks.cur!.region;
      st.prevFrameEnd = tsp + A('ITF_SIZE');
      pending = { ip };
      updateStackState(bp);
      return pending;
    }
    const ip = snap.regs.rip ?? 0;
    const sp = snap.regs.rsp ?? 0;
    stacks.start(sp, 8, 'stack pointer');
    if (inReturnTrampoline(snap, ip)) throw new UnwindError('unwinding from inside a return trampoline is not supported');
    st.prevStack = stacks.cur!.region;
    st.prevFrameEnd = sp;
    pending = { ip };
    updateStackState(snap.regs.rbp ?? 0);
    return pending;
  };

  const next = (): Frame | 'done' => {
    if (pending) {
      // The starting ip was reported; now report the state of the first frame record.
      pending = undefined;
      return frame();
    }
    if (st.regs !== null && (st.regsCs & 3) === 3) return 'done';
    if (st.bp !== null && st.bp === lastFrame(snap)) {
      // is_last_task_frame(): kthreads end here; user tasks still have the syscall regs frame.
      const regs = snap.ptRegs;
      stacks.access(regs, A('PT_REGS_SIZE'), 'task_pt_regs');
      const cs = mem.read64(regs + A('PT_CS'));
      if ((cs & 3) !== 3) return 'done';
      st.regs = regs;
      st.regsCs = cs;
      st.bp = null;
      st.ip = 0;
      return frame();
    }
    const nextBp = st.bp !== null ? stacks.read(st.bp, 'saved rbp') : stacks.read(st.regs! + A('PT_RBP'), 'pt_regs rbp');
    if (st.bp !== null && snap.syms.lookup(st.ip)?.kind === 'code' && (nextBp & A('FP_REGS_ENCODE_BIT')) === 0) {
      // Entry code below an ordinary frame: the exception frame it built was not encoded in rbp.
      throw new UnwindError(`return address ${snap.syms.describe(st.ip)} is in entry code above frame ${hex(st.bp)}, which is neither the last task frame nor linked to encoded pt_regs`);
    }
    updateStackState(nextBp);
    return frame();
  };

  return reliableWalk(snap, first, next, { rejectKernelRegs: true, rejectNonStandard: true });
}

export function create(profile: Profile): Unwinder {
  return { name: profile.name, walk: walkFp };
}

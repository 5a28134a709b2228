/**
 * s390x back-chained frames for the scene's corruptions. A frame's link to its caller's frame is the
 * back chain, its last word (sp + 152); the return address into the caller is in the CALLER's frame,
 * in the r14 slot where the callee saved it (caller sp + 136). "Record" d of the chain from sp0 is
 * the pair {back chain of frame d-1, return address of frame d}, addressed here by frame d-1's sp,
 * so the shared helpers of src/kernel/corrupt.ts (records at the frame pointer) are restated.
 */
import type { Memory } from '../../machine/memory';
import type { Corruption } from '../../scene/types';
import { GARBAGE_RA, type CorruptionTargets, type Redirect } from '../corrupt';
import { S390X_ABI as A } from '../../isa/s390x/abi';
import { hex } from '../../machine/addr';

const BC = A.SF_BACKCHAIN;
const FS = A.STACK_FRAME_OVERHEAD;

/** The frame (its sp) `depth` back chains up from sp0 (1: sp0 itself). */
export function frameAtDepth(mem: Memory, sp0: number, depth = 1, c?: Corruption): number {
  if (!Number.isInteger(depth) || depth < 1) throw new Error(`corruption depth ${depth}: the innermost frame is depth 1`);
  if (c === 'frame-pointer-downward' && depth > 1) throw new Error('frame-pointer-downward applies to the innermost frame only: deeper, its copy would overwrite live frames');
  let sp = sp0;
  for (let d = 1; d < depth; d++) {
    const next = mem.read64(sp + BC);
    if (next === 0 || !mem.find(next, FS)) throw new Error(`corruption depth ${depth}: the back chain ends after ${d} frame(s)`);
    sp = next;
  }
  return sp;
}

/** The return address the walk reads through the frame at `sp`: %r14 as saved in its caller's frame. */
export function savedR14(mem: Memory, sp: number): number {
  return mem.read64(mem.read64(sp + BC) + A.SF_R14);
}

/** Corrupt the back chain of the frame at `sp` (and, for return-address-garbage, the return address read through it). */
export function corruptFrame(mem: Memory, sp: number, c: Corruption, t: CorruptionTargets): Redirect | undefined {
  const link = mem.read64(sp + BC);
  const isStack = (a: number): boolean => {
    const r = mem.find(a, FS);
    return r?.kind === 'task-stack' || r?.kind === 'irq-stack' || r?.kind === 'nmi-stack';
  };
  switch (c) {
    case 'frame-pointer-zeroed':
      mem.write64(sp + BC, 0);
      return;
    case 'frame-chain-cycle':
      // The next frame's back chain leads back to this one (or this one to itself when there is no next frame).
      if (link !== 0 && isStack(link) && mem.read64(link + BC) !== 0) mem.write64(link + BC, sp);
      else mem.write64(sp + BC, sp);
      return;
    case 'frame-pointer-misaligned':
      mem.write64(sp + BC, (link || sp + FS) + 4);
      return;
    case 'frame-pointer-unmapped':
      mem.write64(sp + BC, t.unmapped);
      return;
    case 'frame-pointer-other-task':
      mem.write64(sp + BC, t.otherRecord);
      return;
    case 'frame-pointer-downward': {
      // A plausible copy of the caller's frame further down: only the direction gives it away.
      const down = sp - 2 * FS;
      mem.write64(down + BC, mem.read64(link + BC));
      mem.write64(down + A.SF_R14, mem.read64(link + A.SF_R14));
      mem.write64(sp + BC, down);
      return;
    }
    case 'frame-pointer-straddles-stack-top': {
      // Aligned to 8, and its frame starts inside the stack but ends past the top.
      const r = mem.find(sp, FS);
      if (!r) throw new Error(`frame-pointer-straddles-stack-top: the frame at ${hex(sp)} is not mapped`);
      mem.write64(sp + BC, r.base + r.size - 8);
      return;
    }
    case 'return-address-garbage': {
      if (link === 0) throw new Error('return-address-garbage: the frame has no caller frame (zero back chain)');
      const was = mem.read64(link + A.SF_R14);
      mem.write64(link + A.SF_R14, GARBAGE_RA);
      return { was, now: GARBAGE_RA };
    }
    default:
      throw new Error(`${c} is not a corruption of an s390x back chain`);
  }
}

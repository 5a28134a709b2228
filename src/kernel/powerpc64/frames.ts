/**
 * powerpc64 back-chain corruptions. A frame's first word is the back chain (the caller's r1), as the
 * shared frame-record helpers of src/kernel/corrupt.ts expect; the return address differs: the return
 * into a frame's function is in THAT frame's LR save slot (word 2), written by its callee, so the
 * first frame's slot is stale and a saved return address of depth d lives in the frame above it.
 */
import type { Memory } from '../../machine/memory';
import type { Corruption } from '../../scene/types';
import { corruptFrameRecord, GARBAGE_RA, recordAtDepth, type CorruptionTargets, type Redirect } from '../corrupt';
import { POWERPC64_ABI as A } from '../../isa/powerpc64/abi';

/** The slot of the return address a walk reads through `frame`: the LR save slot of its caller's frame. */
export function savedLrSlot(mem: Memory, frame: number): number {
  return mem.read64(frame) + 8 * A.STACK_FRAME_LR_SAVE;
}

/** Corrupt the frame `depth` links up the back chain from r1 (1: r1's own frame). */
export function corruptBackChain(mem: Memory, r1: number, depth: number | undefined, c: Corruption, t: CorruptionTargets): Redirect | undefined {
  const frame = recordAtDepth(mem, r1, depth, c);
  if (c === 'return-address-garbage') {
    // The return address the walk reports first from this frame: the LR save slot of its caller's frame.
    const slot = savedLrSlot(mem, frame);
    const was = mem.read64(slot);
    mem.write64(slot, GARBAGE_RA);
    return { was, now: GARBAGE_RA };
  }
  if (c === 'frame-pointer-straddles-stack-top') {
    // Inside the stack, but the minimal frame it names ends past the stack's top.
    const r = mem.find(frame, 16)!;
    mem.write64(frame, r.base + r.size - 16);
    return undefined;
  }
  const known: Corruption[] = ['frame-pointer-zeroed', 'frame-chain-cycle', 'frame-pointer-misaligned', 'frame-pointer-unmapped', 'frame-pointer-other-task', 'frame-pointer-downward'];
  if (!known.includes(c)) throw new Error(`${c} is not a corruption of a powerpc64 back chain`);
  return corruptFrameRecord(mem, frame, c, t);
}

/**
 * Corruptions a scene may apply after its moment (spec 2, robustness): edits of the innermost saved
 * frame record {link, return address} a frame-pointer walk would follow. The record layout is the
 * same on both arches (rbp / x29 points at it). Ground truth is never touched.
 */
import type { Memory } from '../machine/memory';
import type { Corruption } from '../scene/types';

export interface CorruptionTargets {
  /** The other (blocked) task's innermost frame record. */
  otherRecord: number;
  /** An address no region maps on this machine. */
  unmapped: number;
}

/** A return address that is neither text nor mapped on either machine. */
export const GARBAGE_RA = 0x4141414141;

export function corruptFrameRecord(mem: Memory, fp0: number, c: Corruption, t: CorruptionTargets): void {
  const link = mem.read64(fp0);
  const onStack = (a: number): boolean => {
    const r = mem.find(a, 16);
    return r?.kind === 'task-stack' || r?.kind === 'irq-stack' || r?.kind === 'nmi-stack';
  };
  switch (c) {
    case 'frame-pointer-zeroed':
      mem.write64(fp0, 0);
      return;
    case 'frame-chain-cycle':
      // The next record links back to this one (or this one to itself when there is no next record).
      if (link !== 0 && onStack(link) && mem.read64(link) !== 0) mem.write64(link, fp0);
      else mem.write64(fp0, fp0);
      return;
    case 'frame-pointer-misaligned':
      mem.write64(fp0, (link || fp0 + 16) + 4);
      return;
    case 'frame-pointer-unmapped':
      mem.write64(fp0, t.unmapped);
      return;
    case 'frame-pointer-other-task':
      mem.write64(fp0, t.otherRecord);
      return;
    case 'frame-pointer-downward': {
      // A plausible copy of the record below this one: only the direction gives it away.
      const down = fp0 - 64;
      mem.write64(down, link);
      mem.write64(down + 8, mem.read64(fp0 + 8));
      mem.write64(fp0, down);
      return;
    }
    case 'return-address-garbage':
      mem.write64(fp0 + 8, GARBAGE_RA);
      return;
  }
}

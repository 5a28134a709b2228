/**
 * riscv64 frame records for the scene's corruptions. A record {fp, ra} is the 16 bytes BELOW its
 * frame pointer, and a saved fp is itself a frame pointer (the record it names is 16 bytes below),
 * so the shared helpers of src/kernel/corrupt.ts (which follow records at the frame pointer, as arm64
 * and x86_64 keep them) are restated here with that offset.
 */
import type { Memory } from '../../machine/memory';
import type { Corruption } from '../../scene/types';
import { GARBAGE_RA, type CorruptionTargets, type Redirect } from '../corrupt';
import { RISCV64_ABI as A } from '../../isa/riscv64/abi';
import { hex } from '../../machine/addr';

const OFF = A.FRAME_RECORD_OFFSET;

/** The record (its address) `depth` links up the chain from the frame pointer fp0 (1: fp0's own record). */
export function recordAtDepth(mem: Memory, fp0: number, depth = 1, c?: Corruption): number {
  if (!Number.isInteger(depth) || depth < 1) throw new Error(`corruption depth ${depth}: the innermost frame record is depth 1`);
  if (c === 'frame-pointer-downward' && depth > 1) throw new Error('frame-pointer-downward applies to the innermost record only: deeper, its copy would overwrite live frames');
  let fp = fp0;
  for (let d = 1; d < depth; d++) {
    const next = mem.read64(fp - OFF);
    if (next === 0 || !mem.find(next - OFF, 16)) throw new Error(`corruption depth ${depth}: the frame chain ends after ${d} record(s)`);
    fp = next;
  }
  return fp - OFF;
}

/** The frame pointer `fn` runs with: the link of the record, on the chain from fp0, whose saved ra is in `fn`. */
export function framePointerOf(mem: Memory, fp0: number, inFn: (ra: number) => boolean): number {
  for (let fp = fp0, n = 0; fp && mem.find(fp - OFF, 16) && n < 64; fp = mem.read64(fp - OFF), n++) {
    if (inFn(mem.read64(fp - OFF + 8))) return mem.read64(fp - OFF);
  }
  throw new Error('no frame record on the chain returns into the function that holds the stale pt_regs');
}

/** Corrupt the record at `rec` (its saved fp at rec, its ra at rec + 8). */
export function corruptRecord(mem: Memory, rec: number, c: Corruption, t: CorruptionTargets): Redirect | undefined {
  const link = mem.read64(rec);
  const myFp = rec + OFF;
  const isStack = (a: number): boolean => {
    const r = mem.find(a - OFF, 16);
    return r?.kind === 'task-stack' || r?.kind === 'irq-stack' || r?.kind === 'nmi-stack';
  };
  switch (c) {
    case 'frame-pointer-zeroed':
      mem.write64(rec, 0);
      return;
    case 'frame-chain-cycle':
      // The next record links back to this one (or this one to itself when there is no next record).
      if (link !== 0 && isStack(link) && mem.read64(link - OFF) !== 0) mem.write64(link - OFF, myFp);
      else mem.write64(rec, myFp);
      return;
    case 'frame-pointer-misaligned':
      mem.write64(rec, (link || myFp + 16) + 4);
      return;
    case 'frame-pointer-unmapped':
      mem.write64(rec, t.unmapped);
      return;
    case 'frame-pointer-other-task':
      mem.write64(rec, t.otherRecord);
      return;
    case 'frame-pointer-downward': {
      // A plausible copy of this record further down: only the direction gives it away.
      const down = rec - 64;
      mem.write64(down, link);
      mem.write64(down + 8, mem.read64(rec + 8));
      mem.write64(rec, down + OFF);
      return;
    }
    case 'frame-pointer-straddles-stack-top': {
      // Aligned to 8, and its record starts inside the stack but ends past the top: fp = top + 8.
      const r = mem.find(rec, 16);
      if (!r) throw new Error(`frame-pointer-straddles-stack-top: the record at ${hex(rec)} is not mapped`);
      mem.write64(rec, r.base + r.size + 8);
      return;
    }
    case 'return-address-garbage': {
      const was = mem.read64(rec + 8);
      mem.write64(rec + 8, GARBAGE_RA);
      return { was, now: GARBAGE_RA };
    }
    default:
      throw new Error(`${c} is not a corruption of a riscv64 frame record`);
  }
}

/**
 * Deliberately broken unwinders ("mutants"), to prove the features can fail: each breaks one
 * requirement and the suite must catch it. Use as an in-process profile:
 *   { "unwinder": "module:src/conformance/mutants.ts", "options": { "mutant": "truncate", "base": "frame-pointer" }, ... }
 * The base unwinder is only the thing being broken, never a source of expected outcomes.
 */
import { referenceUnwinder } from '../unwinders/registry';
import type { Profile, Unwinder, WalkInput, WalkResult } from '../unwinders/types';

export type Mutant =
  /** rc 0 with only the starting PC: omits every caller (unsafe). */
  | 'truncate'
  /** Reports every walk reliable, whatever the base unwinder found (unsafe where it had rejected). */
  | 'overclaim'
  /** Reports the innermost function twice in every reliable trace (imprecise). */
  | 'duplicate'
  /** Reads address 0 before walking (faulted: an unsafe access). */
  | 'wild-read'
  /** Re-reads the stack pointer's slot forever (runaway). */
  | 'loop';

export const MUTANTS: readonly Mutant[] = ['truncate', 'overclaim', 'duplicate', 'wild-read', 'loop'];

const SP: Record<string, string> = { arm64: 'sp', x86_64: 'rsp' };
const PC: Record<string, string> = { arm64: 'pc', x86_64: 'rip' };

export function create(profile: Profile): Unwinder {
  const mutant = profile.options?.['mutant'] as Mutant | undefined;
  if (!mutant || !MUTANTS.includes(mutant)) throw new Error(`profile ${profile.name}: options.mutant must be one of ${MUTANTS.join(', ')}`);
  const base = referenceUnwinder({ ...profile, unwinder: String(profile.options?.['base'] ?? 'frame-pointer') });
  const name = `${profile.name} (mutant ${mutant} of ${base.name})`;
  const walk = (input: WalkInput): WalkResult => {
    const pc = input.snap.regs[PC[input.snap.arch]!]!;
    switch (mutant) {
      case 'truncate':
        return { rc: 0, trace: [pc] };
      case 'overclaim': {
        const r = base.walk(input);
        return { rc: 0, trace: r.trace.length ? r.trace : [pc] };
      }
      case 'duplicate': {
        const r = base.walk(input);
        return r.rc === 0 && r.trace.length ? { rc: 0, trace: [r.trace[0]!, ...r.trace] } : r;
      }
      case 'wild-read':
        input.mem.read64(0);
        return base.walk(input);
      case 'loop': {
        const sp = input.snap.regs[SP[input.snap.arch]!]!;
        for (;;) input.mem.read64(sp);
      }
    }
  };
  return { name, walk };
}

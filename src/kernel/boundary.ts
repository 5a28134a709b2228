/** Instruction boundaries of a workload run, and which of them a sweep may take an exception at. */
import type { SweepSpec } from '../scene/types';

/** One instruction boundary the task reaches on its own (no exception), before the instruction at `pc`. */
export interface Boundary {
  step: number;
  pc: number;
  /** Function holding pc. */
  fn: string;
  irqMasked: boolean;
  /** preempt_count() > 0: an IRQ here cannot preempt the task. */
  preemptDisabled: boolean;
}

/**
 * The steps a sweep visits: only the named functions (if any), IRQs only where unmasked, and a
 * preempting IRQ only where preemption is enabled (a nested-NMI walk is taken in the handler).
 */
export function sweepSteps(bs: readonly Boundary[], spec: SweepSpec): number[] {
  const only = spec.functions ? new Set(spec.functions) : undefined;
  return bs
    .filter((b) => !only || only.has(b.fn))
    .filter((b) => !(spec.exception === 'irq' && b.irqMasked))
    .filter((b) => !(spec.walk === 'preempted' && !spec.nested && b.preemptDisabled))
    .map((b) => b.step);
}

/** The source text of each instruction of a function on a fixed-width (4-byte) ISA, in order (ArchKit.instructions). */
export function insnTexts(prog: { insnAt(addr: number): { text: string } | undefined }, sym: { start: number; end: number }): string[] {
  const out: string[] = [];
  for (let a = sym.start; a < sym.end; a += 4) out.push(prog.insnAt(a)?.text ?? '');
  return out;
}

/**
 * Outcome rules: a requirement's rule applied to the oracle's judgement decides pass or fail.
 * Expected outcomes come from the ground truth (through the oracle) and the rule, never from a
 * reference unwinder. The failure message is the oracle's explanation.
 */
import type { Judgement, Outcome } from '../oracle/oracle';

export type Rule =
  /** rc 0 with every live function, or rc != 0: the core contract (section 2). */
  | 'complete-or-unreliable'
  /** rc 0 with exactly the true call chain (no duplicated, inverted or spurious entry), or rc != 0 (cover letter). */
  | 'exact-or-unreliable'
  /** must reject: rc != 0. */
  | 'reported-unreliable'
  /** should unwind: rc 0 with every live function. */
  | 'reliable'
  /** no read of unmapped or non-stack memory (the trace itself is judged by another rule). */
  | 'memory-safe'
  /** the walk ended within its step / time bound. */
  | 'bounded'
  /** memory-safe and bounded, the trace not judged (used where a walk is shown, not graded). */
  | 'robust';

export const RULE_TEXT: Record<Rule, string> = {
  'complete-or-unreliable': 'a complete trace with rc 0, or rc != 0',
  'exact-or-unreliable': 'rc 0 with exactly the true call chain (nothing duplicated, inverted or spurious), or rc != 0',
  'reported-unreliable': 'the walk reported unreliable (rc != 0)',
  reliable: 'a reliable trace (rc 0) holding every function the task may return to',
  'memory-safe': 'a walk without unsafe memory accesses',
  bounded: 'a walk that ends in bounded steps',
  robust: 'a walk that ends in bounded steps without unsafe memory accesses',
};

/**
 * The outcomes each rule accepts. An imprecise trace (duplicated, inverted or spurious entries, nothing
 * missing) still holds every live function, so it meets section 2's "must" (complete-or-unreliable);
 * the cover letter's "should be treated as unreliable" (exact-or-unreliable) fails it. An imprecise
 * trace never counts as a reliable one: where the rule expects the walk to be unwound, only the true
 * call chain will do. Undetected corruption (the trace follows a corrupted return address faithfully
 * and omits no intact live frame) is the SHOULD "detect such cases"; it is not a complete trace.
 */
const ACCEPT: Record<Rule, readonly Outcome[]> = {
  'complete-or-unreliable': ['sound-reliable', 'correctly-unreliable', 'imprecise', 'undetected-corruption'],
  'exact-or-unreliable': ['sound-reliable', 'correctly-unreliable'],
  'reported-unreliable': ['correctly-unreliable'],
  reliable: ['sound-reliable'],
  'memory-safe': ['sound-reliable', 'correctly-unreliable', 'unsafe', 'imprecise', 'undetected-corruption', 'runaway'],
  bounded: ['sound-reliable', 'correctly-unreliable', 'unsafe', 'imprecise', 'undetected-corruption', 'faulted'],
  robust: ['sound-reliable', 'correctly-unreliable', 'unsafe', 'imprecise', 'undetected-corruption'],
};

export interface Verdict {
  pass: boolean;
  /** Why it failed (the oracle's explanation, framed by the rule). */
  message?: string;
}

const WHY: Partial<Record<Outcome, string>> = {
  unsafe: 'a reliable trace omitted a live function, which livepatch cannot survive',
  'undetected-corruption':
    'the trace follows a corrupted return address as if it were valid; the spec says the function should detect corruption and return non-zero',
  imprecise:
    'the cover letter assumes traces with duplicated or inverted entries are treated as unreliable, so rc 0 should come with the exact call chain',
  faulted: 'the walk accessed memory in an unsafe way (spec 2: must be robust)',
  runaway: 'the walk did not end in bounded steps (spec 2: must not get stuck in an infinite loop)',
  errored: 'the unwinder crashed or answered garbage',
};

/** Apply `rule` to one judged walk. */
export function applyRule(rule: Rule, j: Judgement): Verdict {
  if (ACCEPT[rule].includes(j.outcome)) return { pass: true };
  const why = WHY[j.outcome] ?? (j.outcome === 'correctly-unreliable' ? 'the walk was reported unreliable' : 'the walk was reported reliable');
  return { pass: false, message: `expected ${RULE_TEXT[rule]}, got ${j.outcome}: ${j.explanation} (${why})` };
}

/** The requirement catalogue: every normative statement of the spec, with a stable slug ID. */
import type { Level } from '../report/results';

export type Topic =
  | 'core-contract'
  | 'compile-time-analysis'
  | 'successful-termination'
  | 'unwindable-code'
  | 'interrupts-and-exceptions'
  | 'rewritten-return-addresses'
  | 'obscured-return-addresses'
  | 'link-register';

export const TOPICS: readonly Topic[] = [
  'core-contract',
  'compile-time-analysis',
  'successful-termination',
  'unwindable-code',
  'interrupts-and-exceptions',
  'rewritten-return-addresses',
  'obscured-return-addresses',
  'link-register',
];

export interface Requirement {
  /** Stable slug, never a section number, e.g. "reliable-trace-complete-or-nonzero". */
  id: string;
  title: string;
  topic: Topic;
  /** Section in the document as reviewed (3.x) and upstream after renumbering (4.x, new 3 = compile-time analysis). */
  section: { original: string; upstream: string; title: string };
  level: Level;
  /** The words that decide the level ("must reject", "strongly recommended", "are not required to"). */
  levelWording: string;
  /** Why that wording gives that level (e.g. the review thread's "must" over "should"). */
  levelRationale: string;
  /** Where the statement comes from. */
  source: 'spec' | 'cover-letter' | 'review-thread';
  /** When the requirement applies, as an expression over the profile (see src/catalogue/condition.ts); absent = always. */
  condition?: string;
  /** The condition in words. */
  conditionText?: string;
  quote: string;
  testability: 'runtime' | 'build-time' | 'review-only';
  /** Required when testability is review-only. */
  reviewOnlyReason?: string;
  /** 'When able' requirements: the least share of walks the model knows to be unwindable that must be reliable. */
  whenAble?: { minReliableShare: number; rationale: string };
}

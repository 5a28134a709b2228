/**
 * The mutant catalogue's shape (issue 9): deliberately faulty unwinders, each reproducing one
 * historical kernel bug class or breaking one spec rule, and correct-but-different unwinders. Each
 * is an in-process unwinder loaded through the `module:` profile mechanism
 * (`"unwinder": "module:src/mutants/index.ts", "options": { "mutant": "<id>" }`).
 */
import type { Arch } from '../snapshot/types';
import type { Profile, ProfileClaims, Unwinder } from '../unwinders/types';

export type MutantKind = 'faulty' | 'correct';

/** The reference profile a mutant patches (its claims are the mutant's, unless overridden). */
export type BaseProfile = 'arm64-fp' | 'arm64-meta' | 'x86_64-fp' | 'x86_64-orc' | 'riscv64-fp' | 'loongarch64-orc' | 's390x-bc' | 'powerpc64-bc';

export interface MutantEntry {
  /** Stable id: never renamed, never reused. */
  id: string;
  arch: Arch;
  base: BaseProfile;
  kind: MutantKind;
  /** One line: what it does differently from its base. */
  description: string;
  /** Faulty only: the catalogue requirement (src/catalogue/requirements.yaml) that must catch it. */
  requirement?: string;
  /** The kernel fix commit whose bug it models (12 hex digits and subject), if any. */
  commit?: string;
  /**
   * Faulty only: why the suite does not catch it on its named requirement today (the missing rule
   * or scene). `npm run mutants` still counts it as a miss; the test marks it todo.
   */
  knownGap?: string;
  /** Claims that differ from the base profile's (a claim the mutant makes and then breaks, or a correct one's honest claim). */
  claims?: Partial<ProfileClaims>;
  create(profile: Profile): Unwinder;
}

/**
 * The requirement catalogue as the reports need it: the requirements, and whether each one's
 * condition holds for a profile. Loaded from src/catalogue when that module is present; otherwise
 * the reports fall back to what the scenarios themselves say (their @req tags and statuses).
 */
import { existsSync } from 'fs';
import { join } from 'path';
import type { Requirement } from '../catalogue/types';
import type { Applicability } from './verdict';
import type { Profile } from '../unwinders/types';

export interface CatalogueView {
  requirements: Requirement[];
  applies?: Applicability;
  /** Why the catalogue could not be loaded, when it could not. */
  problem?: string;
}

type Fn = (...args: unknown[]) => unknown;

export function loadCatalogueView(): CatalogueView {
  const dir = join(__dirname, '..', 'catalogue');
  const candidates = ['index', 'catalogue', 'load'].map((f) => join(dir, f)).filter((p) => existsSync(p + '.ts') || existsSync(p + '.js'));
  let problem = 'src/catalogue exports no loadCatalogue()';
  for (const modPath of candidates) {
    let mod: Record<string, unknown>;
    try {
      mod = require(modPath) as Record<string, unknown>;
    } catch (e) {
      problem = `could not load ${modPath}: ${(e as Error).message}`;
      continue;
    }
    if (typeof mod.loadCatalogue !== 'function') continue;
    const loaded = (mod.loadCatalogue as Fn)() as Requirement[] | { requirements: Requirement[] };
    const requirements = Array.isArray(loaded) ? loaded : loaded.requirements;
    return { requirements, ...conditionEvaluator(dir) };
  }
  return { requirements: [], problem };
}

/** Find the catalogue's condition evaluation (src/catalogue/condition.ts). */
function conditionEvaluator(dir: string): { applies?: Applicability } {
  for (const f of ['condition', 'conditions', 'index', 'catalogue']) {
    const p = join(dir, f);
    if (!existsSync(p + '.ts') && !existsSync(p + '.js')) continue;
    const mod = require(p) as Record<string, unknown>;
    // Preferred: a function of (requirement, profile) → boolean.
    for (const name of ['requirementApplies', 'applies', 'isApplicable', 'appliesTo']) {
      if (typeof mod[name] === 'function') {
        const fn = mod[name] as Fn;
        return { applies: (req: Requirement, profile: Profile) => Boolean(fn(req, profile)) };
      }
    }
    // Else: a function of (condition text, profile) → boolean.
    for (const name of ['evaluateCondition', 'evalCondition', 'conditionHolds', 'holds']) {
      if (typeof mod[name] === 'function') {
        const fn = mod[name] as Fn;
        return { applies: (req: Requirement, profile: Profile) => !req.condition || Boolean(fn(req.condition, profile)) };
      }
    }
  }
  return {};
}

/** Loads the requirement catalogue (src/catalogue/requirements.yaml), validated with ajv. */
import { join } from 'path';
import { loadValidated } from '../schema/validate';
import { evaluateCondition, parseCondition } from './condition';
import type { Requirement } from './types';
import type { Profile } from '../unwinders/types';

export const CATALOGUE_FILE = join(__dirname, 'requirements.yaml');

const cache = new Map<string, Requirement[]>();

/** Every requirement, in catalogue order. Throws on schema errors, duplicate IDs or bad conditions. */
export function loadCatalogue(file = CATALOGUE_FILE): Requirement[] {
  const hit = cache.get(file);
  if (hit) return hit;
  const reqs = loadValidated<Requirement[]>('catalogue', file);
  const seen = new Set<string>();
  for (const r of reqs) {
    if (seen.has(r.id)) throw new Error(`${file}: duplicate requirement id ${r.id}`);
    seen.add(r.id);
    if (r.condition !== undefined) parseCondition(r.condition, `${file}: requirement ${r.id}`);
  }
  cache.set(file, reqs);
  return reqs;
}

export function byId(id: string, file = CATALOGUE_FILE): Requirement | undefined {
  return loadCatalogue(file).find((r) => r.id === id);
}

/** Whether `req` applies to `profile`, and why not when it does not. */
export function applicability(req: Requirement, profile: Profile): { applies: true } | { applies: false; reason: string } {
  if (evaluateCondition(req.condition, profile, `requirement ${req.id}`)) return { applies: true };
  return { applies: false, reason: `${req.id} applies only when ${req.conditionText ?? req.condition} (${req.condition}); not so for profile ${profile.name}` };
}

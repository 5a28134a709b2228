/** Unwinder profiles: JSON files validated against schemas/profile.schema.json. */
import { readdirSync } from 'fs';
import { join } from 'path';
import { loadValidated } from '../schema/validate';
import type { Profile } from './types';

export const PROFILE_DIR = join(__dirname, '..', '..', 'profiles');

export function loadProfile(file: string): Profile {
  return loadValidated<Profile>('profile', file);
}

/** Every profile in profiles/, sorted by name. */
export function builtinProfiles(): Profile[] {
  return readdirSync(PROFILE_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => loadProfile(join(PROFILE_DIR, f)))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export function builtinProfile(name: string): Profile {
  const p = builtinProfiles().find((x) => x.name === name);
  if (!p) throw new Error(`no profile named ${name} in ${PROFILE_DIR} (have: ${builtinProfiles().map((x) => x.name).join(', ')})`);
  return p;
}

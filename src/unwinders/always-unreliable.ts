/** Demonstration unwinder: every walk is unreliable. Sound, and useless for livepatch. */
import type { Profile, Unwinder } from './types';

export function create(profile: Profile): Unwinder {
  return { name: profile.name, walk: () => ({ rc: -22, trace: [], reason: 'this unwinder never claims a reliable trace' }) };
}

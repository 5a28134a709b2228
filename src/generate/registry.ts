/**
 * Generated programs by workload name: `generated:<id>`. The kits' workload builders (workloadCode on
 * arm64, workloadSource on x86_64) look generated workloads up here; images are cached by workload name,
 * so an id always names one program (registering a different one under a used id throws).
 */
import type { Workload } from '../scene/types';
import type { GenProgram } from './program';

const programs = new Map<string, { prog: GenProgram; json: string }>();

export const isGenerated = (w: string): w is `generated:${string}` => w.startsWith('generated:');

/** JSON with sorted keys: a program read back from a docstring or a spec file is the same program. */
const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1))) : x));

/** Register `p` and return its workload name. */
export function registerProgram(p: GenProgram): Workload {
  const w = `generated:${p.id}` as const;
  const had = programs.get(w);
  // The same object again (every moment of a case): nothing to compare. Programs are never edited in place.
  if (had?.prog === p) return w;
  const json = canonical(p);
  if (had && had.json !== json) throw new Error(`generated program ${p.id} is already registered with different code`);
  if (!had) programs.set(w, { prog: p, json });
  return w;
}

/** Forget every registered program (with the kits' images of them: src/generate/run.ts forgetGenerated). */
export function forgetPrograms(): void {
  programs.clear();
}

export function programOf(w: Workload): GenProgram {
  const e = programs.get(w);
  if (!e) throw new Error(`no generated program registered as ${w}`);
  return e.prog;
}

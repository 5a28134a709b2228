/** Sweeps: one scene per instruction boundary, shared by the arch kits. */
import type { Scene, SceneSpec, SweepSpec } from './types';

/** The scene for an exception taken before each of `steps` (boundaries counted from the workload's start). */
export function* exceptionAtEachStep(spec: SweepSpec, steps: Iterable<number>, build: (s: SceneSpec) => Scene): Iterable<Scene> {
  for (const step of steps) {
    yield build({
      workload: spec.workload,
      ...(spec.instrument ? { instrument: spec.instrument } : {}),
      moment: { kind: 'exception-at-step', exception: spec.exception, step, walk: spec.walk, ...(spec.nested ? { nested: spec.nested } : {}) },
    });
  }
}

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

/** A moment that lies past the end of the exception it was to be taken in (see Moment.nestedAfter). */
export class MomentPastException extends Error {}

/**
 * An NMI before each instruction the CPU executes while handling the exception of `spec`'s moment, from
 * its vector to its return: one scene per boundary, until the kit reports the exception has returned.
 */
export function* nmiAtEachStepOfException(spec: SceneSpec, build: (s: SceneSpec) => Scene, limit = 10_000): Iterable<Scene> {
  const mo = spec.moment;
  if (mo.kind === 'blocked' || mo.kind === 'kretprobe-handler') throw new Error('an NMI inside the handling of an exception needs an exception moment');
  for (let k = 0; k < limit; k++) {
    let scene: Scene;
    try {
      scene = build({ ...spec, moment: { ...mo, nested: 'nmi', nestedAfter: k } });
    } catch (e) {
      if (e instanceof MomentPastException) return;
      throw e;
    }
    yield scene;
  }
  throw new Error(`the exception of ${JSON.stringify(mo)} did not return within ${limit} instructions`);
}

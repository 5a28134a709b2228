/**
 * The arch kits, by arch, loaded on first use. Scenes are deterministic functions of their spec, so
 * when several profiles of an arch run (setSceneSharing), the kit handed out remembers what it built:
 * they share one build of each scene and sweep. Only the arch in use is kept (profiles of one arch run
 * one after another). A single profile gets the plain kit: sweeps stay lazy and memory stays flat.
 */
import type { Arch } from '../snapshot/types';
import type { ArchKit, Scene } from './types';

const kits = new Map<Arch, ArchKit>();
let sharing: ReadonlySet<Arch> = new Set();

/** The arches whose scenes are built once and shared (those with more than one profile in the run). */
export function setSceneSharing(arches: Iterable<Arch>): void {
  sharing = new Set(arches);
  kits.clear();
}

function caching(kit: ArchKit): ArchKit {
  const scenes = new Map<string, Scene>();
  const sweeps = new Map<string, Scene[]>();
  return {
    ...kit,
    buildScene: (spec) => {
      const key = JSON.stringify(spec);
      let s = scenes.get(key);
      if (!s) scenes.set(key, (s = kit.buildScene(spec)));
      return s;
    },
    sweep: (spec) => {
      const key = JSON.stringify(spec);
      let s = sweeps.get(key);
      if (!s) sweeps.set(key, (s = [...kit.sweep(spec)]));
      return s;
    },
  };
}

export function kitFor(arch: Arch): ArchKit {
  let k = kits.get(arch);
  if (!k) {
    kits.clear();
    const kit = (require(`../kernel/${arch}/kit`) as { kit: ArchKit }).kit;
    kits.set(arch, (k = sharing.has(arch) ? caching(kit) : kit));
  }
  return k;
}

/** Sweep throughput: scenes built, walked by each reference unwinder and judged, per second. */
import { judge } from '../src/oracle/oracle';
import { kitFor } from '../src/scene/index';
import { loadSnapshot } from '../src/snapshot/io';
import { builtinProfiles } from '../src/unwinders/profiles';
import { InProcessWalker } from '../src/unwinders/walker';

export async function bench(): Promise<{ name: string; [k: string]: unknown }[]> {
  const out: { name: string; [k: string]: unknown }[] = [];
  for (const profile of builtinProfiles().filter((p) => p.reference)) {
    const walker = new InProcessWalker(profile);
    // Scenes are built first (their speed is the kits' figure); this times loading, walking and judging.
    const scenes = [...kitFor(profile.arch).sweep({ workload: 'work-chain', exception: 'irq', walk: 'in-handler' })];
    let reliable = 0;
    const t0 = process.hrtime.bigint();
    for (let round = 0; round < 10; round++) {
      for (const scene of scenes) {
        const loaded = loadSnapshot(scene.snapshot);
        if (judge(loaded, scene.truth, walker.walkSync(loaded)).outcome === 'sound-reliable' && round === 0) reliable++;
      }
    }
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    out.push({ name: `sweep ${profile.name} (work-chain IRQ)`, walksPerSec: (10 * scenes.length) / secs, walks: scenes.length, reliable });
  }
  return out;
}

if (require.main === module) void bench().then((r) => console.table(r));

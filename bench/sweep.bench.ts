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
    const t0 = process.hrtime.bigint();
    let walks = 0;
    let reliable = 0;
    for (const scene of kitFor(profile.arch).sweep({ workload: 'work-chain', exception: 'irq', walk: 'in-handler' })) {
      const loaded = loadSnapshot(scene.snapshot);
      const j = judge(loaded, scene.truth, walker.walkSync(loaded));
      walks++;
      if (j.outcome === 'sound-reliable') reliable++;
    }
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    out.push({ name: `sweep ${profile.name} (work-chain IRQ)`, walksPerSec: walks / secs, walks, reliable });
  }
  return out;
}

if (require.main === module) void bench().then((r) => console.table(r));

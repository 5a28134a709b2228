/**
 * Walks per second through the plugin protocol, for the C example (examples/c-arm64-fp, built by
 * `npm run examples`): the arm64 IRQ and NMI sweeps of work-chain and syscall-sleep, walked in turn.
 * Scenes are built and loaded first, and one round warms up: the figure is encoding, the pipe, the plugin's
 * own work and reading answers, over ten rounds.
 */
import { existsSync } from 'fs';
import { join, resolve } from 'path';
import { kitFor } from '../src/scene/index';
import { loadSnapshot } from '../src/snapshot/io';
import { startExternalWalker } from '../src/protocol/external-walker';
import type { Scene } from '../src/scene/types';

const ROOT = resolve(__dirname, '..');
const PLUGIN = join(ROOT, 'examples', 'c-arm64-fp', 'build', 'c-arm64-fp');
/** Target from issue 13. */
export const TARGET_WALKS_PER_SEC = 2000;
/** Timed rounds over the sweeps' walks (after one warm-up round). */
const ROUNDS = 10;

export async function bench(): Promise<{ name: string; [k: string]: unknown }[]> {
  if (!existsSync(PLUGIN)) return [{ name: 'plugin throughput (C example)', verdict: 'MISSED', note: 'not built: npm run examples' }];
  const kit = kitFor('arm64');
  const scenes: Scene[] = [];
  for (const workload of ['work-chain', 'syscall-sleep'] as const) for (const exception of ['irq', 'nmi'] as const) scenes.push(...kit.sweep({ workload, exception, walk: 'in-handler' }));
  const loaded = scenes.map((s) => loadSnapshot(s.snapshot));
  const w = await startExternalWalker(PLUGIN, { cwd: ROOT });
  try {
    let walks = 0;
    let errors = 0;
    const round = async (): Promise<void> => {
      for (const [i, s] of scenes.entries()) {
        const r = await w.walk(s.snapshot, loaded[i]!);
        if ('error' in r && r.error !== undefined) errors++;
        walks++;
      }
    };
    // One round to warm up (JIT, the plugin's first pages), then ROUNDS timed ones: a figure of seconds, not of a tenth of one.
    await round();
    walks = 0;
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    for (let k = 0; k < ROUNDS; k++) await round();
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const walksPerSec = walks / secs;
    const c = process.cpuUsage(c0);
    const runnerCpuShare = (c.user + c.system) / 1e6 / secs;
    return [{ name: 'plugin throughput (C example, protocol)', verdict: walksPerSec >= TARGET_WALKS_PER_SEC ? 'OK' : 'MISSED', walksPerSec, target: TARGET_WALKS_PER_SEC, walks, errors, secs, runnerCpuShare }];
  } finally {
    await w.close();
  }
}

if (require.main === module) void bench().then((r) => console.table(r));

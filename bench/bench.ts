/**
 * npm run bench: performance targets, measured (never asserted in tests).
 * Runs every bench/*.bench.ts (each exports `bench(): Promise<{name, instrPerSec?, ...}>`) and
 * checks the figures against the targets below, and any figure's own `verdict` ('OK' / 'MISSED', e.g.
 * plugin-memory.bench.ts: a run's peak memory against a maximal plugin under 1 GB); exits non-zero if a
 * target is missed.
 */
import { readdirSync } from 'fs';
import { join } from 'path';

interface Figure {
  name: string;
  instrPerSec?: number;
  [k: string]: unknown;
}

/** The interpreter must run at least 1 million simulated instructions per second (sweeps rely on it). */
const TARGET_INSTR_PER_SEC = 1_000_000;

async function main(): Promise<void> {
  const files = readdirSync(__dirname).filter((f) => f.endsWith('.bench.ts')).sort();
  let failed = false;
  for (const f of files) {
    const mod = require(join(__dirname, f)) as { bench: () => Promise<Figure | Figure[]> };
    const figs = [await mod.bench()].flat();
    for (const fig of figs) {
      const extra = Object.entries(fig)
        .filter(([k]) => k !== 'name' && k !== 'instrPerSec')
        .map(([k, v]) => `${k}=${typeof v === 'number' ? Math.round(v * 100) / 100 : String(v)}`)
        .join(' ');
      let verdict = '';
      // A figure with a target of its own (e.g. peak memory) says whether it met it.
      if (fig.verdict === 'MISSED') failed = true;
      if (fig.instrPerSec !== undefined) {
        const ok = fig.instrPerSec >= TARGET_INSTR_PER_SEC;
        failed ||= !ok;
        verdict = `${(fig.instrPerSec / 1e6).toFixed(2)} M instr/s (target ≥ ${TARGET_INSTR_PER_SEC / 1e6} M) ${ok ? 'OK' : 'MISSED'}`;
      }
      console.log(`${fig.name.padEnd(44)} ${verdict} ${extra}`);
    }
  }
  if (!files.length) console.log('no benchmarks found');
  process.exitCode = failed ? 1 : 0;
}

void main();

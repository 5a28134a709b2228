/**
 * Peak memory of a run against a plugin that answers maximal traces (issue 11, finding 3): the runner
 * (`npm run conformance`) must stay under 1 GB. MODE=max answers at every limit (1024 spurious entries,
 * 4096 faulting reads, a 1024-character reason); MODE=over answers 300,000 entries (over the line limit:
 * errored, then restarts bounded). Figures: peak RSS of the runner, walks, conformance.json size, time.
 */
import { spawnSync } from 'child_process';
import { mkdtempSync, readFileSync, statSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';

const ROOT = resolve(__dirname, '..');
/** The target: a run's peak resident memory. */
export const TARGET_PEAK_MB = 1024;
/** The whole suite by default (every walk answered maximally); BENCH_MEMORY_REQS=a,b narrows it. */
const REQS = process.env.BENCH_MEMORY_REQS?.split(',') ?? [];

export async function bench(): Promise<{ name: string; [k: string]: unknown }[]> {
  const out: { name: string; [k: string]: unknown }[] = [];
  for (const mode of ['max', 'over']) {
    const dir = mkdtempSync(join(tmpdir(), `bench-memory-${mode}-`));
    const rss = join(dir, 'peak-rss');
    const t0 = Date.now();
    const r = spawnSync(
      process.execPath,
      ['-r', './scripts/ts-register.js', '-r', './bench/fixtures/peak-rss.js', 'cli/conformance.ts', '--unwinder', `MODE=${mode} node bench/fixtures/maximal-plugin.js`, ...(REQS.length ? ['--requirement', ...REQS] : []), '--no-html', '--quiet', '--out', join(dir, 'out')],
      { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PEAK_RSS_FILE: rss }, timeout: 1_800_000 },
    );
    const secs = (Date.now() - t0) / 1000;
    const peakMB = Number(readFileSync(rss, 'utf8')) / 1024;
    const json = join(dir, 'out', `maximal-${mode}`, 'conformance.json');
    const c = JSON.parse(readFileSync(json, 'utf8')) as { scenarios: { walks: { outcome: string }[] }[] };
    const walks = c.scenarios.flatMap((s) => s.walks);
    const errored = walks.filter((w) => w.outcome === 'errored').length;
    const answered = /of (\d+)/.exec(r.stdout)?.[1];
    const ok = peakMB < TARGET_PEAK_MB && (r.status === 0 || r.status === 1);
    out.push({
      name: `plugin memory (${mode === 'max' ? 'maximal answers' : '300,000-entry answers'})`,
      verdict: ok ? 'OK' : 'MISSED',
      peakMB,
      targetMB: TARGET_PEAK_MB,
      walksAnswered: Number(answered ?? NaN),
      walksInReport: walks.length,
      errored,
      conformanceJsonMB: statSync(json).size / 2 ** 20,
      secs,
      exit: r.status ?? -1,
    });
    if (!ok) process.exitCode = 1;
  }
  return out;
}

if (require.main === module) void bench().then((r) => console.table(r));

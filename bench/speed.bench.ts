/**
 * Issue 13's speed targets, each as a ratio against the issue's baseline figures (measured before this
 * work on the same 2-core machine): wall time and CPU time (user + system, all threads) of real runs.
 * BENCH_SKIP_NPM_TEST=1 leaves out the `npm test` figure (it takes a minute or more).
 */
import { spawnSync } from 'child_process';
import { mkdtempSync, readFileSync } from 'fs';
import { loadavg, tmpdir } from 'os';
import { join, resolve } from 'path';
import { bench as pluginThroughput } from './plugin-throughput';

const ROOT = resolve(__dirname, '..');

/** Issue 13's baseline figures (seconds), and its targets. */
export const BASELINE = { allProfilesS: 14, oneProfileS: 9.5, cPluginS: 11, npmTestS: 180 } as const;
/** CPU seconds (user + system) before this work: all profiles 11.8 s user (measured on the base commit), one profile 6.2 s (the CPU profile). */
export const BASELINE_CPU = { allProfilesS: 11.8, oneProfileS: 6.2 } as const;
export const TARGETS = { allProfilesS: 5, generatedWalksPerMin: 100_000, pluginWalksPerSec: 2000, npmTestS: 60 } as const;

interface Run {
  wallS: number;
  cpuS: number;
  stdout: string;
  stderr: string;
  status: number | null;
}

/** `node -r ts-register <args>` from the project root, timed, with this process's young generation size (package.json). */
function run(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const dir = mkdtempSync(join(tmpdir(), 'bench-speed-'));
  const usage = join(dir, 'usage.json');
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [...process.execArgv.filter((a) => a.startsWith('--max-semi-space-size')), '-r', './scripts/ts-register.js', '-r', './bench/fixtures/cpu-usage.js', ...args.map((a) => a.replace('$OUT', join(dir, 'out')))], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...env, CPU_USAGE_FILE: usage },
    maxBuffer: 1 << 26,
  });
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  let cpuS = NaN;
  try {
    const u = JSON.parse(readFileSync(usage, 'utf8')) as { user: number; system: number };
    cpuS = (u.user + u.system) / 1e6;
  } catch {
    // no figure when the run died before exit
  }
  return { wallS, cpuS, stdout: r.stdout, stderr: r.stderr, status: r.status };
}

const ratio = (before: number, now: number) => Math.round((before / now) * 10) / 10;

export async function bench(): Promise<{ name: string; [k: string]: unknown }[]> {
  // The machine may be shared: the load says how far wall times stand above CPU times.
  const out: { name: string; [k: string]: unknown }[] = [{ name: 'machine load (1-minute average) at start', load: loadavg()[0] }];
  const conf = (...a: string[]) => run(['cli/conformance.ts', '--no-html', '--quiet', '--out', '$OUT', ...a]);

  // Warm the compile cache first, so every figure is a steady-state run.
  conf('--profile', 'x86_64-orc', '--requirement', 'trace-complete-or-nonzero');

  const all = conf();
  out.push({ name: 'all reference profiles, all features', verdict: all.wallS <= TARGETS.allProfilesS ? 'OK' : 'MISSED', wallS: all.wallS, cpuS: all.cpuS, targetS: TARGETS.allProfilesS, baselineS: BASELINE.allProfilesS, faster: `${ratio(BASELINE.allProfilesS, all.wallS)}x`, cpuBaselineS: BASELINE_CPU.allProfilesS, cpuFaster: `${ratio(BASELINE_CPU.allProfilesS, all.cpuS)}x` });

  const one = conf('--profile', 'x86_64-orc');
  out.push({ name: 'one reference profile (x86_64-orc)', wallS: one.wallS, cpuS: one.cpuS, baselineS: BASELINE.oneProfileS, faster: `${ratio(BASELINE.oneProfileS, one.wallS)}x`, cpuBaselineS: BASELINE_CPU.oneProfileS, cpuFaster: `${ratio(BASELINE_CPU.oneProfileS, one.cpuS)}x` });

  const n = Number(process.env.BENCH_GENERATE ?? 2000);
  const g = run(['cli/conformance.ts', '--no-html', '--out', '$OUT', '--profile', 'x86_64-orc', '--generate', String(n), '--seed', '1']);
  const m = /scenes built in ([\d.]+) s, (\d+) walks judged in ([\d.]+) s/.exec(g.stderr);
  if (m) {
    const [build, walks, judgeS] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const perMin = (walks / (build + judgeS)) * 60;
    out.push({ name: `generated scenes (x86_64-orc, ${n} programs)`, verdict: perMin >= TARGETS.generatedWalksPerMin ? 'OK' : 'MISSED', walksPerMin: Math.round(perMin), judgeOnlyWalksPerMin: Math.round((walks / judgeS) * 60), walks, buildS: build, judgeS, target: TARGETS.generatedWalksPerMin });
  } else out.push({ name: 'generated scenes', verdict: 'MISSED', note: `no figure in the run's output (exit ${g.status})` });

  const c = conf('--unwinder', 'examples/c-arm64-fp/build/c-arm64-fp');
  out.push({ name: 'C example plugin, all features', wallS: c.wallS, runnerCpuS: c.cpuS, baselineS: BASELINE.cPluginS, faster: `${ratio(BASELINE.cPluginS, c.wallS)}x`, exit: c.status });
  out.push(...(await pluginThroughput()));

  if (!process.env.BENCH_SKIP_NPM_TEST) {
    const t0 = process.hrtime.bigint();
    const t = spawnSync('npm', ['test'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 28 });
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
    out.push({ name: 'npm test', verdict: wallS <= TARGETS.npmTestS && t.status === 0 ? 'OK' : 'MISSED', wallS, exit: t.status, targetS: TARGETS.npmTestS, baselineS: BASELINE.npmTestS, faster: `${ratio(BASELINE.npmTestS, wallS)}x` });
  }
  return out;
}

if (require.main === module) void bench().then((r) => console.table(r));

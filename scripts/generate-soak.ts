/**
 * The million-walk soak of issue 13: generated programs of one arch, judged by every reference profile of
 * it, until `--walks` walks (one walk = one scene judged by one profile) or `--time-budget` is spent.
 *
 *   node -r ./scripts/ts-register.js scripts/generate-soak.ts --arch arm64 --seed 1 --walks 1000000 [--time-budget 2h] [--out f.json]
 *
 * Prints progress every 30 s and a summary: walks per profile by outcome, and every unsafe, imprecise,
 * faulted, runaway or errored walk (program id, moment): there must be none. The same seed gives the
 * same programs; a bad walk is rebuilt with `generatedCase(arch, seed, n)`.
 */
import { writeFileSync } from 'node:fs';
import { forgetGenerated, generatedCase, judgeCase } from '../src/generate/run';
import { parseDuration } from '../src/generate/budget';
import { builtinProfiles } from '../src/unwinders/profiles';
import { referenceUnwinder } from '../src/unwinders/registry';
import type { Arch } from '../src/snapshot/types';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const arch = arg('arch', 'arm64') as Arch;
const seed = Number(arg('seed', '1'));
const target = Number(arg('walks', '1000000'));
const budgetMs = parseDuration(arg('time-budget', '24h'));
const out = arg('out', `/tmp/soak-${arch}-${seed}.json`);
const first = Number(arg('from', '0'));

const GOOD = new Set(['sound-reliable', 'correctly-unreliable', 'undetected-corruption']);
const profiles = builtinProfiles().filter((p) => p.arch === arch && p.reference);
const unwinders = profiles.map((p) => [p.name, referenceUnwinder(p)] as const);
const byProfile: Record<string, Record<string, number>> = {};
const bad: { profile: string; program: string; moment: string; outcome: string; explanation: string }[] = [];
const errors: { program: string; error: string }[] = [];
let walks = 0;
let scenes = 0;
let dropped = 0;
let n = first;
const t0 = Date.now();
let lastReport = t0;

const summary = () => ({ arch, seed, programs: n - first, from: first, scenes, dropped, walks, seconds: Math.round((Date.now() - t0) / 1000), profiles: profiles.map((p) => p.name), byProfile, bad, errors });

while (walks < target && Date.now() - t0 < budgetMs) {
  let c;
  try {
    c = generatedCase(arch, seed, n);
  } catch (e) {
    errors.push({ program: `${seed}-${n}`, error: (e as Error).message });
    n++;
    continue;
  }
  scenes += c.scenes.length;
  dropped += c.dropped;
  for (const [name, u] of unwinders) {
    const cj = judgeCase(c, u);
    const tally = (byProfile[name] ??= {});
    cj.judgements.forEach((j, i) => {
      walks++;
      tally[j.outcome] = (tally[j.outcome] ?? 0) + 1;
      if (!GOOD.has(j.outcome)) bad.push({ profile: name, program: c.program.id, moment: c.scenes[i]!.scene.moment, outcome: j.outcome, explanation: j.explanation });
    });
  }
  n++;
  if (n % 100 === 0) forgetGenerated();
  if (Date.now() - lastReport > 30_000) {
    lastReport = Date.now();
    console.log(`${new Date().toISOString()} ${arch} seed ${seed}: ${n - first} programs, ${scenes} scenes, ${walks} walks, ${bad.length} bad, ${errors.length} errors, ${Math.round((Date.now() - t0) / 1000)} s`);
    writeFileSync(out, JSON.stringify(summary(), null, 1));
  }
}
writeFileSync(out, JSON.stringify(summary(), null, 1));
console.log(JSON.stringify({ ...summary(), bad: bad.slice(0, 20), badCount: bad.length }, null, 1));
process.exitCode = bad.length || errors.length ? 1 : 0;

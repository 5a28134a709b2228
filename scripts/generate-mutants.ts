/**
 * The faulty mutants of src/mutants caught by generated scenes (issue 13): `node -r ./scripts/ts-register.js
 * scripts/generate-mutants.ts [programs per arch] [seed]`. A mutant counts as caught when some generated walk
 * fails the core rule (complete-or-unreliable) or exact-or-unreliable under its profile.
 */
import { generatedCase, GENERATED_ARCHES, judgeCase, type GeneratedCase } from '../src/generate/run';
import { CATALOGUE, mutantProfile } from '../src/mutants/index';
import { referenceUnwinder } from '../src/unwinders/registry';

const count = Number(process.argv[2] ?? 30);
const seed = Number(process.argv[3] ?? 1);
const t0 = performance.now();
const cases: Record<string, GeneratedCase[]> = {};
for (const arch of GENERATED_ARCHES) cases[arch] = Array.from({ length: count }, (_, n) => generatedCase(arch, seed, n));
const tBuild = performance.now() - t0;
let walks = 0;
const rows: string[] = [];
let caught = 0;
let faulty = 0;
for (const m of CATALOGUE) {
  if (!cases[m.arch]) continue;
  const u = referenceUnwinder(mutantProfile(m));
  let core = 0;
  let exact = 0;
  for (const c of cases[m.arch]!) {
    const cj = judgeCase(c, u);
    walks += cj.judgements.length;
    if (cj.firstFailure['complete-or-unreliable'] >= 0) core++;
    if (cj.firstFailure['exact-or-unreliable'] >= 0) exact++;
  }
  const hit = core + exact > 0;
  if (m.kind === 'faulty') {
    faulty++;
    if (hit) caught++;
  }
  rows.push(`${m.kind.padEnd(7)} ${m.id.padEnd(40)} ${hit ? (m.kind === 'faulty' ? 'CAUGHT' : 'FALSE ALARM') : m.kind === 'faulty' ? 'missed' : 'ok'}  (core rule failed in ${core}/${count} programs, exact in ${exact}/${count})`);
}
const ms = performance.now() - t0;
console.log(rows.join('\n'));
console.log(`\nfaulty mutants caught by ${count} generated programs per arch (seed ${seed}): ${caught}/${faulty}`);
console.log(`${walks} walks judged in ${(ms / 1000).toFixed(1)} s (${((100 * (ms - tBuild)) / walks).toFixed(1)} ms per 100 walks, plus ${(tBuild / 1000).toFixed(1)} s building ${GENERATED_ARCHES.length * count} cases)`);

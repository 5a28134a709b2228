/**
 * Rebuild a shrunk generated case (the JSON spec `npm run conformance -- --generate` prints) and judge it:
 * `node -r ./scripts/ts-register.js scripts/generate-replay.ts <spec.json> <profile name or mutant id>...`.
 * Prints each profile's outcome, the true call chain and the reported trace.
 */
import { readFileSync } from 'node:fs';
import { buildCase, judgeCase } from '../src/generate/run';
import type { GenMoment } from '../src/generate/run';
import type { GenProgram } from '../src/generate/program';
import { CATALOGUE, mutantProfile } from '../src/mutants/index';
import { builtinProfile } from '../src/unwinders/profiles';
import { referenceUnwinder } from '../src/unwinders/registry';
import type { Arch } from '../src/snapshot/types';

const [file, ...names] = process.argv.slice(2);
if (!file || !names.length) {
  process.stderr.write('usage: generate-replay.ts <spec.json> <profile|mutant id>...\n');
  process.exit(2);
}
const spec = JSON.parse(readFileSync(file, 'utf8')) as { arch: Arch; program: GenProgram; moment: GenMoment };
const c = buildCase(spec.arch, spec.program, [spec.moment]);
const scene = c.scenes[0]!.scene;
console.log(`${spec.arch} program ${spec.program.id} (seed ${spec.program.seed}): ${scene.moment}`);
for (const n of names) {
  const m = CATALOGUE.find((x) => x.id === n);
  const profile = m ? mutantProfile(m) : builtinProfile(n);
  const j = judgeCase(c, referenceUnwinder(profile)).judgements[0]!;
  console.log(`\n${profile.name}: ${j.outcome} (rc ${j.rc}): ${j.explanation}`);
  console.log(`  truth: ${j.truth.map((f) => f.fn).join(' <- ')}`);
  console.log(`  trace: ${j.trace.map((f) => f.fn).join(' <- ')}`);
}

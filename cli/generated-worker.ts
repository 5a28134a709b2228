/** One worker thread of cli/generated-parallel.ts: builds and judges its share of the generated programs. */
import { parentPort, workerData } from 'worker_threads';
import { caseResults, generatedCase, judgeCase, scenarioId, GENERATED_RULES } from '../src/generate/run';
import { generateProgram } from '../src/generate/program';
import { referenceUnwinder } from '../src/unwinders/registry';
import type { Profile } from '../src/unwinders/types';
import type { ShareCase } from './generated-parallel';

const { profile, seed, ns } = workerData as { profile: Profile; seed: number; ns: number[] };
const unwinder = referenceUnwinder(profile);
const out: ShareCase[] = [];
for (const n of ns) {
  const t0 = performance.now();
  let c: ReturnType<typeof generatedCase>;
  try {
    c = generatedCase(profile.arch, seed, n);
  } catch (e) {
    // As cli/generated.ts: a program the machine cannot run is an errored row per rule, with its seed.
    const id = scenarioId(generateProgram(seed, n));
    const results = GENERATED_RULES.map(({ requirement, level }) => ({ profile: profile.name, id, name: `generated program ${id} on ${profile.arch}`, uri: `generated/${profile.arch}/seed-${seed}`, topic: 'core-contract', requirement, level, status: 'errored' as const, message: `the generated program could not be run: ${(e as Error).message}`, walks: [], durationMs: 0 }));
    out.push({ n, results, walks: 0, buildMs: performance.now() - t0, judgeMs: 0, failedRules: [] });
    continue;
  }
  const buildMs = performance.now() - t0;
  const t1 = performance.now();
  const cj = judgeCase(c, unwinder);
  const judgeMs = performance.now() - t1;
  const results = caseResults(profile.name, c, cj, judgeMs + buildMs);
  out.push({ n, results, walks: cj.judgements.length, buildMs, judgeMs, failedRules: GENERATED_RULES.filter(({ rule }) => cj.firstFailure[rule] >= 0).map(({ rule }) => rule) });
}
parentPort!.postMessage(out);

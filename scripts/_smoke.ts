import { generatedCase, judgeCase } from '../src/generate/run';
import { builtinProfiles } from '../src/unwinders/profiles';
import { referenceUnwinder } from '../src/unwinders/registry';
const N = Number(process.argv[2] ?? 40), seed = Number(process.argv[3] ?? 1);
for (const arch of ['arm64', 'x86_64'] as const) {
  const us = builtinProfiles().filter((p) => p.arch === arch && p.reference).map((p) => [p.name, referenceUnwinder(p)] as const);
  const stats: Record<string, Record<string, number>> = {};
  let errors = 0, dropped = 0, scenes = 0;
  const t0 = performance.now();
  for (let n = 0; n < N; n++) {
    let c;
    try { c = generatedCase(arch, seed, n); } catch (e) { errors++; if (errors < 6) console.log(arch, n, (e as Error).message.slice(0, 300)); continue; }
    dropped += c.dropped; scenes += c.scenes.length;
    for (const [name, u] of us) {
      const cj = judgeCase(c, u);
      cj.judgements.forEach((j, i) => {
        (stats[name] ??= {})[j.outcome] = (stats[name]![j.outcome] ?? 0) + 1;
        if (!['sound-reliable', 'correctly-unreliable', 'undetected-corruption'].includes(j.outcome)) console.log('BAD', name, c.program.id, c.scenes[i]!.scene.moment, j.outcome, j.explanation.slice(0, 200));
      });
    }
  }
  console.log(arch, { errors, dropped, scenes, ms: Math.round(performance.now() - t0) }, JSON.stringify(stats));
}

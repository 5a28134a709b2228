import { generatedCase, judgeCase, describeProgram } from '../src/generate/run';
import { builtinProfile } from '../src/unwinders/profiles';
import { referenceUnwinder } from '../src/unwinders/registry';
const profs = { arm64: ['arm64-fp', 'arm64-meta'], x86_64: ['x86_64-fp', 'x86_64-orc'] } as const;
const t0 = Date.now();
let walks = 0;
const bad: string[] = [];
for (const arch of ['arm64', 'x86_64'] as const) {
  const uws = profs[arch].map((p) => [p, referenceUnwinder(builtinProfile(p))] as const);
  for (let n = 0; n < Number(process.argv[2] ?? 5); n++) {
    let c;
    try { c = generatedCase(arch, 1, n); } catch (e) { bad.push(`${arch} ${n} build: ${(e as Error).message}`); continue; }
    for (const [p, u] of uws) {
      const cj = judgeCase(c, u);
      walks += cj.judgements.length;
      cj.judgements.forEach((j, i) => { if (!['sound-reliable', 'correctly-unreliable'].includes(j.outcome)) bad.push(`${p} ${c.program.id} ${j.outcome} ${c.scenes[i]!.scene.moment}: ${j.explanation}`); });
    }
    if (n < 2) console.log(arch, describeProgram(c.program), c.scenes.map((s) => s.scene.findings.filter(f=>f.fn.startsWith('gen_')).length));
  }
}
console.log(`walks ${walks} in ${Date.now() - t0} ms`);
console.log(bad.slice(0, 20).join('\n'));

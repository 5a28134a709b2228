import { generatedCase, judgeCase } from '/work/wt-speed/src/generate/run';
import { referenceUnwinder } from '/work/wt-speed/src/unwinders/registry';
import { builtinProfile } from '/work/wt-speed/src/unwinders/profiles';
const u = referenceUnwinder(builtinProfile('x86_64-orc'));
const c0 = process.cpuUsage(); let walks = 0; let tb = 0, tj = 0;
for (let n = 0; n < 150; n++) { const a = process.cpuUsage(); const c = generatedCase('x86_64', 1, n); const b = process.cpuUsage(a); tb += b.user + b.system; const d = process.cpuUsage(); walks += judgeCase(c, u).judgements.length; const e = process.cpuUsage(d); tj += e.user + e.system; }
const c = process.cpuUsage(c0);
console.log('walks', walks, 'cpu s', (c.user + c.system) / 1e6, 'build', tb / 1e6, 'judge', tj / 1e6, 'walks/min/core', Math.round(walks / ((c.user + c.system) / 1e6) * 60));

/**
 * The reference server (src/protocol/reference-server.ts) speaks the protocol with our in-process
 * reference unwinders: the same verdict in process and out of process, scene by scene.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { join } from 'path';
import { judge } from '../src/oracle/oracle';
import { startExternalWalker } from '../src/protocol/external-walker';
import { loadSnapshot } from '../src/snapshot/io';
import type { Snapshot } from '../src/snapshot/types';
import type { GroundTruth } from '../src/truth/shadow';
import { builtinProfile } from '../src/unwinders/profiles';
import { InProcessWalker } from '../src/unwinders/walker';
import { syntheticScenes } from './protocol-fixtures';
import { kitScenes } from './protocol-kit-scenes';

const ROOT = join(__dirname, '..');
const server = (profile: string) => `node -r ./scripts/ts-register.js src/protocol/reference-server.ts --profile ${profile}`;

async function compare(profile: string, scenes: { label: string; snapshot: Snapshot; truth: GroundTruth }[]) {
  const inproc = new InProcessWalker(builtinProfile(profile));
  const ext = await startExternalWalker(server(profile), { cwd: ROOT, validate: true, timeoutMs: 20_000 });
  try {
    // The protocol carries claims, not a build: a plugin's profile has no analyser.
    const { analyser: _built, ...announced } = builtinProfile(profile);
    assert.deepEqual({ ...ext.profile, reference: builtinProfile(profile).reference }, announced);
    const outcomes = new Map<string, number>();
    for (const s of scenes) {
      const loaded = loadSnapshot(s.snapshot);
      const a = judge(loaded, s.truth, inproc.walkSync(loaded));
      const b = judge(loaded, s.truth, await ext.walk(s.snapshot, loaded));
      assert.equal(b.outcome, a.outcome, `${profile} ${s.label}: in-process ${a.explanation} / out of process ${b.explanation}`);
      assert.deepEqual(b.trace, a.trace, `${profile} ${s.label}`);
      assert.equal(b.reads, a.reads, `${profile} ${s.label}: reads reported through the protocol`);
      outcomes.set(a.outcome, (outcomes.get(a.outcome) ?? 0) + 1);
    }
    return Object.fromEntries(outcomes);
  } finally {
    await ext.close();
  }
}

describe('reference server', () => {
  it('arm64-fp: same verdicts in and out of process on 150 laid-out scenes', async () => {
    const scenes = syntheticScenes(150, 300).map((s) => ({ ...s, label: s.name }));
    const o = await compare('arm64-fp', scenes);
    console.log(`# arm64-fp synthetic: ${JSON.stringify(o)}`);
    assert.ok(Object.keys(o).length >= 2);
  });

  for (const [arch, profiles] of [
    ['arm64', ['arm64-fp', 'arm64-meta', 'arm64-always-unreliable']],
    ['x86_64', ['x86_64-orc', 'x86_64-fp']],
  ] as const) {
    it(`${arch}: same verdicts in and out of process on kit scenes, for every reference profile`, async (t) => {
      const scenes = kitScenes(arch, { sweepLimit: 25 });
      for (const p of profiles) {
        const o = await compare(p, scenes);
        console.log(`# ${p} on ${scenes.length} kit scenes: ${JSON.stringify(o)}`);
      }
    });
  }
});

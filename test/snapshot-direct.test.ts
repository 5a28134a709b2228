/**
 * makeSnapshot hands in-process unwinders a loaded form built straight from the machine (no JSON
 * round trip, no validation): it must equal what loading the snapshot's JSON gives, and that JSON must
 * pass the schema and loadSnapshot's own checks, for every kind of kit scene.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadSnapshot, type LoadedSnapshot } from '../src/snapshot/io';
import { kitScenes } from './protocol-kit-scenes';

const view = (l: LoadedSnapshot) => ({
  arch: l.arch,
  regions: l.mem.regions.map((r) => ({ name: r.name, kind: r.kind, base: r.base, size: r.size, owner: r.owner, bytes: Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength).toString('base64') })),
  syms: l.syms.all.map((s) => ({ ...s })),
  regs: l.regs,
  stacks: l.stacks,
  ptRegs: l.ptRegs,
  finalFrame: l.finalFrame,
  abi: l.abi,
  json: JSON.parse(JSON.stringify(l.json)) as unknown,
});

for (const arch of ['arm64', 'x86_64'] as const) {
  test(`${arch}: a kit snapshot's direct loaded form equals loading its validated JSON`, () => {
    const scenes = kitScenes(arch, { sweepLimit: 6 });
    assert.ok(scenes.length > 20);
    for (const s of scenes) {
      const direct = loadSnapshot(s.snapshot);
      assert.equal(loadSnapshot(s.snapshot), direct, 'built once');
      const text = JSON.stringify(s.snapshot);
      const parsed = loadSnapshot(JSON.parse(text), s.label);
      assert.notEqual(parsed, direct, 'a parsed snapshot is validated and loaded afresh');
      assert.deepEqual(view(direct), view(parsed), s.label);
      assert.equal(JSON.stringify(s.snapshot), text, 'encoding is stable');
    }
  });
}

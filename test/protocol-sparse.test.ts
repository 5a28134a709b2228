/**
 * The sparse-memory protocol extension (docs/maintainers.md, "Protocol extensions"): offered by the
 * runner, accepted by the C example and the reference server; walk answers are the same as with full
 * base64 data; a harness that accepts an extension nobody offered is refused; chunks load exactly.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, it } from 'node:test';
import { join } from 'path';
import { startExternalWalker } from '../src/protocol/external-walker';
import { validateMessage } from '../src/protocol/messages';
import { chunksOf, loadSnapshot, sparseSnapshot } from '../src/snapshot/io';
import { kitScenes } from './protocol-kit-scenes';
import { builtinProfile } from '../src/unwinders/profiles';

const ROOT = join(__dirname, '..');
const BIN = join(ROOT, 'examples', 'c-arm64-fp', 'build', 'c-arm64-fp');
const build = spawnSync(join(ROOT, 'scripts', 'build-examples.sh'), { encoding: 'utf8' });

describe('sparse-memory protocol extension', () => {
  it('chunks hold every non-zero byte, 8-byte aligned, and load back to the same memory', () => {
    const bytes = new Uint8Array(4096);
    bytes.set([1, 2, 3], 17);
    bytes[4000] = 9;
    bytes[4095] = 7;
    const cs = chunksOf(bytes);
    // 4000 and 4095 are 80 zero bytes apart: two chunks.
    assert.deepEqual(cs.map((c) => c.offset), [16, 4000, 4088]);
    for (const s of kitScenes('x86_64', { sweepLimit: 4 }).slice(0, 12)) {
      const loaded = loadSnapshot(s.snapshot);
      const wire = JSON.parse(JSON.stringify(sparseSnapshot(s.snapshot, loaded)));
      validateMessage('walk', { cmd: 'walk', seq: 1, snapshot: wire }, s.label);
      assert.ok(wire.regions.every((r: { data?: string }) => r.data === undefined));
      const back = loadSnapshot(wire, s.label);
      for (const r of loaded.mem.regions) assert.deepEqual(back.mem.region(r.name).bytes, r.bytes, `${s.label}: ${r.name}`);
    }
  });

  it('chunks out of bounds are named by JSON path', () => {
    const s = kitScenes('arm64', { sweepLimit: 1 })[0]!;
    const wire = JSON.parse(JSON.stringify(sparseSnapshot(s.snapshot, loadSnapshot(s.snapshot))));
    const i = wire.regions.findIndex((r: { chunks?: unknown }) => r.chunks);
    wire.regions[i].chunks = [{ offset: wire.regions[i].size - 4, data: Buffer.alloc(8, 1).toString('base64') }];
    assert.throws(() => loadSnapshot(wire, 'w'), /\$\.regions\[\d+\]\.chunks\[0\]: chunk of 8 bytes at offset \d+ runs past/);
  });

  it('the C example accepts it when offered, and answers every walk as with full data', { skip: build.status === 3 ? 'no C compiler' : false }, async () => {
    const sparse = await startExternalWalker(BIN, { validate: true });
    const full = await startExternalWalker(BIN, { validate: true, extensions: [] });
    try {
      assert.equal(sparse.sparse, true);
      assert.equal(full.sparse, false);
      for (const s of kitScenes('arm64', { sweepLimit: 8 })) {
        const loaded = loadSnapshot(s.snapshot);
        assert.deepEqual(await sparse.walk(s.snapshot, loaded), await full.walk(s.snapshot, loaded), s.label);
      }
    } finally {
      await sparse.close();
      await full.close();
    }
  });

  it('the reference server accepts it; a harness accepting an extension nobody offered is refused', async () => {
    const ref = await startExternalWalker('node -r ./scripts/ts-register.js src/protocol/reference-server.ts --profile x86_64-orc', { cwd: ROOT });
    assert.equal(ref.sparse, true);
    await ref.close();
    const dir = mkdtempSync(join(tmpdir(), 'sparse-'));
    const rogue = join(dir, 'rogue.js');
    writeFileSync(rogue, `require('readline').createInterface({ input: process.stdin }).on('line', (l) => { const r = JSON.parse(l); if (r.cmd === 'start') console.log(JSON.stringify({ version: 1, implementation: { name: 'rogue', arch: 'arm64', unwinder: 'x' }, claims: ${JSON.stringify(builtinProfile('arm64-fp').claims)}, extensions: ['sparse-memory'] })); });`);
    await assert.rejects(startExternalWalker(`node ${rogue}`, { extensions: [] }), /accepts protocol extensions the runner did not offer: sparse-memory/);
  });
});

/** The replay command: one saved snapshot to a harness, its answer printed; bad files named. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, it } from 'node:test';
import { join } from 'path';
import { syntheticScene } from './protocol-fixtures';

const ROOT = join(__dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'replay-'));
const replay = (...args: string[]) =>
  spawnSync(process.execPath, ['-r', './scripts/ts-register.js', 'src/protocol/replay.ts', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
const FAULTY = `node ${join(ROOT, 'examples', 'faulty-trusts-lr', 'unwinder.js')}`;

describe('replay', () => {
  it('prints the implementation, rc and symbolised trace of one walk', () => {
    const s = syntheticScene(42, { irq: 'none', corrupt: false, instrument: false });
    const file = join(dir, 'ok.json');
    writeFileSync(file, JSON.stringify(s.snapshot));
    const r = replay('--unwinder', FAULTY, file);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /implementation: faulty-trusts-lr \(arm64 frame-pointer\)/);
    assert.match(r.stdout, /rc: +0 \(reliable\)/);
    for (const f of s.truth.frames) assert.match(r.stdout, new RegExp(`  ${f.fn.replace(/[$]/g, '\\$&')}(\\+0x[0-9a-f]+)?\\n`));
  });

  it('names the file and JSON path of an invalid snapshot', () => {
    const s = syntheticScene(43);
    const bad = JSON.parse(JSON.stringify(s.snapshot));
    bad.regs.pc = 'not-hex';
    delete bad.finalFrame;
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify(bad));
    const r = replay('--unwinder', FAULTY, file);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /bad\.json is invalid/);
    assert.match(r.stderr, /\$\.regs\.pc/);
    assert.match(r.stderr, /\$\.finalFrame/);
  });

  it('names the JSON path of what the schema cannot check: overlapping regions, dangling region names, data of the wrong size', () => {
    const s = syntheticScene(45);
    const bad = JSON.parse(JSON.stringify(s.snapshot));
    const stack = bad.regions.findIndex((r: { kind: string }) => r.kind === 'task-stack');
    const text = bad.regions.findIndex((r: { kind: string }) => r.kind === 'kernel-text');
    bad.regions.push({ ...bad.regions[text], name: 'overlapping-text' });
    bad.regions[stack].data = Buffer.from([1, 2, 3]).toString('base64');
    bad.stacks.push({ region: 'no-such-region', type: 'irq' });
    bad.stacks.push({ region: bad.regions[text].name, type: 'task' });
    bad.symbols[0].region = 'nowhere';
    const file = join(dir, 'inconsistent.json');
    writeFileSync(file, JSON.stringify(bad));
    const r = replay('--unwinder', FAULTY, file);
    assert.equal(r.status, 2, r.stdout);
    assert.match(r.stderr, /inconsistent\.json is invalid/);
    assert.match(r.stderr, new RegExp(`\\$\\.regions\\[${bad.regions.length - 1}\\]: region overlapping-text overlaps`));
    assert.match(r.stderr, new RegExp(`\\$\\.regions\\[${stack}\\]: region .* 3 bytes for size`));
    assert.match(r.stderr, /\$\.stacks\[\d+\]\.region: no region named no-such-region/);
    assert.match(r.stderr, /\$\.stacks\[\d+\]: a task stack in region .* of kind kernel-text/);
    assert.match(r.stderr, /\$\.symbols\[0\]\.region: no region named nowhere/);
  });

  it('exits 1 and says why when the implementation breaks', () => {
    const s = syntheticScene(44);
    const file = join(dir, 'crash.json');
    writeFileSync(file, JSON.stringify(s.snapshot));
    const r = replay('--unwinder', `MISBEHAVE_ALL=1 node ${join(ROOT, 'examples', 'misbehaving', 'crash.js')}`, file);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /errored: implementation exited with code 139 during walk seq 1/);
    assert.match(r.stdout, /crash\.js: segfault-like death/);
  });
});

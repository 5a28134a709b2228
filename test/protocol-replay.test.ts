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

/**
 * Issue 11, finding 9 (replay): file and JSON-path messages (never a stack trace) for every semantic
 * problem of a snapshot, linear region mapping, prompt signals, range-checked --timeout.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, it } from 'node:test';
import { join } from 'path';
import { hex } from '../src/machine/addr';
import { Memory } from '../src/machine/memory';
import { loadSnapshot } from '../src/snapshot/io';
import { syntheticScene } from './protocol-fixtures';

const ROOT = join(__dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'replay-robust-'));
const replay = (...args: string[]) =>
  spawnSync(process.execPath, ['-r', './scripts/ts-register.js', 'src/protocol/replay.ts', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
const MINIMAL = `node ${join(ROOT, 'examples', 'minimal-js', 'always-unreliable.js')}`;

function badSnapshot(name: string, edit: (s: any) => void): string {
  const s = JSON.parse(JSON.stringify(syntheticScene(47).snapshot));
  edit(s);
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(s));
  return file;
}

function assertClean(r: ReturnType<typeof replay>): void {
  assert.equal(r.status, 2, r.stdout + r.stderr);
  assert.doesNotMatch(r.stderr, /\n\s+at .*\.(ts|js):\d+/, 'no stack trace');
}

describe('replay: semantic checks name the file and the JSON path', () => {
  it('a missing file', () => {
    const r = replay('--unwinder', MINIMAL, join(dir, 'nope.json'));
    assertClean(r);
    assert.match(r.stderr, /nope\.json is invalid:\n  at \$: cannot be read: no such file/);
  });
  it('a folder', () => {
    const r = replay('--unwinder', MINIMAL, dir);
    assertClean(r);
    assert.match(r.stderr, /at \$: cannot be read: is a folder, not a file/);
  });
  it('a duplicate symbol', () => {
    const f = badSnapshot('dup', (s) => s.symbols.push({ ...s.symbols[1], name: s.symbols[0].name }));
    const r = replay('--unwinder', MINIMAL, f);
    assertClean(r);
    assert.match(r.stderr, /dup\.json is invalid/);
    assert.match(r.stderr, /at \$\.symbols\[\d+\]\.name: symbol \S+ is defined twice \(first at \$\.symbols\[0\]\)/);
  });
  it('a symbol outside its region', () => {
    const f = badSnapshot('outside', (s) => {
      const stack = s.regions.find((r: { kind: string }) => r.kind === 'task-stack');
      s.symbols[0].region = stack.name;
    });
    const r = replay('--unwinder', MINIMAL, f);
    assertClean(r);
    assert.match(r.stderr, /at \$\.symbols\[0\]: symbol \S+ \[0x[0-9a-f]+, 0x[0-9a-f]+\) lies outside its region/);
  });
  it('start > end', () => {
    const f = badSnapshot('inverted', (s) => ([s.symbols[0].start, s.symbols[0].end] = [s.symbols[0].end, s.symbols[0].start]));
    const r = replay('--unwinder', MINIMAL, f);
    assertClean(r);
    assert.match(r.stderr, /at \$\.symbols\[0\]: symbol \S+: start 0x[0-9a-f]+ is not below end 0x[0-9a-f]+/);
  });
  it('overlapping symbols', () => {
    const f = badSnapshot('overlap', (s) => s.symbols.push({ ...s.symbols[0], name: 'overlapper' }));
    const r = replay('--unwinder', MINIMAL, f);
    assertClean(r);
    assert.match(r.stderr, /at \$\.symbols\[\d+\]: symbol overlapper overlaps \S+ \(\$\.symbols\[0\]\)/);
  });
  it('--timeout -5 and --timeout above 2^31-1: usage errors (exit 2)', () => {
    for (const t of ['-5', '0', '2147483648', 'abc']) {
      const r = replay('--unwinder', MINIMAL, '--timeout', t, join(dir, 'x.json'));
      assert.equal(r.status, 2, `--timeout ${t}: ${r.stderr}`);
      assert.match(r.stderr, /expected a whole number of milliseconds from 1 to 2147483647/);
    }
  });
});

describe('replay: linear loading and prompt signals', () => {
  it('maps 20,000 regions in well under a second each way (was 89 s)', () => {
    const s = JSON.parse(JSON.stringify(syntheticScene(48).snapshot));
    // Reverse order: the worst case for a sort-on-insert map.
    for (let i = 20_000; i > 0; i--) s.regions.push({ name: `data-${i}`, kind: 'data', base: hex(0x7000_0000_0000 + i * 0x2000), size: 16, data: 'AAAAAAAAAAAAAAAAAAAAAA==' });
    const t0 = performance.now();
    const l = loadSnapshot(s);
    const ms = performance.now() - t0;
    assert.ok(ms < 5000, `loaded in ${ms} ms`);
    assert.equal(l.mem.find(0x7000_0000_0000 + 7 * 0x2000 + 8, 8)?.name, 'data-7');
    // The raw Memory too.
    const m = new Memory();
    const t1 = performance.now();
    for (let i = 20_000; i > 0; i--) m.map({ name: `r${i}`, kind: 'data', base: 0x7000_0000_0000 + i * 0x2000, size: 16 });
    assert.ok(performance.now() - t1 < 5000);
    assert.throws(() => m.map({ name: 'x', kind: 'data', base: 0x7000_0000_0000 + 5 * 0x2000 + 8, size: 16 }), /region x overlaps r5/);
    assert.throws(() => m.map({ name: 'y', kind: 'data', base: 0x7000_0000_0000 + 5 * 0x2000 - 8, size: 16 }), /region y overlaps r5/);
  });

  it('SIGTERM ends a replay waiting on a hung plugin at once, and its plugin with it', async () => {
    const file = join(dir, 'ok.json');
    writeFileSync(file, JSON.stringify(syntheticScene(49).snapshot));
    const log = join(dir, 'hang.log');
    writeFileSync(log, '');
    const child = spawn(process.execPath, ['-r', './scripts/ts-register.js', 'src/protocol/replay.ts', '--unwinder', `MISBEHAVE_ALL=1 node ${join(ROOT, 'examples', 'misbehaving', 'hang.js')} 2>>${log}`, '--timeout', '600000', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const deadline = Date.now() + 60_000;
    await new Promise<void>((r, j) => {
      const t = setInterval(() => {
        if (Date.now() > deadline) (clearInterval(t), child.kill('SIGKILL'), j(new Error('the plugin never got its walk')));
        if (readFileSync(log, 'utf8').includes('spinning forever')) {
          clearInterval(t);
          r();
        }
      }, 20);
    });
    const t0 = Date.now();
    child.kill('SIGTERM');
    const sig = await new Promise<string | null>((r) => child.on('exit', (_c, s) => r(s)));
    assert.equal(sig, 'SIGTERM');
    assert.ok(Date.now() - t0 < 3000, `ended in ${Date.now() - t0} ms`);
  });
});

/**
 * Full 64-bit kernel addresses on the wire: the snapshot and the protocol carry canonical kernel
 * virtual addresses, any 64-bit value an unwinder sends back is kept exactly, and a non-canonical
 * value is never taken for a mapped address.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, test } from 'node:test';
import { join } from 'path';
import { fromU64, hex, isCanonical, toU64, unhex } from '../src/machine/addr';
import { Memory } from '../src/machine/memory';
import { judge } from '../src/oracle/oracle';
import { startExternalWalker, type ExternalWalker } from '../src/protocol/external-walker';
import { kitFor } from '../src/scene/index';
import { loadSnapshot } from '../src/snapshot/io';
import { tinySnapshot } from './fixtures/tiny-snapshot';

const WORDS = ['0x0', '0x400100', '0x4141414141', '0xffff800080010000', '0xffffffff81000000', '0xffffffffffffffff', '0x0000ffff80010000', '0x1000000000000', '0xdeadbeefdeadbeef', '0x8000000000000000'];

test('every 64-bit word round-trips exactly through the internal form and through memory', () => {
  const mem = new Memory();
  mem.map({ name: 's', kind: 'task-stack', base: 0x800080100000, size: 0x1000 });
  for (const w of WORDS) {
    const n = unhex(w);
    assert.equal(toU64(n), BigInt(w), w);
    assert.equal(BigInt(hex(n)), BigInt(w), w);
    mem.write64(0x800080100008, n);
    assert.equal(mem.region('s').view.getBigUint64(8, true), BigInt(w), `${w} stored as the real 64-bit word`);
    assert.equal(mem.read64(0x800080100008), n, `${w} read back`);
  }
});

test('an internal kernel address is stored sign-extended, and a non-canonical word is never a mapped address', () => {
  const mem = new Memory();
  mem.map({ name: 's', kind: 'task-stack', base: 0x800080100000, size: 0x1000 });
  mem.write64(0x800080100000, 0x800080100010);
  assert.equal(mem.region('s').view.getBigUint64(0, true), 0xffff800080100010n);
  // The same low 48 bits without the sign extension: corruption, not the stack address.
  mem.region('s').view.setBigUint64(0, 0x0000800080100010n, true);
  const v = mem.read64(0x800080100000);
  assert.notEqual(v, 0x800080100010);
  assert.equal(mem.find(v, 8), undefined);
  assert.equal(hex(v), '0x800080100010');
  assert.equal(isCanonical(0x0000800080100010n), false);
  assert.equal(fromU64(0xffff800080100010n), 0x800080100010);
});

test('snapshots carry canonical kernel virtual addresses: arm64 0xffff8000_8xxxxxxx, x86_64 0xffffffff_8xxxxxxx', () => {
  const want = { arm64: /^0xffff80008[0-9a-f]{7}$/, x86_64: /^0xffffffff8[0-9a-f]{7}$/ };
  for (const arch of ['arm64', 'x86_64'] as const) {
    const scene = kitFor(arch).buildScene({ workload: 'syscall-sleep', moment: { kind: 'blocked' } });
    const s = scene.snapshot;
    const text = s.regions.find((r) => r.kind === 'kernel-text')!;
    assert.match(text.base, want[arch]);
    const pc = s.regs[arch === 'arm64' ? 'pc' : 'rip']!;
    assert.match(pc, want[arch], `${arch} pc ${pc}`);
    for (const sym of s.symbols.filter((x) => x.region === text.name)) assert.match(sym.start, want[arch], sym.name);
    // A saved return address in stack memory is the same 64-bit word as the symbol address.
    const loaded = loadSnapshot(s);
    const stack = loaded.mem.region(s.stacks[0]!.region);
    const words = new Set<bigint>();
    for (let o = 0; o < stack.size; o += 8) words.add(stack.view.getBigUint64(o, true));
    const schedule = s.symbols.find((x) => x.name === 'schedule')!;
    const inSchedule = [...words].filter((w) => w >= BigInt(schedule.start) && w < BigInt(schedule.end));
    assert.ok(inSchedule.length > 0, `${arch}: a return address into schedule() is stored as a 64-bit kernel address`);
  }
});

/** A plugin that answers from a script of canned answers. */
const PLUGIN = `'use strict';
const answers = JSON.parse(process.env.ANSWERS);
const send = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
require('readline').createInterface({ input: process.stdin }).on('line', (line) => {
  const req = JSON.parse(line);
  if (req.cmd === 'start') send({ version: 1, implementation: { name: 'canned', arch: 'arm64', unwinder: 'test-plugin' },
    claims: { unwindsAcrossIrq: false, unwindsAcrossNmi: false, identifiesReliableExceptionUnwind: false, recoversFgraphReturns: false,
      recoversKretprobeReturns: false, unwindsInsideReturnToHandler: false, usesCompileTimeAnalysis: true, usesUnwindMetadata: false, checksTermination: false } });
  else if (req.cmd === 'walk') {
    // Echo the pc the plugin was sent, so the test sees what the wire carried.
    const a = answers[(req.seq - 1) % answers.length];
    send({ seq: req.seq, ...a, reason: (a.reason || '') + ' pc=' + req.snapshot.regs.pc });
  } else if (req.cmd === 'stop') process.exit(0);
});
`;

const walkers: ExternalWalker[] = [];
after(async () => {
  for (const w of walkers) await w.close();
});

test('protocol: a failed walk whose partial trace ends in a corrupt 64-bit value is correctly-unreliable, not errored', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rst-64-'));
  writeFileSync(join(dir, 'plugin.js'), PLUGIN);
  const answers = [
    { rc: -22, trace: ['0xffff800080001010', '0xdeadbeefdeadbeef'], reason: 'kunwind_next_frame_record: fp 0xdeadbeefdeadbeef is misaligned' },
    // rc 0 with a non-canonical look-alike of do_nanosleep's address: a spurious entry, not do_nanosleep.
    { rc: 0, trace: ['0xffff800080001010', '0x0000800080001110'] },
    { rc: 0, trace: ['0xffff800080001010', '0xffff800080001110'], accesses: [{ addr: '0x0000800080103e00', size: 8 }] },
  ];
  const w = await startExternalWalker(`ANSWERS='${JSON.stringify(answers)}' node ${join(dir, 'plugin.js')}`, { timeoutMs: 5000, validate: true });
  walkers.push(w);
  const snap = tinySnapshot('test/64bit');
  const loaded = loadSnapshot(snap);
  const truth = { frames: [{ fn: 'schedule', addr: 0x800080001010, why: 'pc' as const }, { fn: 'do_nanosleep', addr: 0x800080001110, why: 'call' as const }] };

  const failed = await w.walk(snap, loaded);
  assert.equal(failed.error, undefined, failed.error);
  assert.match(failed.result!.reason!, /pc=0xffff800080001010$/, 'the plugin was sent the canonical pc');
  assert.equal(hex(failed.result!.trace[1]!), '0xdeadbeefdeadbeef', 'the corrupt value is kept exactly');
  assert.equal(judge(loaded, truth, failed).outcome, 'correctly-unreliable');

  const spurious = await w.walk(snap, loaded);
  assert.equal(spurious.error, undefined, spurious.error);
  const j = judge(loaded, truth, spurious);
  assert.equal(j.outcome, 'unsafe', `${j.outcome}: ${j.explanation}`);
  assert.match(j.explanation, /do_nanosleep/);

  const noncanonRead = await w.walk(snap, loaded);
  assert.equal(noncanonRead.accesses![0]!.region, null, 'a non-canonical read address maps nothing');
  assert.equal(judge(loaded, truth, noncanonRead).outcome, 'faulted');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Memory } from '../src/machine/memory';
import { SymbolTable } from '../src/machine/symbols';
import { judge } from '../src/oracle/oracle';
import { ShadowStack } from '../src/truth/shadow';
import { loadSnapshot } from '../src/snapshot/io';
import { handWorld } from './fixtures/hand-world';

// A tiny hand-built world: three functions, a return trampoline, one task stack, another task's stack.
const syms = new SymbolTable([
  { name: 'entry', start: 0x1000, end: 0x1100, kind: 'code', region: 'text', entry: true },
  { name: 'outer', start: 0x1100, end: 0x1200, kind: 'func', region: 'text' },
  { name: 'inner', start: 0x1200, end: 0x1300, kind: 'func', region: 'text' },
  { name: 'return_to_handler', start: 0x1300, end: 0x1340, kind: 'return-trampoline', region: 'text' },
]);
function world() {
  return handWorld({ id: 'hand/1', syms, regs: { rip: 0x1210 }, otherTaskStack: true });
}

/** entry calls outer calls inner; the task is at inner+0x10. */
function truth() {
  const sh = new ShadowStack(syms);
  sh.call(0x1010, 0x1015);
  sh.call(0x1110, 0x1115);
  return sh.truth(0x1210);
}

test('the shadow stack names every live function innermost first', () => {
  assert.deepEqual(
    truth().frames.map((f) => f.fn),
    ['inner', 'outer', 'entry'],
  );
});

test('a RET into a return trampoline keeps the redirected caller live and omissible only the trampoline', () => {
  const sh = new ShadowStack(syms);
  sh.call(0x1010, 0x1015); // entry -> outer
  sh.call(0x1110, 0x1115); // outer -> inner
  sh.transfer(0x1300, 'ret'); // inner returns into return_to_handler
  const t = sh.truth(0x1304);
  assert.deepEqual(t.frames.map((f) => [f.fn, !!f.omissible]), [
    ['return_to_handler', true],
    ['outer', false],
    // Kernel entry code at the base of the stack: never patched, a walk that verified its end may leave it out.
    ['entry', true],
  ]);
  sh.transfer(0x1115, 'jump'); // JMP_NOSPEC to the original return address
  assert.deepEqual(sh.truth(0x1115).frames.map((f) => f.fn), ['outer', 'entry']);
});

test('a return that matches no live frame is a machine error, not silently accepted', () => {
  const sh = new ShadowStack(syms);
  sh.call(0x1010, 0x1015);
  assert.throws(() => sh.transfer(0x1120, 'ret'), /does not match/);
});

test('an exception entry is live until the exception return to the interrupted pc; an exception return elsewhere is an error', () => {
  const sh = new ShadowStack(syms);
  sh.call(0x1010, 0x1015); // entry -> outer
  sh.exception('irq', 0x1120); // interrupted in outer
  sh.call(0x1210, 0x1215); // the handler (inner) calls on
  assert.deepEqual(sh.truth(0x1220).frames.map((f) => [f.fn, f.why]), [
    ['inner', 'pc'],
    ['inner', 'call'],
    ['outer', 'exception'],
    ['entry', 'call'],
  ]);
  sh.transfer(0x1215, 'ret');
  assert.throws(() => sh.clone().transfer(0x1124, 'eret'), /exception return/);
  sh.transfer(0x1120, 'eret');
  assert.deepEqual(sh.truth(0x1120).frames.map((f) => f.fn), ['outer', 'entry']);
});

const walk = (rc: number, trace: number[], accesses = []) => ({ result: { rc, trace }, accesses });

test('oracle: the exact chain with rc 0 is sound', () => {
  assert.equal(judge(world(), truth(), walk(0, [0x1210, 0x1115, 0x1015])).outcome, 'sound-reliable');
});

test('oracle: rc != 0 is correctly unreliable whatever the trace', () => {
  assert.equal(judge(world(), truth(), walk(-22, [0x1210])).outcome, 'correctly-unreliable');
});

test('oracle: a missing live function with rc 0 is unsafe and named', () => {
  const j = judge(world(), truth(), walk(0, [0x1210, 0x1015]));
  assert.equal(j.outcome, 'unsafe');
  assert.deepEqual(j.missing.map((f) => f.fn), ['outer']);
  assert.match(j.explanation, /outer/);
});

test('oracle: a duplicated function is imprecise, an inverted pair is reported', () => {
  const dup = judge(world(), truth(), walk(0, [0x1210, 0x1210, 0x1115, 0x1015]));
  assert.equal(dup.outcome, 'imprecise');
  assert.deepEqual(dup.extra.map((e) => [e.fn, e.problem]), [['inner', 'duplicated']]);
  const inv = judge(world(), truth(), walk(0, [0x1115, 0x1210, 0x1015]));
  assert.equal(inv.outcome, 'imprecise');
  assert.deepEqual(inv.inverted, [['outer', 'inner']]);
});

test('oracle: only omissible frames may be left out', () => {
  const sh = new ShadowStack(syms);
  sh.call(0x1010, 0x1015);
  sh.call(0x1110, 0x1115);
  sh.transfer(0x1300, 'ret');
  const t = sh.truth(0x1304);
  assert.equal(judge(world(), t, walk(0, [0x1115, 0x1015])).outcome, 'sound-reliable');
  assert.equal(judge(world(), t, walk(0, [0x1304, 0x1115, 0x1015])).outcome, 'sound-reliable');
  assert.equal(judge(world(), t, walk(0, [0x1304, 0x1015])).outcome, 'unsafe');
});

test('oracle: reading unmapped memory or another task stack is faulted, even with rc != 0', () => {
  const snap = world();
  const un = judge(snap, truth(), { result: { rc: -22, trace: [] }, accesses: [{ addr: 0x90000, size: 8, write: false, region: null }] });
  assert.equal(un.outcome, 'faulted');
  const other = judge(snap, truth(), { result: { rc: -22, trace: [] }, accesses: [{ addr: 0x20010, size: 8, write: false, region: 'other' }] });
  assert.equal(other.outcome, 'faulted');
  assert.match(other.explanation, /not an accessible stack/);
});

test('oracle: runaway and errored walks are reported as such', () => {
  assert.equal(judge(world(), truth(), { runaway: 'budget' }).outcome, 'runaway');
  assert.equal(judge(world(), truth(), { error: 'crashed' }).outcome, 'errored');
});

test('snapshot: a broken snapshot gives an ajv error naming the JSON path', () => {
  const good = JSON.parse(JSON.stringify(world().json));
  good.symbols[1].kind = 'function';
  good.regs.rip = 'nope';
  assert.throws(
    () => loadSnapshot(good, 'broken.json'),
    (e: Error) => /broken\.json/.test(e.message) && /\$\.symbols\[1\]\.kind/.test(e.message) && /\$\.regs\.rip/.test(e.message),
  );
});

test('memory: reads outside every region are recorded faults, not exceptions', () => {
  const mem = new Memory();
  mem.map({ name: 's', kind: 'task-stack', base: 0x1000, size: 0x100 });
  mem.write64(0x1008, 0x123456789abc);
  assert.equal(mem.read64(0x1008), 0x123456789abc);
  assert.equal(mem.read64(0x10fc), 0); // straddles the end
  assert.equal(mem.faults.length, 1);
  mem.write64(0x1010, -1); // pushq $-1: two's complement, not 0
  assert.equal(mem.read64(0x1010), 2 ** 48 - 1); // the canonical word 0xffff_ffff_ffff_ffff, held as its low 48 bits
  assert.equal(mem.region('s').view.getBigUint64(0x10, true), 2n ** 64n - 1n);
});

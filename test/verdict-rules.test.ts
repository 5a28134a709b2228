/**
 * The verdict rules of issue 9, each reproduced on a real scene: an imprecise trace never stands for a
 * reliable one, a claim selects a rule but never hides a mistake, nothing observed is never a pass,
 * "when able" is judged walk by walk, and corrupted returns are judged against where the task would go.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadCatalogue, applicability } from '../src/catalogue/catalogue';
import { ConformanceFailure, ConformanceSession } from '../src/conformance/session';
import { judge } from '../src/oracle/oracle';
import { buildConformance } from '../src/report/verdict';
import { kitFor } from '../src/scene';
import { loadSnapshot } from '../src/snapshot/io';
import { builtinProfile } from '../src/unwinders/profiles';
import type { Profile } from '../src/unwinders/types';
import { InProcessWalker, type Walker } from '../src/unwinders/walker';

const meta = (tags: string[]) => ({ name: 'a scenario', uri: 'features/x/y.feature', tags });

/** A walker that runs the reference unwinder of `profile`, then changes its answer. */
function patched(profile: Profile, edit: (trace: number[], rc: number) => { rc: number; trace: number[] }, dropAccesses = false): Walker {
  const ref = new InProcessWalker(profile);
  return {
    profile,
    walk: async (snap, loaded) => {
      const r = await ref.walk(snap, loaded);
      const out = r.result ? edit(r.result.trace, r.result.rc) : undefined;
      return { ...(out ? { result: out } : {}), ...(dropAccesses ? {} : { accesses: r.accesses ?? [] }) };
    },
    close: async () => {},
  };
}

test('a claim of identification selects the exact rule at an LR boundary: a duplicate there fails the MUST', async () => {
  const meta64 = builtinProfile('arm64-meta');
  const dup = patched(meta64, (t, rc) => (rc === 0 && t.length ? { rc, trace: [t[0]!, ...t] } : { rc, trace: t }));
  const s = new ConformanceSession({ profile: meta64 }, meta(['@req:lr-reject-unless-identifiable', '@id:lr-dup']), dup);
  assert.equal(s.notApplicableReason(), undefined, 'the MUST applies to a profile that claims identification');
  s.useWorkload('spec-function');
  s.exceptionBefore('irq', 'BL <other_function>', 'function');
  await s.requestFromHandler();
  assert.throws(() => s.expectRejectedUnlessIdentified(), (e: unknown) => e instanceof ConformanceFailure && /got imprecise: .*duplicated/.test(e.message));
  // The reference itself identifies the case: it meets the rule.
  const ok = new ConformanceSession({ profile: meta64 }, meta(['@req:lr-reject-unless-identifiable', '@id:lr-ok']));
  ok.useWorkload('spec-function');
  ok.exceptionBefore('irq', 'BL <other_function>', 'function');
  await ok.requestFromHandler();
  ok.expectRejectedUnlessIdentified();
  assert.equal(ok.result('PASSED', undefined).status, 'passed');
  // Without the claim the same walk must be rejected outright.
  const fp = builtinProfile('arm64-fp');
  const trusting = patched(fp, (t) => ({ rc: 0, trace: t }));
  const f = new ConformanceSession({ profile: fp }, meta(['@req:lr-reject-unless-identifiable', '@id:lr-fp']), trusting);
  f.useWorkload('spec-function');
  f.exceptionBefore('irq', 'BL <other_function>', 'function');
  await f.requestFromHandler();
  assert.throws(() => f.expectRejectedUnlessIdentified(), ConformanceFailure);
});

test('an imprecise trace never satisfies "the trace is reliable"', async () => {
  const orc = builtinProfile('x86_64-orc');
  const dup = patched(orc, (t, rc) => (rc === 0 && t.length ? { rc, trace: [t[0]!, ...t] } : { rc, trace: t }));
  const s = new ConformanceSession({ profile: orc }, meta(['@req:unwind-exceptions-when-identifiable', '@id:imprecise']), dup);
  s.useWorkload('work-chain');
  s.exceptionIn('irq', 'body', 'work_b');
  await s.requestFromHandler();
  assert.throws(() => s.expect('reliable'), /got imprecise/);
});

test('memory safety with no reported accesses is not run, never passed, and the verdict is incomplete', async () => {
  const fp = builtinProfile('x86_64-fp');
  const silent = patched(fp, (t, rc) => ({ rc, trace: t }), true);
  const s = new ConformanceSession({ profile: fp }, meta(['@req:walk-memory-safe', '@must', '@id:silent']), silent);
  s.useWorkload('syscall-sleep');
  s.corrupt('frame-pointer-unmapped');
  await s.requestForTask();
  s.expect('memory-safe');
  const r = s.result('PASSED', undefined);
  assert.equal(r.status, 'not-run');
  assert.match(r.message!, /reported none of the memory accesses/);
  const c = buildConformance({ profile: { ...fp, name: 'silent', reference: false }, requirements: loadCatalogue().filter((q) => q.id === 'walk-memory-safe'), results: [r], applies: applicability });
  assert.equal(c.requirements[0]!.outcome, 'not-run');
  assert.equal(c.verdict, 'incomplete');
});

test('a scenario whose steps checked nothing is not run (the reliable share alone asserts nothing)', async () => {
  const orc = builtinProfile('x86_64-orc');
  const s = new ConformanceSession({ profile: orc }, meta(['@req:exception-walks-sound', '@id:share-only']));
  s.useWorkload('work-chain');
  s.everyBoundary('irq', ['work_c']);
  await s.requestFromHandler();
  s.recordShare();
  assert.equal(s.result('PASSED', undefined).status, 'not-run');
});

test('a reliable trace must end where the chain ends, whatever else is wrong with it', async () => {
  const fp = builtinProfile('x86_64-fp');
  // rc 0 with an extra entry past the end: imprecise, and it does not end in the entry code.
  const extra = patched(fp, (t, rc) => (rc === 0 ? { rc, trace: [...t, t[0]!] } : { rc, trace: t }));
  const s = new ConformanceSession({ profile: fp }, meta(['@req:termination-verified', '@id:ends']), extra);
  s.useWorkload('kthread-sleep');
  await s.requestForTask();
  assert.throws(() => s.expectEndsAtEntry(), /the reliable trace ends in/); // x86_64: ret_from_fork_asm
});

test('"when able" is judged walk by walk: rejecting all but a few unwindable boundaries fails; the reference meets it', async () => {
  const orc = builtinProfile('x86_64-orc');
  const tags = ['@req:unwind-exceptions-when-identifiable', '@id:able'];
  const run = async (walker?: Walker) => {
    const s = new ConformanceSession({ profile: orc }, meta(tags), walker);
    s.useWorkload('work-chain');
    s.everyBoundary('irq');
    await s.requestFromHandler();
    return s;
  };
  (await run()).expectUnwindableWalksReliable();
  // Unwinds only when the IRQ hit work_c: still sound, rarely useful.
  const ref = new InProcessWalker(orc);
  const picky: Walker = {
    profile: orc,
    walk: async (snap, loaded) => {
      const r = await ref.walk(snap, loaded);
      return loaded.syms.lookup(loaded.regs['rip']!)?.name === 'work_c' ? r : { result: { rc: -22, trace: [] }, accesses: r.accesses ?? [] };
    },
    close: async () => {},
  };
  const s = await run(picky);
  assert.throws(() => s.expectUnwindableWalksReliable(), /unwindable walks were reliable .* the catalogue asks at least 90%/);
});

test('a corrupted return address reported faithfully is undetected corruption; skipping intact frames is unsafe', () => {
  for (const arch of ['arm64', 'x86_64'] as const) {
    const scene = kitFor(arch).buildScene({ workload: 'syscall-sleep', moment: { kind: 'blocked' }, corrupt: 'return-address-garbage' });
    assert.ok(scene.truth.redirected?.length, `${arch}: the corruption redirected a return`);
    const loaded = loadSnapshot(scene.snapshot);
    const { index, addr } = scene.truth.redirected![0]!;
    const real = scene.truth.frames.map((f, i) => (i === index ? addr : f.addr));
    const faithful = judge(loaded, scene.truth, { result: { rc: 0, trace: real }, accesses: [] });
    assert.equal(faithful.outcome, 'undetected-corruption', `${arch}: ${faithful.explanation}`);
    const stopped = judge(loaded, scene.truth, { result: { rc: 0, trace: real.slice(0, index + 1) }, accesses: [] });
    assert.equal(stopped.outcome, 'unsafe', `${arch}: ${stopped.explanation}`);
  }
});

test('reading mapped kernel text is safe; another task\'s stack and unmapped memory are not', () => {
  const scene = kitFor('x86_64').buildScene({ workload: 'syscall-sleep', moment: { kind: 'blocked' } });
  const loaded = loadSnapshot(scene.snapshot);
  const text = loaded.mem.regions.find((r) => r.kind === 'kernel-text')!;
  const other = loaded.mem.regions.find((r) => r.kind === 'task-stack' && !loaded.stacks.some((s) => s.region === r.name))!;
  const walk = (region: string | null, addr: number) => judge(loaded, scene.truth, { result: { rc: -22, trace: [] }, accesses: [{ addr, size: 8, write: false, region }] });
  assert.equal(walk(text.name, text.base).outcome, 'correctly-unreliable');
  assert.equal(walk(other.name, other.base).outcome, 'faulted');
  assert.equal(walk(null, 0x10).outcome, 'faulted');
});

test('the identification claim covers only the exceptions a profile unwinds: an NMI walk without the NMI claim must be rejected', async () => {
  const meta64 = builtinProfile('arm64-meta');
  assert.equal(meta64.claims.unwindsAcrossNmi, false, 'arm64-meta rejects NMIs by policy');
  const nmiWalk = async (walker?: Walker) => {
    const s = new ConformanceSession({ profile: meta64 }, meta(['@req:reject-exceptions-when-unidentifiable', '@id:nmi']), walker);
    s.useWorkload('work-chain');
    s.exceptionIn('nmi', 'body', 'work_b');
    await s.requestFromHandler();
    return s;
  };
  // The reference rejects the NMI: it meets the rule.
  const ok = await nmiWalk();
  ok.expectRejectedUnlessIdentified();
  assert.equal(ok.result('PASSED', undefined).status, 'passed');
  // arm64-meta-nmi's exact trace across that NMI, answered for a profile that said it cannot tell, breaks it.
  const nmiMeta = builtinProfile('arm64-meta-nmi');
  const nmiRef = new InProcessWalker(nmiMeta);
  const liar = await nmiWalk({ profile: meta64, walk: (snap, loaded) => nmiRef.walk(snap, loaded), close: async () => {} });
  assert.throws(() => liar.expectRejectedUnlessIdentified(), (e: unknown) => e instanceof ConformanceFailure && /expected the walk reported unreliable \(rc != 0\), got sound-reliable/.test(e.message));
  // With the NMI claim the same exact trace meets the rule.
  const claims = new ConformanceSession({ profile: nmiMeta }, meta(['@req:reject-exceptions-when-unidentifiable', '@id:nmi-claimed']));
  claims.useWorkload('work-chain');
  claims.exceptionIn('nmi', 'body', 'work_b');
  await claims.requestFromHandler();
  claims.expectRejectedUnlessIdentified();
  assert.equal(claims.result('PASSED', undefined).status, 'passed');
});

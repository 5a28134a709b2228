/**
 * Issue 9's bug classes that no scene reached: for each, a small faulty walker (a reference unwinder
 * patched to have the bug) is judged NOT conformant on the requirement the new scene tests, while the
 * reference unwinders meet it. Each case runs the scenario's steps through a ConformanceSession, as the
 * feature does.
 */
import assert from 'node:assert/strict';
import type { GroundTruth } from '../src/truth/shadow';
import { test } from 'node:test';
import { ConformanceFailure, ConformanceSession } from '../src/conformance/session';
import type { Rule } from '../src/conformance/expect';
import { loadSnapshot, unhex, type LoadedSnapshot } from '../src/snapshot/io';
import type { Snapshot } from '../src/snapshot/types';
import { builtinProfile } from '../src/unwinders/profiles';
import type { Profile } from '../src/unwinders/types';
import { InProcessWalker, type Walker } from '../src/unwinders/walker';
import { accessibleStack, kernelTextAddress } from '../src/unwinders/common';
import { walkInProcess } from '../src/unwinders/registry';
import type { Unwinder, WalkResult } from '../src/unwinders/types';

const REFERENCE: Record<'arm64' | 'x86_64', string[]> = { arm64: ['arm64-fp', 'arm64-meta', 'arm64-meta-nmi'], x86_64: ['x86_64-fp', 'x86_64-orc'] };

const meta = (req: string, id: string, extra: string[] = []) => ({ name: id, uri: 'features/x.feature', tags: [`@req:${req}`, `@id:${id}`, ...extra] });

/** A walker built from the reference of `profile` whose walk may be rewritten from the snapshot it gets. */
function faulty(profile: Profile, walk: (ref: InProcessWalker, snap: Snapshot, loaded: LoadedSnapshot) => ReturnType<Walker['walk']>): Walker {
  const ref = new InProcessWalker(profile);
  return { profile, walk: (snap, loaded) => walk(ref, snap, loaded), close: async () => {} };
}

type Steps = (s: ConformanceSession) => void;

/** Run one scenario (its Given steps, a walk, its rule) with `walker`; undefined when it passes, else the failure. */
async function scenario(profile: Profile, req: string, given: Steps, when: 'task' | 'handler', rule: Rule | ((s: ConformanceSession) => void), walker?: Walker): Promise<string | undefined> {
  const s = new ConformanceSession({ profile }, meta(req, 'bug-class'), walker);
  assert.equal(s.notApplicableReason(), undefined, `${req} applies to ${profile.name}`);
  given(s);
  if (when === 'task') await s.requestForTask();
  else await s.requestFromHandler();
  try {
    if (typeof rule === 'string') s.expect(rule);
    else rule(s);
  } catch (e) {
    if (e instanceof ConformanceFailure) return e.message;
    throw e;
  }
  assert.equal(s.result('PASSED', undefined).status, 'passed', 'the scenario observed something');
  return undefined;
}

/** The reference unwinders of `arch` meet the scenario; the faulty walker (of the first reference profile that has the bug's shape) fails it. */
async function catches(arch: 'arm64' | 'x86_64', req: string, given: Steps, when: 'task' | 'handler', rule: Rule | ((s: ConformanceSession) => void), bug: (p: Profile) => Walker, expect: RegExp, on = REFERENCE[arch]) {
  for (const name of REFERENCE[arch]) {
    const msg = await scenario(builtinProfile(name), req, given, when, rule);
    assert.equal(msg, undefined, `reference ${name} fails ${req}: ${msg}`);
  }
  for (const name of on) {
    const p = builtinProfile(name);
    const msg = await scenario(p, req, given, when, rule, bug(p));
    assert.ok(msg, `the faulty walker (${name}) passes ${req}`);
    assert.match(msg, expect, `${name}: ${msg}`);
  }
}

// ------------------------------------------------------------------ 1. unrecoverable rewritten returns

/**
 * The bug: when the original return address behind a return trampoline cannot be found (no state,
 * no entry, a key that matches no slot), the walker reports the trampoline's address as an ordinary
 * return address and carries on. Modelled by walking a copy of the snapshot in which the reference no
 * longer recognises the trampolines, whenever its own recovery failed. With `skip`, it drops the entry.
 */
function carriesOnPastTrampoline(profile: Profile, skip = false): Walker {
  return faulty(profile, async (ref, snap, loaded) => {
    const r = await ref.walk(snap, loaded);
    if (!r.result || r.result.rc === 0 || !/ret_stack|kretprobe/.test(r.result.reason ?? '')) return r;
    const blind: Snapshot = { ...snap, symbols: snap.symbols.map((s) => (s.kind === 'return-trampoline' ? { ...s, name: `${s.name}.unrecognised` } : s)) };
    const again = await ref.walk(blind, loadSnapshot(blind));
    if (!again.result) return again;
    const tramp = new Set(snap.symbols.filter((s) => s.kind === 'return-trampoline').map((s) => unhex(s.start)));
    const trace = skip ? again.result.trace.filter((a) => !tramp.has(a)) : again.result.trace;
    return { ...again, result: { rc: again.result.rc, trace } };
  });
}

/** The bug, for an unwinder that cannot go on without the original address: it takes the trampoline as the end of the stack (rc 0 with the trace so far). */
function endsAtTrampoline(profile: Profile): Walker {
  return faulty(profile, async (ref, snap, loaded) => {
    const r = await ref.walk(snap, loaded);
    if (!r.result || r.result.rc === 0 || !/ret_stack|kretprobe/.test(r.result.reason ?? '')) return r;
    return { ...r, result: { rc: 0, trace: r.result.trace } };
  });
}

const FP: Record<'arm64' | 'x86_64', string[]> = { arm64: ['arm64-fp'], x86_64: ['x86_64-fp'] };
const CROSSING: Record<'arm64' | 'x86_64', string[]> = { arm64: ['arm64-meta', 'arm64-meta-nmi'], x86_64: ['x86_64-orc'] };

const RR = 'rewritten-return-unreliable-unless-recovered';
const blockedTraced = (kind: 'fgraph' | 'kretprobe', c: Parameters<ConformanceSession['corrupt']>[0]): Steps => (s) => {
  s.useWorkload('syscall-sleep');
  s.trace(kind, 'do_nanosleep');
  s.corrupt(c);
};
const irqTraced = (kind: 'fgraph' | 'kretprobe', c: Parameters<ConformanceSession['corrupt']>[0]): Steps => (s) => {
  s.useWorkload('work-chain');
  s.trace(kind, 'work_b');
  s.exceptionIn('irq', 'body', 'work_c');
  s.corrupt(c);
};

for (const arch of ['arm64', 'x86_64'] as const) {
  for (const c of ['fgraph-ret-stack-missing', 'fgraph-ret-stack-empty', 'fgraph-ret-stack-wrong-key', 'kretprobe-instances-empty', 'kretprobe-instance-wrong-key'] as const) {
    const kind = c.startsWith('fgraph') ? 'fgraph' : 'kretprobe';
    test(`${arch}: ${c} below a blocked task: skipping the trampoline omits the caller (${RR}); reporting it and carrying on is undetected corruption`, async () => {
      // The lost entry is where the caller's return address was kept: the task goes no further than the
      // trampoline, which the kernels' own unwinders report as is. Faithful, not safe: a SHOULD fails.
      await catches(arch, 'corruption-detected-nonzero', blockedTraced(kind, c), 'task', 'reported-unreliable', (p) => carriesOnPastTrampoline(p), /got undetected-corruption/, FP[arch]);
      await catches(arch, RR, blockedTraced(kind, c), 'task', 'complete-or-unreliable', (p) => carriesOnPastTrampoline(p, true), /got unsafe: reliable trace omits live function\(s\): sys_sleep/, FP[arch]);
      await catches(arch, RR, blockedTraced(kind, c), 'task', 'complete-or-unreliable', endsAtTrampoline, /got unsafe: reliable trace omits live function\(s\): sys_sleep/, CROSSING[arch]);
    });
  }
  for (const c of ['fgraph-ret-stack-missing', 'kretprobe-instances-empty'] as const) {
    const kind = c.startsWith('fgraph') ? 'fgraph' : 'kretprobe';
    // Only an unwinder that crosses the IRQ reaches the trampoline from the handler.
    test(`${arch}: ${c} under an IRQ, walked from the handler (${RR})`, async () => {
      await catches(arch, RR, irqTraced(kind, c), 'handler', 'complete-or-unreliable', endsAtTrampoline, /got unsafe: reliable trace omits live function\(s\): work_a/, CROSSING[arch]);
    });
  }
}

// ------------------------------------------------------------------ 3. a final frame met before the end of the stack

/** The bug: any FINAL record (arm64) or user-mode pt_regs (x86_64) ends the walk with success, wherever it lies. */
function endsAtAnyFinalRecord(profile: Profile): Walker {
  return faulty(profile, async (ref, snap, loaded) => {
    const r = await ref.walk(snap, loaded);
    if (!r.result || r.result.rc === 0 || !/FINAL record at .* is not task_pt_regs|user-mode pt_regs at .* are not task_pt_regs/.test(r.result.reason ?? '')) return r;
    return { ...r, result: { rc: 0, trace: r.result.trace } };
  });
}

const staleFinal =
  (depth?: number): Steps =>
  (s) => {
    s.useWorkload('regs-copy-sleep');
    s.corrupt('frame-pointer-to-stale-final');
    if (depth) s.corruptDepth(depth);
  };

for (const arch of ['arm64', 'x86_64'] as const) {
  // x86_64 ORC never takes the encoded link for a frame pointer: it fails on the CFA the link gives.
  const on = arch === 'arm64' ? REFERENCE.arm64 : FP.x86_64;
  test(`${arch}: a link to a stale user-mode pt_regs mid-stack taken as the end omits the outer frames`, async () => {
    await catches(arch, 'early-termination-not-reliable', staleFinal(), 'task', 'complete-or-unreliable', endsAtAnyFinalRecord, /got unsafe: reliable trace omits live function\(s\): regscopy_fn/, on);
    await catches(arch, 'early-termination-not-reliable', staleFinal(2), 'task', 'complete-or-unreliable', endsAtAnyFinalRecord, /got unsafe: reliable trace omits live function\(s\): sys_regscopy/, on);
    await catches(arch, 'termination-verified', staleFinal(), 'task', 'reported-unreliable', endsAtAnyFinalRecord, /got unsafe/, on);
    await catches(arch, 'termination-at-fixed-location', staleFinal(2), 'task', 'complete-or-unreliable', endsAtAnyFinalRecord, /got unsafe/, on);
  });
}

// ------------------------------------------------------------------ 5. corruption deeper than the innermost frame record

/**
 * A plain frame-pointer walker that checks each pc is kernel text and each record is aligned and on
 * the task's stacks, but (with `innermostOnly`) only for the first record it leaves: the bug that only
 * corruption deeper in the chain exposes.
 */
function naiveFp(arch: 'arm64' | 'x86_64', innermostOnly: boolean): Unwinder {
  return {
    name: `naive-${arch}${innermostOnly ? '-innermost-only' : ''}`,
    walk: ({ snap, mem }): WalkResult => {
      const x86 = arch === 'x86_64';
      let pc = snap.regs[x86 ? 'rip' : 'pc']!;
      let fp = snap.regs[x86 ? 'rbp' : 'x29']!;
      const last = x86 ? snap.ptRegs - 16 : snap.finalFrame;
      const trace: number[] = [];
      for (let n = 0; n < 64; n++) {
        if (!innermostOnly || n <= 1) {
          if (!kernelTextAddress(snap, pc)) return { rc: -22, trace, reason: 'not kernel text' };
          if (fp % (x86 ? 8 : 16) !== 0 || !accessibleStack(snap, fp, 16)) return { rc: -22, trace, reason: 'bad frame pointer' };
        }
        trace.push(pc);
        if (x86) {
          pc = mem.read64(fp + 8);
          if (fp === last) return { rc: 0, trace: [...trace, pc] };
          fp = mem.read64(fp);
        } else {
          if (fp === last) return { rc: 0, trace };
          const next = mem.read64(fp);
          pc = mem.read64(fp + 8);
          if (!next && !pc) return { rc: -22, trace, reason: 'exception boundary' };
          fp = next;
        }
      }
      return { rc: -22, trace, reason: 'too deep' };
    },
  };
}

const naiveWalker = (arch: 'arm64' | 'x86_64', innermostOnly: boolean) => (profile: Profile): Walker => {
  const u = naiveFp(arch, innermostOnly);
  return { profile, walk: async (_s, loaded) => walkInProcess(u, loaded), close: async () => {} };
};

const deep =
  (c: 'frame-pointer-unmapped' | 'frame-pointer-other-task' | 'return-address-garbage', depth?: number): Steps =>
  (s) => {
    s.useWorkload('syscall-sleep');
    s.corrupt(c);
    if (depth) s.corruptDepth(depth);
  };

for (const arch of ['arm64', 'x86_64'] as const) {
  test(`${arch}: a walker that validates only the innermost frame record passes the innermost corruptions, and fails them three records up`, async () => {
    const p = builtinProfile(FP[arch][0]!);
    for (const c of ['frame-pointer-unmapped', 'frame-pointer-other-task', 'return-address-garbage'] as const) {
      for (const careful of [true, false]) {
        // At depth 1 both walkers check the corrupted link or return address; so does the careful one at depth 3.
        assert.equal(await scenario(p, 'walk-memory-safe', deep(c), 'task', 'memory-safe', naiveWalker(arch, careful ? false : true)(p)), undefined, `${c} at depth 1`);
        const rule: Rule = c === 'return-address-garbage' ? 'reported-unreliable' : 'memory-safe';
        assert.equal(await scenario(p, 'corruption-detected-nonzero', deep(c), 'task', 'reported-unreliable', naiveWalker(arch, !careful)(p)), undefined, `${c} detected at depth 1`);
        if (careful) assert.equal(await scenario(p, 'walk-memory-safe', deep(c, 3), 'task', rule, naiveWalker(arch, false)(p)), undefined, `the careful walker at depth 3: ${c}`);
      }
    }
    await catches(arch, 'walk-memory-safe', deep('frame-pointer-unmapped', 3), 'task', 'memory-safe', naiveWalker(arch, true), /got faulted: read of 0x[0-9a-f]+ hit unmapped memory/, FP[arch]);
    await catches(arch, 'walk-memory-safe', deep('frame-pointer-other-task', 3), 'task', 'memory-safe', naiveWalker(arch, true), /got faulted: .*which is not an accessible stack of this task/, FP[arch]);
    await catches(arch, 'corruption-detected-nonzero', deep('return-address-garbage', 3), 'task', 'reported-unreliable', naiveWalker(arch, true), /got undetected-corruption/, FP[arch]);
  });
}

// ------------------------------------------------------------------ 5. a walk from the IRQ stack that ends in the task's entry code

/** The bug: the walk ends with success where the IRQ stack ends (at the exception entry code), not at the task's entry. */
function endsOnIrqStack(profile: Profile): Walker {
  return faulty(profile, async (ref, snap, loaded) => {
    const r = await ref.walk(snap, loaded);
    if (!r.result || r.result.rc !== 0) return r;
    const at = r.result.trace.findIndex((a) => loaded.syms.lookup(a)?.kind === 'code');
    return at < 0 ? r : { ...r, result: { rc: 0, trace: r.result.trace.slice(0, at + 1) } };
  });
}

for (const arch of ['arm64', 'x86_64'] as const) {
  test(`${arch}: a walk from the IRQ stack must reach the task's entry code: ending where the IRQ stack ends omits the interrupted chain`, async () => {
    const given: Steps = (s) => {
      s.useWorkload('work-chain');
      s.exceptionIn('irq', 'body', 'work_b');
    };
    const rule = (s: ConformanceSession) => {
      s.expectPerClaim('unwinds across IRQs');
      s.expectEndsAtEntry();
    };
    await catches(arch, 'termination-on-expected-stack', given, 'handler', rule, endsOnIrqStack, /got unsafe: reliable trace omits live function\(s\): work_b/, CROSSING[arch]);
  });
}

// ------------------------------------------------------------------ 5. the return address in an arbitrary GPR under an IRQ (arm64)

/** The bug: where the metadata cannot place the return address, the LR is assumed to hold it. */
function unknownRaIsLr(profile: Profile): Walker {
  return faulty(profile, async (ref, snap) => {
    const arm64 = snap.unwind.arm64?.map((e) => (e.ra === 'unknown' && e.fp === 'caller' ? { ...e, ra: 'lr' as const } : e));
    const blind: Snapshot = { ...snap, unwind: { ...snap.unwind, ...(arm64 ? { arm64 } : {}) } };
    return ref.walk(blind, loadSnapshot(blind));
  });
}

test('arm64: an IRQ at every boundary of a leaf holding its return address in X9 catches an unwinder that trusts the stale LR', async () => {
  const given: Steps = (s) => {
    s.useWorkload('lr-in-gpr');
    s.everyBoundary('irq', ['lrgpr_leaf']);
  };
  for (const when of ['handler', 'task'] as const) {
    await catches('arm64', 'exception-walks-sound', given, when, 'complete-or-unreliable', unknownRaIsLr, /got unsafe: reliable trace omits live function\(s\): lrgpr_fn/, CROSSING.arm64);
  }
  await catches('arm64', 'reject-exceptions-when-unidentifiable', given, 'handler', (s) => s.expectRejectedUnlessIdentified(), unknownRaIsLr, /got unsafe/, CROSSING.arm64);
});

// ------------------------------------------------------------------ 5. synchronous exceptions: a kprobe breakpoint in kernel code

/** The bug: only IRQ and NMI vectors are taken for exception boundaries; the pt_regs of a synchronous exception end the walk with success. */
function syncVectorIsTheEnd(profile: Profile): Walker {
  return faulty(profile, async (ref, snap, loaded) => {
    const r = await ref.walk(snap, loaded);
    if (!r.result) return r;
    const at = r.result.trace.findIndex((a) => ['el1h_64_sync', 'asm_exc_int3', 'asm_exc_page_fault'].includes(loaded.syms.lookup(a)?.name ?? ''));
    return at < 0 ? r : { ...r, result: { rc: 0, trace: r.result.trace.slice(0, at + 1) } };
  });
}

for (const arch of ['arm64', 'x86_64'] as const) {
  test(`${arch}: a kprobe breakpoint hit in kernel code, walked from its handler: ending at the synchronous exception's pt_regs omits the probed chain`, async () => {
    const given: Steps = (s) => {
      s.useWorkload('work-chain');
      s.everyBoundary('brk', ['work_b']);
    };
    // The frame-pointer references reject every exception boundary, so the faulty shortcut is caught on them too.
    await catches(arch, 'exception-walks-sound', given, 'handler', 'complete-or-unreliable', syncVectorIsTheEnd, /got unsafe: reliable trace omits live function\(s\): work_b/, REFERENCE[arch]);
  });
}

for (const arch of ['arm64', 'x86_64'] as const) {
  test(`${arch}: a kernel page fault in kernel code, walked from its handler or with the task asleep in it: ending at its pt_regs omits the faulting chain`, async () => {
    const given: Steps = (s) => {
      s.useWorkload('work-chain');
      s.everyBoundary('page-fault', ['work_b']);
    };
    for (const when of ['handler', 'task'] as const) {
      await catches(arch, 'exception-walks-sound', given, when, 'complete-or-unreliable', syncVectorIsTheEnd, /got unsafe: reliable trace omits live function\(s\): work_b/, REFERENCE[arch]);
    }
  });
}

// ------------------------------------------------------------------ 4. an NMI where unwinding is unsafe, next to an IRQ where it is safe

/**
 * The bug: an unwinder that unwinds NMIs as it unwinds IRQs, assuming the interrupted code keeps its
 * frame record as a function body does, where the build marked the unwind state undefined (entry
 * code). An IRQ is never taken there (the entry code runs with IRQs masked), so every IRQ scene passes;
 * an NMI in the IRQ's own entry code finds x29 still the interrupted function's record, and the walk
 * skips that function.
 */
function entryCodeAsBody(profile: Profile): Walker {
  return faulty(profile, async (ref, snap) => {
    const arm64 = snap.unwind.arm64?.map((e) => (e.type === 'undefined' ? { ...e, ra: 'frame' as const, fp: 'own' as const, type: 'call' as const } : e));
    const blind: Snapshot = { ...snap, unwind: { ...snap.unwind, ...(arm64 ? { arm64 } : {}) } };
    return ref.walk(blind, loadSnapshot(blind));
  });
}

test('arm64: an NMI at every boundary of an IRQ\'s handling catches an unwinder that takes entry code for a function body; the IRQ itself does not', async () => {
  const p = builtinProfile('arm64-meta-nmi');
  const irq: Steps = (s) => {
    s.useWorkload('work-chain');
    s.exceptionIn('irq', 'body', 'work_b');
  };
  // The IRQ at the nearby point is unwound soundly by the faulty walker: nothing there is undefined.
  assert.equal(await scenario(p, 'exception-walks-sound', irq, 'handler', 'reliable', entryCodeAsBody(p)), undefined);
  const nmiDuringIrq: Steps = (s) => {
    irq(s);
    s.nmiAtEveryBoundaryOfException();
  };
  await catches('arm64', 'exception-walks-sound', nmiDuringIrq, 'handler', 'complete-or-unreliable', entryCodeAsBody, /got unsafe: reliable trace omits live function\(s\): work_b/, ['arm64-meta-nmi']);
});

// ------------------------------------------------------------------ the scenes themselves

test('tracing-state corruptions edit only the snapshot\'s tracing state; a lost or corrupted entry is a redirect of the truth', async () => {
  const { kitFor } = await import('../src/scene');
  for (const arch of ['arm64', 'x86_64'] as const) {
    const kit = kitFor(arch);
    const clean = kit.buildScene({ workload: 'syscall-sleep', instrument: { fgraph: ['do_nanosleep'] }, moment: { kind: 'blocked' } });
    assert.equal(clean.snapshot.fgraph?.stack.length, 1);
    const missing = kit.buildScene({ ...clean.spec, corrupt: 'fgraph-ret-stack-missing' });
    assert.equal(missing.snapshot.fgraph, null);
    // The lost entry held the caller's return: the task now goes no further than return_to_handler (which
    // finds no entry and panics), so the frames outer to it are dead.
    const caller = clean.truth.frames.findIndex((f) => f.fn === 'sys_sleep');
    const rth = missing.snapshot.symbols.find((x) => x.name === 'return_to_handler')!;
    assert.deepEqual(missing.truth.frames, clean.truth.frames);
    assert.deepEqual(missing.truth.redirected, [{ index: caller, addr: unhex(rth.start), abandons: true }], arch);
    const key = kit.buildScene({ ...clean.spec, corrupt: 'fgraph-ret-stack-wrong-key' });
    assert.notEqual(key.snapshot.fgraph!.stack[0]!.retp, clean.snapshot.fgraph!.stack[0]!.retp);
    const ret = kit.buildScene({ ...clean.spec, corrupt: 'fgraph-ret-stack-wrong-ret' });
    assert.deepEqual(ret.truth.redirected, [{ index: caller, addr: unhex(ret.snapshot.fgraph!.stack[0]!.ret) }], arch);
    const kr = kit.buildScene({ workload: 'syscall-sleep', instrument: { kretprobe: ['do_nanosleep'] }, moment: { kind: 'blocked' }, corrupt: 'kretprobe-instances-empty' });
    assert.deepEqual(kr.snapshot.kretprobes, []);
    assert.throws(() => kit.buildScene({ workload: 'syscall-sleep', moment: { kind: 'blocked' }, corrupt: 'kretprobe-instances-empty' }), /no kretprobe instance/);
  }
});

test('a frame-record corruption at depth d edits the d-th record up the chain and leaves the inner ones intact', async () => {
  const { kitFor } = await import('../src/scene');
  for (const arch of ['arm64', 'x86_64'] as const) {
    const kit = kitFor(arch);
    const fpReg = arch === 'arm64' ? 'x29' : 'rbp';
    const clean = loadSnapshot(kit.buildScene({ workload: 'syscall-sleep', moment: { kind: 'blocked' } }).snapshot);
    const deep = loadSnapshot(kit.buildScene({ workload: 'syscall-sleep', moment: { kind: 'blocked' }, corrupt: 'frame-pointer-zeroed', corruptDepth: 3 }).snapshot);
    const r1 = clean.regs[fpReg]!;
    const r2 = clean.mem.read64(r1);
    const r3 = clean.mem.read64(r2);
    assert.equal(deep.mem.read64(r1), r2, `${arch}: record 1 intact`);
    assert.equal(deep.mem.read64(r2), r3, `${arch}: record 2 intact`);
    assert.equal(deep.mem.read64(r3), 0, `${arch}: record 3 zeroed`);
    assert.throws(() => kit.buildScene({ workload: 'syscall-sleep', moment: { kind: 'blocked' }, corrupt: 'frame-pointer-zeroed', corruptDepth: 40 }), /frame chain ends/);
  }
});

/**
 * The same bug on x86_64 ORC: the IRQ vector's IRET / REGS unwind hints read as an ordinary rbp frame,
 * as if an NMI could only land where an IRQ can. An NMI in the IRQ's entry code, before rbp encodes the
 * pt_regs, then takes the interrupted function's frame for the entry code's own and skips it.
 */
function entryHintsAsFrame(profile: Profile): Walker {
  return faulty(profile, async (ref, snap) => {
    // The IRQ vector's entry code: where an NMI, and never an IRQ, can interrupt.
    const code = snap.symbols.filter((s) => s.name === 'asm_common_interrupt').map((s) => [unhex(s.start), unhex(s.end)] as const);
    const inCode = (ip: number) => code.some(([a, b]) => ip >= a && ip < b);
    const orc = snap.unwind.orc?.map((e) =>
      (e.type === 'regs' || e.type === 'regs_partial') && inCode(unhex(e.ip)) ? { ...e, spReg: 'bp' as const, spOffset: 16, bpReg: 'prev_sp' as const, bpOffset: -16, type: 'call' as const, signal: false } : e,
    );
    const blind: Snapshot = { ...snap, unwind: { ...snap.unwind, ...(orc ? { orc } : {}) } };
    return ref.walk(blind, loadSnapshot(blind));
  });
}

test('x86_64: an NMI at every boundary of an IRQ\'s handling catches an ORC unwinder that reads entry hints as frames; the IRQ nearby stays safe', async () => {
  const p = builtinProfile('x86_64-orc');
  const irq: Steps = (s) => {
    s.useWorkload('work-chain');
    s.exceptionIn('irq', 'body', 'work_b');
  };
  assert.equal(await scenario(p, 'exception-walks-sound', irq, 'handler', 'complete-or-unreliable', entryHintsAsFrame(p)), undefined);
  const nmiDuringIrq: Steps = (s) => {
    irq(s);
    s.nmiAtEveryBoundaryOfException();
  };
  await catches('x86_64', 'exception-walks-sound', nmiDuringIrq, 'handler', 'complete-or-unreliable', entryHintsAsFrame, /got unsafe: reliable trace omits live function\(s\): work_b/, ['x86_64-orc']);
});

test('a corrupted saved return at depth d redirects the frame whose record it is: recursion, return trampolines, traced tail calls', async () => {
  const { redirectTruthAtDepth } = await import('../src/kernel/corrupt');
  const { TaskTracing } = await import('../src/kernel/tracing');
  const frame = (fn: string, addr: number) => ({ fn, addr, why: 'call' as const });
  const leaf = { fn: 'leaf', addr: 1, why: 'pc' as const };
  // Recursion: f resumes at 0x10 three times; the record at depth 3 holds the third one's return.
  const rec: GroundTruth = { frames: [leaf, frame('f', 0x10), frame('f', 0x10), frame('f', 0x10), frame('g', 0x20)] };
  const saved = [0x10, 0x10, 0x10, 0x20];
  redirectTruthAtDepth(rec, { was: 0x10, now: 0x41 }, 3, (k) => saved[k - 1]!);
  assert.deepEqual(rec.redirected, [{ index: 3, addr: 0x41 }]);
  // Slots holding return_to_handler stand for the ret_stack entries, innermost first; an entry that holds the
  // trampoline itself (a traced function tail-called by a traced one) passes the return on to the next.
  const TRAMP = 0x900;
  const trampolines = { fgraph: TRAMP, kretprobe: 0x990 };
  const t = new TaskTracing();
  t.fgraph = [{ ret: 0x30, func: 0, retp: 0 }, { ret: 0x20, func: 0, retp: 0 }];
  const traced: GroundTruth = { frames: [leaf, frame('a', 0x10), frame('b', 0x20), frame('c', 0x30)] };
  const slots = [0x10, TRAMP, TRAMP];
  redirectTruthAtDepth(traced, { was: TRAMP, now: 0x41 }, 3, (k) => slots[k - 1]!, { t, trampolines });
  assert.deepEqual(traced.redirected, [{ index: 3, addr: 0x41 }]);
  const tail = new TaskTracing();
  tail.fgraph = [{ ret: 0x30, func: 0, retp: 0 }, { ret: TRAMP, func: 0, retp: 0 }];
  const chained: GroundTruth = { frames: [leaf, frame('a', 0x10), frame('c', 0x30)] };
  redirectTruthAtDepth(chained, { was: TRAMP, now: 0x41 }, 2, (k) => [0x10, TRAMP][k - 1]!, { t: tail, trampolines });
  assert.deepEqual(chained.redirected, [{ index: 2, addr: 0x41 }]);
});

test('a trace that follows the real chain past a return that abandons it is undetected corruption, not unsafe', async () => {
  const { judge } = await import('../src/oracle/oracle');
  const { kitFor } = await import('../src/scene');
  const kit = kitFor('arm64');
  const s = kit.buildScene({ workload: 'syscall-sleep', instrument: { fgraph: ['do_nanosleep'] }, moment: { kind: 'blocked' }, corrupt: 'fgraph-ret-stack-missing' });
  const snap = loadSnapshot(s.snapshot);
  const rth = unhex(s.snapshot.symbols.find((x) => x.name === 'return_to_handler')!.start);
  const r = s.truth.redirected![0]!;
  // As upstream arm64 walks with no ret_stack: return_to_handler reported, then the (dead) outer frames.
  const faithful = s.truth.frames.map((f, i) => (i === r.index ? rth : f.addr)).filter((_, i) => !s.truth.frames[i]!.omissible);
  const j = judge(snap, s.truth, { result: { rc: 0, trace: faithful }, accesses: [] });
  assert.equal(j.outcome, 'undetected-corruption', j.explanation);
  assert.match(j.explanation, /can no longer return to/);
  // Leaving out a frame the task still returns to is unsafe.
  const short = faithful.filter((_, i) => i !== 1);
  assert.equal(judge(snap, s.truth, { result: { rc: 0, trace: short }, accesses: [] }).outcome, 'unsafe');
});

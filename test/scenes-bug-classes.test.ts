/**
 * Issue 9's bug classes that no scene reached: for each, a small faulty walker (a reference unwinder
 * patched to have the bug) is judged NOT conformant on the requirement the new scene tests, while the
 * reference unwinders meet it. Each case runs the scenario's steps through a ConformanceSession, as the
 * feature does.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConformanceFailure, ConformanceSession } from '../src/conformance/session';
import type { Rule } from '../src/conformance/expect';
import { loadSnapshot, type LoadedSnapshot } from '../src/snapshot/io';
import type { Snapshot } from '../src/snapshot/types';
import { builtinProfile } from '../src/unwinders/profiles';
import type { Profile } from '../src/unwinders/types';
import { InProcessWalker, type Walker } from '../src/unwinders/walker';

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

const TRAMPOLINES = ['return_to_handler', '__kretprobe_trampoline'];

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
    const blind: Snapshot = { ...snap, symbols: snap.symbols.map((s) => (TRAMPOLINES.includes(s.name) ? { ...s, name: `${s.name}.unrecognised` } : s)) };
    const again = await ref.walk(blind, loadSnapshot(blind));
    if (!again.result) return again;
    const tramp = new Set(snap.symbols.filter((s) => TRAMPOLINES.includes(s.name)).map((s) => Number(s.start)));
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
    test(`${arch}: ${c} below a blocked task: reporting the trampoline and carrying on, or skipping it, omits the caller (${RR})`, async () => {
      await catches(arch, RR, blockedTraced(kind, c), 'task', 'complete-or-unreliable', (p) => carriesOnPastTrampoline(p), /got unsafe: reliable trace omits live function\(s\): sys_sleep/, FP[arch]);
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

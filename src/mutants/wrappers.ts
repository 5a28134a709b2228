/**
 * Mutants that patch one behaviour of a reference unwinder from outside: by changing what it is
 * told (a view of the snapshot), or what it answers (its result). Each mirrors a kernel bug that
 * lived outside the unwinder's core loop (a caller that lost the count, a helper that said yes).
 */
import type { LoadedSnapshot } from '../snapshot/io';
import type { KSymbol } from '../machine/symbols';
import type { Region } from '../machine/memory';
import { referenceUnwinder } from '../unwinders/registry';
import type { Profile, Unwinder, WalkInput, WalkResult } from '../unwinders/types';

export const EINVAL = -22;

/** The reference unwinder of a base profile kind ('frame-pointer', 'metadata', 'orc'). */
export function baseUnwinder(profile: Profile, kind: string): Unwinder {
  return referenceUnwinder({ ...profile, unwinder: kind });
}

/** Run `base` on a view of the snapshot. */
export function onView(base: Unwinder, view: (snap: LoadedSnapshot) => LoadedSnapshot): (input: WalkInput) => WalkResult {
  return (input) => base.walk({ ...input, snap: view(input.snap) });
}

/** Every task, IRQ and NMI stack of the machine counts as accessible (another task's, another CPU's). */
export function allStacksView(snap: LoadedSnapshot): LoadedSnapshot {
  const stacks = snap.mem.regions
    .filter((r) => r.kind === 'task-stack' || r.kind === 'irq-stack' || r.kind === 'nmi-stack')
    .map((r) => ({ region: r.name, type: (r.kind === 'task-stack' ? 'task' : r.kind === 'irq-stack' ? 'irq' : 'nmi') as 'task' | 'irq' | 'nmi' }));
  // This task's and this CPU's stacks first, so the walk starts where it should.
  const own = new Set(snap.stacks.map((s) => s.region));
  return { ...snap, stacks: [...snap.stacks, ...stacks.filter((s) => !own.has(s.region))] };
}

/** __kernel_text_address() that says yes to every address (the check is skipped). */
export function everythingIsTextView(snap: LoadedSnapshot): LoadedSnapshot {
  const mem = Object.create(snap.mem) as LoadedSnapshot['mem'];
  mem.find = (addr: number, size?: number): Region | undefined => {
    const r = snap.mem.find(addr, size);
    if (r && (r.kind === 'kernel-text' || r.kind === 'module-text' || r.kind === 'bpf-jit' || r.kind === 'trampoline-text')) return r;
    return { ...(r ?? ({ name: 'anything', base: addr, size: 8 } as Region)), kind: 'kernel-text' };
  };
  return { ...snap, mem };
}

/** Foreign (EFI) text taken for kernel text. */
export function foreignIsTextView(snap: LoadedSnapshot): LoadedSnapshot {
  const mem = Object.create(snap.mem) as LoadedSnapshot['mem'];
  mem.find = (addr: number, size?: number): Region | undefined => {
    const r = snap.mem.find(addr, size);
    return r && r.kind === 'foreign-text' ? { ...r, kind: 'kernel-text' } : r;
  };
  const syms = Object.create(snap.syms) as LoadedSnapshot['syms'];
  syms.lookup = (addr: number): KSymbol | undefined => {
    const s = snap.syms.lookup(addr);
    return s && s.kind === 'foreign' ? { ...s, kind: 'func' } : s;
  };
  return { ...snap, mem, syms };
}

/** STACK_FRAME_NON_STANDARD annotations are not looked at. */
export function noNonStandardView(snap: LoadedSnapshot): LoadedSnapshot {
  const syms = Object.create(snap.syms) as LoadedSnapshot['syms'];
  syms.lookup = (addr: number): KSymbol | undefined => {
    const s = snap.syms.lookup(addr);
    return s?.nonStandard ? { ...s, nonStandard: false } : s;
  };
  return { ...snap, syms };
}

/** Change the answer of `base`. */
export function onResult(base: Unwinder, f: (r: WalkResult, input: WalkInput) => WalkResult): (input: WalkInput) => WalkResult {
  return (input) => f(base.walk(input), input);
}

/** The return trampolines are not recognised by name, so nothing is ever recovered (ftrace_graph_ret_addr() / kretprobe_find_ret_addr() never called). */
export function trampolinesUnknownView(snap: LoadedSnapshot): LoadedSnapshot {
  const syms = Object.create(snap.syms) as LoadedSnapshot['syms'];
  syms.byName = (name: string): KSymbol | undefined => (name === 'return_to_handler' || name === '__kretprobe_trampoline' || name === 'arch_rethook_trampoline' ? undefined : snap.syms.byName(name));
  return { ...snap, syms };
}

/**
 * ftrace_graph_ret_addr() returns `ret` unchanged when task->ret_stack is NULL or empty, and the
 * caller does not check: return_to_handler is reported as the caller.
 */
export function retStackUncheckedView(snap: LoadedSnapshot): LoadedSnapshot {
  if (snap.json.fgraph && snap.json.fgraph.stack.length) return snap;
  const syms = Object.create(snap.syms) as LoadedSnapshot['syms'];
  syms.byName = (name: string): KSymbol | undefined => (name === 'return_to_handler' ? undefined : snap.syms.byName(name));
  return { ...snap, syms };
}

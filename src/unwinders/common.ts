/** Helpers shared by the reference unwinders, mirroring kernel helpers of the same names. */
import type { LoadedSnapshot } from '../snapshot/io';
import { unhex } from '../snapshot/io';
import type { RegionInfo } from '../machine/memory';
import type { StackType } from '../snapshot/types';

/** Frames a reliable walk may report before it gives up: no real kernel call chain is this deep. */
export const MAX_FRAMES = 512;

/**
 * __kernel_text_address(): core kernel text, module text, BPF JIT and ftrace/optprobe trampolines
 * (kernel/extable.c). Foreign (EFI) code is not kernel text.
 */
export function kernelTextAddress(snap: LoadedSnapshot, addr: number): boolean {
  const r = snap.mem.find(addr);
  return !!r && (r.kind === 'kernel-text' || r.kind === 'module-text' || r.kind === 'bpf-jit' || r.kind === 'trampoline-text');
}

/** The accessible stack holding [addr, addr+size), like on_accessible_stack(). */
export function accessibleStack(snap: LoadedSnapshot, addr: number, size: number): (RegionInfo & { type: StackType }) | undefined {
  for (const s of snap.stacks) {
    const r = snap.mem.region(s.region);
    if (addr >= r.base && addr + size <= r.base + r.size) return { ...r, type: s.type };
  }
  return undefined;
}

export function symbolAddr(snap: LoadedSnapshot, name: string): number | undefined {
  return snap.syms.byName(name)?.start;
}

/**
 * ftrace_graph_ret_addr() (kernel/trace/fgraph.c): if `ret` is return_to_handler, find the original
 * return address in the task's ret_stack, keyed by `retp`, searching from the cursor `idx` downwards.
 * Returns the original address and the new cursor, or undefined when recovery fails (the caller must
 * treat that as an error). Addresses other than return_to_handler are returned unchanged.
 */
export function ftraceGraphRetAddr(
  snap: LoadedSnapshot,
  idx: { value: number },
  ret: number,
  retp: number,
): number | undefined {
  const rth = symbolAddr(snap, 'return_to_handler');
  if (rth === undefined || ret !== rth) return ret;
  const stack = snap.json.fgraph?.stack ?? [];
  if (idx.value < 0 || idx.value > stack.length) idx.value = stack.length;
  for (let i = idx.value - 1; i >= 0; i--) {
    const e = stack[i]!;
    // A tail call leaves 2+ entries on one slot, all but the outermost recording return_to_handler:
    // skip those, as kernel/trace/fgraph.c does ("Handle tail calls for stack unwinding").
    if (unhex(e.retp) === retp && unhex(e.ret) !== rth) {
      idx.value = i;
      return unhex(e.ret);
    }
  }
  return undefined;
}

/**
 * The kretprobe trampoline: rethook's arch_rethook_trampoline (x86_64, as upstream since v5.19),
 * or the older __kretprobe_trampoline (the arm64 model).
 */
export function kretprobeTrampoline(snap: LoadedSnapshot): number | undefined {
  return symbolAddr(snap, 'arch_rethook_trampoline') ?? symbolAddr(snap, '__kretprobe_trampoline');
}

/**
 * kretprobe_find_ret_addr() / rethook_find_ret_addr() (kernel/kprobes.c): if `ret` is the kretprobe trampoline, find the
 * original return address of the instance keyed by `retp`, walking the instance list from the cursor.
 * Instances that recorded the trampoline itself (a kretprobed function tail-called from another)
 * are skipped, as __kretprobe_find_ret_addr() does.
 */
export function kretprobeFindRetAddr(
  snap: LoadedSnapshot,
  cur: { value: number },
  ret: number,
  retp: number,
): number | undefined {
  const tramp = kretprobeTrampoline(snap);
  if (tramp === undefined || ret !== tramp) return ret;
  const list = snap.json.kretprobes;
  for (let i = cur.value; i < list.length; i++) {
    const e = list[i]!;
    if (unhex(e.ret) === tramp) continue;
    if (unhex(e.retp) === retp) {
      cur.value = i + 1;
      return unhex(e.ret);
    }
  }
  return undefined;
}

/** An unwind table (ORC, arm64 metadata) sorted by ip, as the kernel sorts it at boot. */
export interface IpTable<T> {
  ips: number[];
  entries: T[];
}

const ipTables = new WeakMap<object, IpTable<unknown>>();

/** The table of `raw` sorted by ip, built once per snapshot table. */
export function ipTable<T extends { ip: string }>(raw: readonly T[]): IpTable<T> {
  let t = ipTables.get(raw) as IpTable<T> | undefined;
  if (!t) {
    const sorted = raw.map((e) => ({ ip: unhex(e.ip), e })).sort((a, b) => a.ip - b.ip);
    t = { ips: sorted.map((x) => x.ip), entries: sorted.map((x) => x.e) };
    ipTables.set(raw, t);
  }
  return t;
}

/**
 * The entry covering pc, like orc_find(): the last entry at or below pc, and only if it lies in
 * pc's own symbol (an entry never covers a following function that has no entries of its own:
 * foreign code, BPF, a function the analyser skipped).
 */
export function coveringEntry<T>(snap: LoadedSnapshot, t: IpTable<T>, pc: number): T | undefined {
  let lo = 0;
  let hi = t.ips.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (t.ips[mid]! <= pc) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (found < 0) return undefined;
  const sym = snap.syms.lookup(pc);
  if (!sym || t.ips[found]! < sym.start) return undefined;
  return t.entries[found];
}

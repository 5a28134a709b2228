/**
 * powerpc64 back-chain reliable unwinder, modelled on today's arch_stack_walk_reliable()
 * (arch/powerpc/kernel/stacktrace.c). Task stack only: the walk starts at thread.ksp (blocked) or at
 * current's own frame, must stay within [stack page + sizeof(thread_struct), stack_end], follows the back
 * chain (word 0 of each frame) strictly upward with 16-byte alignment, and succeeds only when the back
 * chain reaches stack_end exactly: THREAD_SIZE minus STACK_FRAME_MIN_SIZE for a kernel thread (its initial
 * frame from copy_thread) or minus STACK_USER_INT_FRAME_SIZE for a user task (the user interrupt frame at
 * PACAKSAVE), as c5cc3ca707bc computes it. The first frame's LR save slot is stale (its callee never saved
 * there) and is skipped; every other frame reports the return address in its LR save slot (word 2), which
 * must be kernel text, recovers return_to_handler by frame (ftrace_graph_ret_addr) and gives up at the
 * rethook trampoline and at any frame holding the "regs" marker (an interrupt frame: pt_regs, LR may have
 * been live), checked where a full interrupt frame fits below stack_end. Like upstream, the walk stops at
 * stack_end without reporting its LR save slot (the return into the entry code, which the suite lets a walk
 * that verified its end leave out). One addition to upstream, stricter: the return address
 * ftrace_graph_ret_addr() recovers must be kernel text too. And one the issue asks for: a return into livepatch_handler (a livepatched function's caller entered through
 * ftrace) is replaced by the real LR livepatch_handler keeps on the livepatch stack (thread_info->livepatch_sp,
 * innermost entry first), which upstream reports as it finds it, leaving the caller out.
 *
 * `Powerpc64Knobs` switch on the historical / plausible bugs the mutant catalogue models (src/mutants);
 * the reference profile uses none.
 */
import { hex } from '../machine/addr';
import { unhex, type LoadedSnapshot } from '../snapshot/io';
import { MAX_FRAMES, ftraceGraphRetAddr, kernelTextAddress, kretprobeTrampoline, symbolAddr } from './common';
import { EINVAL } from './arm64-common';
import type { Profile, Unwinder, WalkInput, WalkResult } from './types';

export interface Powerpc64Knobs {
  /** Before c5cc3ca707bc: stack_end as for a user task whatever the task, so a kernel thread's walk ends (or fails) where a user frame would be. */
  stackEndAsUser?: boolean;
  /**
   * A frame holding the "regs" marker is taken for an interrupt frame and walked through as show_stack()
   * does (regs->nip, then the interrupted frame as a new first frame): a stale marker left in a dead
   * area, or the interrupted function's unsaved LR, is trusted (the 9580b71b5a78 / eddd0b332304 class).
   */
  trustRegsMarker?: boolean;
  /** Reports the first frame's LR save slot too (stale: its callee never saved there). */
  firstFrameLr?: boolean;
  /** Does not recover return_to_handler: a graph-traced frame makes the walk unreliable. */
  noFgraphRecovery?: boolean;
  /** Reports livepatch_handler as found in the LR save slot: the real return address, on the livepatch stack, is never read. */
  livepatchStackIgnored?: boolean;
}

interface Layout {
  THREAD_SIZE: number;
  THREAD_STRUCT_SIZE: number;
  STACK_FRAME_MIN_SIZE: number;
  STACK_FRAME_LR_SAVE: number;
  STACK_USER_INT_FRAME_SIZE: number;
  STACK_INT_FRAME_SIZE: number;
  STACK_INT_FRAME_MARKER: number;
  STACK_INT_FRAME_REGS: number;
  STACK_FRAME_REGS_MARKER: number;
  NIP: number;
  LIVEPATCH_FRAME_SIZE: number;
  STACK_END_MAGIC: number;
}

function layoutOf(snap: LoadedSnapshot): Layout {
  const keys: (keyof Layout)[] = ['THREAD_SIZE', 'THREAD_STRUCT_SIZE', 'STACK_FRAME_MIN_SIZE', 'STACK_FRAME_LR_SAVE', 'STACK_USER_INT_FRAME_SIZE', 'STACK_INT_FRAME_SIZE', 'STACK_INT_FRAME_MARKER', 'STACK_INT_FRAME_REGS', 'STACK_FRAME_REGS_MARKER', 'NIP', 'LIVEPATCH_FRAME_SIZE', 'STACK_END_MAGIC'];
  const out = {} as Layout;
  for (const k of keys) {
    const v = snap.abi[k];
    if (typeof v !== 'number') throw new Error(`snapshot.abi lacks ${k}`);
    out[k] = v;
  }
  return out;
}

const h = hex;

export function walkPowerpc64(input: WalkInput, k: Powerpc64Knobs = {}): WalkResult {
  const { snap, mem } = input;
  const A = layoutOf(snap);
  const trace: number[] = [];
  const fail = (reason: string): WalkResult => ({ rc: -EINVAL, trace, reason });
  const taskStack = snap.stacks.find((s) => s.type === 'task');
  if (!taskStack) return fail('arch_stack_walk_reliable: no task stack');
  const stackPage = snap.mem.region(taskStack.region).base;
  const kthread = snap.json.task.kind === 'kthread' && !k.stackEndAsUser;
  const stackEnd = stackPage + A.THREAD_SIZE - (kthread ? A.STACK_FRAME_MIN_SIZE : A.STACK_USER_INT_FRAME_SIZE);
  let sp = snap.regs['r1'];
  if (sp === undefined) return fail('arch_stack_walk_reliable: snapshot has no r1');
  if (snap.json.task.state !== 'blocked') {
    // current: the walker's caller, at pc, is the innermost function; its frame's LR slot is stale.
    const pc = snap.regs['pc'];
    if (pc === undefined || !kernelTextAddress(snap, pc)) return fail(`arch_stack_walk_reliable: pc ${pc === undefined ? '(none)' : h(pc)} is not kernel text`);
    trace.push(pc);
  }
  if (sp < stackPage + A.THREAD_STRUCT_SIZE || sp > stackEnd - A.STACK_FRAME_MIN_SIZE) return fail(`arch_stack_walk_reliable: sp ${h(sp)} is not on the task stack below stack_end ${h(stackEnd)}`);
  const graphIdx = { value: -1 };
  const rethook = kretprobeTrampoline(snap);
  const livepatch = snap.syms.byName('livepatch_handler');
  let klpSp = snap.json.task.livepatchSp === undefined ? undefined : unhex(snap.json.task.livepatchSp);
  /** The innermost live livepatch stack entry {r2, LR, magic}, between the stack's bottom and thread_info->livepatch_sp. */
  const popLivepatch = (): number | string => {
    if (klpSp === undefined) return 'livepatch_handler: no thread_info->livepatch_sp to find the real return address';
    const entry = klpSp - A.LIVEPATCH_FRAME_SIZE;
    if (entry < stackPage + 8 || klpSp > stackPage + A.THREAD_STRUCT_SIZE || entry % 8 !== 0) return `livepatch_handler: livepatch stack pointer ${h(klpSp)} is not within the livepatch stack`;
    if (mem.read64(entry + 16) !== A.STACK_END_MAGIC) return `livepatch_handler: the livepatch stack entry at ${h(entry)} has no STACK_END_MAGIC`;
    const lr = mem.read64(entry + 8);
    if (!kernelTextAddress(snap, lr)) return `livepatch_handler: the real LR ${h(lr)} at ${h(entry + 8)} is not kernel text`;
    klpSp = entry;
    return lr;
  };
  /** Report the return address in the LR save slot of the frame at `frame`. */
  const consume = (frame: number): string | undefined => {
    const slot = frame + 8 * A.STACK_FRAME_LR_SAVE;
    let ip = mem.read64(slot);
    if (!kernelTextAddress(snap, ip)) return `arch_stack_walk_reliable: saved LR ${h(ip)} at ${h(slot)} is not kernel text`;
    if (k.noFgraphRecovery && ip === symbolAddr(snap, 'return_to_handler')) return `stricter: return_to_handler at ${h(slot)} is not recovered`;
    const orig = ftraceGraphRetAddr(snap, graphIdx, ip, frame);
    if (orig === undefined) return `ftrace_graph_ret_addr: return_to_handler at ${h(slot)} has no ret_stack entry`;
    // Checked again after recovery: the ret_stack may hold garbage (upstream trusts it).
    if (orig !== ip && !kernelTextAddress(snap, orig)) return `ftrace_graph_ret_addr: the return address ${h(orig)} recovered for ${h(slot)} is not kernel text`;
    ip = orig;
    if (!k.livepatchStackIgnored && livepatch && ip >= livepatch.start && ip < livepatch.end) {
      // livepatch_handler's return point: the caller of the livepatched function is on the livepatch stack.
      const real = popLivepatch();
      if (typeof real === 'string') return real;
      ip = real;
    }
    if (rethook !== undefined && ip === rethook) return `arch_stack_walk_reliable: kretprobed function (rethook trampoline at ${h(slot)})`;
    if (trace.length >= MAX_FRAMES) return `arch_stack_walk_reliable: more than ${MAX_FRAMES} frames`;
    trace.push(ip);
    return undefined;
  };
  let first = true;
  while (sp !== stackEnd) {
    if (sp % 16 !== 0) return fail(`arch_stack_walk_reliable: sp ${h(sp)} is not 16-byte aligned`);
    const newsp = mem.read64(sp);
    if (newsp <= sp) return fail(`arch_stack_walk_reliable: back chain ${h(newsp)} at ${h(sp)} does not go up the stack`);
    if (newsp !== stackEnd && newsp > stackEnd - A.STACK_FRAME_MIN_SIZE) return fail(`arch_stack_walk_reliable: back chain ${h(newsp)} at ${h(sp)} is past stack_end ${h(stackEnd)}`);
    const wasFirst = first;
    first = false;
    if (wasFirst && !k.firstFrameLr) {
      sp = newsp;
      continue;
    }
    if (sp <= stackEnd - A.STACK_INT_FRAME_SIZE && mem.read64(sp + A.STACK_INT_FRAME_MARKER) === A.STACK_FRAME_REGS_MARKER) {
      if (!k.trustRegsMarker) return fail(`arch_stack_walk_reliable: interrupt frame (regs marker) at ${h(sp)}`);
      const nip = mem.read64(sp + A.STACK_INT_FRAME_REGS + A.NIP);
      if (!kernelTextAddress(snap, nip)) return fail(`show_stack-like walk: regs->nip ${h(nip)} at ${h(sp)} is not kernel text`);
      if (trace.length >= MAX_FRAMES) return fail(`arch_stack_walk_reliable: more than ${MAX_FRAMES} frames`);
      trace.push(nip);
      first = true;
      sp = newsp;
      continue;
    }
    const e = consume(sp);
    if (e) return fail(e);
    sp = newsp;
  }
  // At stack_end: the entry code's own frame, whose return address (into the entry code) is not reported.
  return { rc: 0, trace };
}

export function create(profile: Profile): Unwinder {
  return { name: profile.name, walk: (input) => walkPowerpc64(input) };
}

/**
 * Per-task tracing state the kernel keeps and an unwinder may consult:
 * the function-graph return stack (task->ret_stack) and live kretprobe instances.
 * Arch kits mutate it from their trampoline pseudo-ops; snapshots copy it.
 */
import { hex } from '../snapshot/io';
import type { Snapshot } from '../snapshot/types';

export interface RetRecord {
  ret: number;
  func: number;
  retp: number;
}

export class TaskTracing {
  /** task->ret_stack, oldest first. */
  fgraph: RetRecord[] = [];
  fgraphEnabled = false;
  /** task->kretprobe_instances, newest first. */
  kretprobes: RetRecord[] = [];

  /** prepare_ftrace_return(): push the original return address. */
  pushGraph(r: RetRecord): void {
    this.fgraph.push(r);
  }

  /** ftrace_return_to_handler(): pop the innermost entry and give back the original return address. */
  popGraph(): RetRecord {
    const r = this.fgraph.pop();
    if (!r) throw new Error('ftrace_return_to_handler with an empty ret_stack');
    return r;
  }

  pushKretprobe(r: RetRecord): void {
    this.kretprobes.unshift(r);
  }

  /**
   * The return trampoline's handler when no return handler walks the stack (rethook_trampoline_handler()):
   * unlink the returning frame's instances and give the real return address.
   */
  popKretprobes(trampoline: number): number {
    this.kretprobeHandlers(trampoline);
    return this.unlinkKretprobes();
  }

  /** Instances of the frame whose return handlers are running (kretprobeHandlers() to unlinkKretprobes()). */
  private returning = 0;

  /**
   * __kretprobe_trampoline_handler(), up to its handlers: the real return address is that of the first
   * instance not holding the trampoline itself; every instance up to it belongs to the returning frame,
   * and each is given that address (ri->ret_addr) before its handler runs. They stay on the list.
   */
  kretprobeHandlers(trampoline: number): void {
    const n = this.kretprobes.findIndex((r) => r.ret !== trampoline);
    if (n < 0) throw new Error('kretprobe trampoline with no instance holding a return address');
    const ret = this.kretprobes[n]!.ret;
    for (let i = 0; i <= n; i++) this.kretprobes[i]!.ret = ret;
    this.returning = n + 1;
  }

  /** Then: unlink the returning frame's instances; gives the real return address. */
  unlinkKretprobes(): number {
    if (!this.returning) throw new Error('kretprobe instances unlinked before their handlers ran');
    const gone = this.kretprobes.splice(0, this.returning);
    this.returning = 0;
    return gone[0]!.ret;
  }

  clone(): TaskTracing {
    const t = new TaskTracing();
    t.fgraph = this.fgraph.map((r) => ({ ...r }));
    t.fgraphEnabled = this.fgraphEnabled;
    t.kretprobes = this.kretprobes.map((r) => ({ ...r }));
    t.returning = this.returning;
    return t;
  }

  toSnapshot(): Pick<Snapshot, 'fgraph' | 'kretprobes'> {
    const j = (r: RetRecord) => ({ ret: hex(r.ret), func: hex(r.func), retp: hex(r.retp) });
    return { fgraph: this.fgraphEnabled ? { stack: this.fgraph.map(j) } : null, kretprobes: this.kretprobes.map(j) };
  }
}

/**
 * Names the arch-neutral features use for code that rethook arches (x86_64, riscv64, loongarch64) name
 * after upstream: the kretprobe trampoline is arch_rethook_trampoline, its C handler
 * arch_rethook_trampoline_callback. arm64 keeps __kretprobe_trampoline and needs none.
 */
const RETHOOK_NAMES: Record<string, string> = {
  __kretprobe_trampoline: 'arch_rethook_trampoline',
  trampoline_probe_handler: 'arch_rethook_trampoline_callback',
  trampoline_handler: 'arch_rethook_trampoline_callback',
};
export const rethookName = (fn: string): string => RETHOOK_NAMES[fn] ?? fn;

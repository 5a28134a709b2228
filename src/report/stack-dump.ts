/**
 * The stack memory around a walk's frames, for the failure picture (WalkReport.stackDump).
 * A pure function of the snapshot: it reads the Memory directly (not the monitored view), so it
 * never counts as an access by the unwinder. Sessions call it for failed walks.
 */
import type { LoadedSnapshot } from '../snapshot/io';
import { hex } from '../machine/addr';

export interface StackDumpEntry {
  addr: string;
  value: string;
  note?: string;
}

const h = hex;

const REGS: Record<string, { sp: string; fp: string }> = {
  arm64: { sp: 'sp', fp: 'x29' },
  x86_64: { sp: 'rsp', fp: 'rbp' },
};

export interface StackDumpOptions {
  /** Words dumped from the stack pointer upward (default 48). */
  words?: number;
  /** Words dumped below task_pt_regs when the walk starts on another stack (default 16). */
  taskWords?: number;
}

/**
 * Words of the accessible stack holding SP, from SP upward; and, when SP is on an IRQ/NMI stack,
 * the top of the task stack too. Each word is annotated with what it points at (symbol+offset,
 * a stack slot) and which register / landmark (sp, fp, pt_regs, final frame) sits at its address.
 */
export function stackDump(snap: LoadedSnapshot, opts: StackDumpOptions = {}): StackDumpEntry[] {
  const words = opts.words ?? 48;
  const taskWords = opts.taskWords ?? 16;
  const regs = REGS[snap.arch] ?? { sp: 'sp', fp: 'fp' };
  const sp = snap.regs[regs.sp];
  const fp = snap.regs[regs.fp];
  const stackRegions = new Set(snap.stacks.map((s) => s.region));
  const landmarks = new Map<number, string[]>();
  const mark = (addr: number | undefined, what: string) => {
    if (addr === undefined) return;
    landmarks.set(addr, [...(landmarks.get(addr) ?? []), what]);
  };
  mark(sp, regs.sp);
  mark(fp, regs.fp);
  mark(snap.ptRegs, 'task_pt_regs');
  mark(snap.finalFrame, 'final frame');

  const ranges: [number, number, string][] = [];
  const spRegion = sp !== undefined ? snap.mem.find(sp, 8) : undefined;
  if (sp !== undefined && spRegion && stackRegions.has(spRegion.name)) {
    const start = sp - (sp % 8);
    // On the task stack, stop a little past task_pt_regs: below it is all the walk may use.
    const onTask = snap.stacks.some((s) => s.region === spRegion.name && s.type === 'task');
    const limit = onTask && snap.ptRegs >= start ? snap.ptRegs + 8 * 8 : Infinity;
    ranges.push([start, Math.min(spRegion.base + spRegion.size, start + words * 8, limit), spRegion.name]);
  }
  const task = snap.stacks.find((s) => s.type === 'task');
  if (task && (!spRegion || spRegion.name !== task.region)) {
    const r = snap.mem.regions.find((x) => x.name === task.region);
    if (r) {
      const end = Math.min(r.base + r.size, snap.ptRegs + 8 * 8);
      ranges.push([Math.max(r.base, end - (taskWords + 8) * 8), end, r.name]);
    }
  }

  // The final frame (arm64: &task_pt_regs(task)->stackframe) may lie past the words shown above.
  const task2 = snap.stacks.find((s) => s.type === 'task');
  const taskRegion = task2 ? snap.mem.regions.find((x) => x.name === task2.region) : undefined;
  const ff = snap.finalFrame - (snap.finalFrame % 8);
  if (taskRegion && ff >= taskRegion.base && ff < taskRegion.base + taskRegion.size && !ranges.some(([a, b]) => ff >= a && ff < b)) {
    ranges.push([ff, Math.min(taskRegion.base + taskRegion.size, ff + 16), taskRegion.name]);
  }

  const out: StackDumpEntry[] = [];
  for (const [from, to, region] of ranges) {
    for (let a = from; a + 8 <= to; a += 8) {
      const v = snap.mem.read64(a);
      const notes = [...(landmarks.get(a) ?? [])].map((n) => `← ${n}`);
      if (a === from) notes.unshift(`[${region}]`);
      const sym = snap.syms.lookup(v);
      if (sym) notes.push(`→ ${sym.name}+0x${(v - sym.start).toString(16)}`);
      else {
        const r = v ? snap.mem.find(v, 8) : undefined;
        if (r && stackRegions.has(r.name)) notes.push(`→ ${r.name}+0x${(v - r.base).toString(16)}`);
      }
      out.push({ addr: h(a), value: h(v), ...(notes.length ? { note: notes.join(' ') } : {}) });
    }
  }
  return out;
}

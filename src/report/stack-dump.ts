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
  riscv64: { sp: 'sp', fp: 's0' },
  powerpc64: { sp: 'r1', fp: 'r1' },
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

  const stackType = new Map(snap.stacks.map((s) => [s.region, s.type]));
  const decoded = exceptionFrames(snap);
  const fieldNotes = new Map<number, string[]>();
  for (const f of decoded) for (const [a, n] of f.notes) fieldNotes.set(a, [...(fieldNotes.get(a) ?? []), n]);

  const out: StackDumpEntry[] = [];
  const describe = (v: number): string | undefined => {
    const sym = snap.syms.lookup(v);
    if (sym) return `${sym.name}+0x${(v - sym.start).toString(16)}`;
    const r = v ? snap.mem.find(v, 8) : undefined;
    return r && stackRegions.has(r.name) ? `${r.name}+0x${(v - r.base).toString(16)}` : undefined;
  };
  const dumped = new Set<number>();
  const word = (a: number, first: string | undefined) => {
    const v = snap.mem.read64(a);
    const notes = [...(landmarks.get(a) ?? [])].map((n) => `← ${n}`);
    if (first) notes.unshift(first);
    notes.push(...(fieldNotes.get(a) ?? []));
    const d = describe(v);
    if (d) notes.push(`→ ${d}`);
    out.push({ addr: h(a), value: h(v), ...(notes.length ? { note: notes.join(' ') } : {}) });
    dumped.add(a);
  };
  // Each range starts with a marker naming the stack it is on: where one stack ends and the next begins.
  const marker = (region: string, what = '') => `══ ${stackType.get(region) ?? 'other'} stack [${region}]${what} ══`;
  for (const [from, to, region] of ranges) {
    for (let a = from; a + 8 <= to; a += 8) word(a, a === from ? marker(region) : undefined);
  }
  // The interrupted registers of each exception frame, decoded from its pt_regs (words not dumped above).
  for (const f of decoded) {
    const rest = f.fields.filter((a) => !dumped.has(a));
    rest.forEach((a, i) => word(a, i === 0 ? marker(f.region, `, pt_regs at ${h(f.regs)}`) : undefined));
  }
  return out;
}

/** One exception frame found on an accessible stack: where its pt_regs is, and the notes for its words. */
export interface ExceptionFrame {
  regs: number;
  region: string;
  /** What was interrupted, in one line: pc, lr / x30, x9, fp, sp (arm64); ip, sp, bp (x86_64). */
  summary: string;
  fields: number[];
  notes: [number, string][];
}

/**
 * The pt_regs of the exceptions taken in the kernel, found on the accessible stacks with the
 * snapshot's `abi` offsets. arm64 (v6.13+): a zeroed frame record {0, 0} whose frame_record_meta type
 * is PT_REGS, in a pt_regs whose pstate says EL1h. riscv64 (the reliable-stacktrace series): the same
 * meta record after orig_a0, in a pt_regs whose status has SPP set. powerpc64: a frame whose "regs" marker is set, in
 * a pt_regs whose MSR has PR clear. x86_64: an iret frame whose cs is KERNEL_CS, whose
 * ip is kernel text and whose sp lies on an accessible stack.
 */
export function exceptionFrames(snap: LoadedSnapshot): ExceptionFrame[] {
  const A = snap.abi;
  const out: ExceptionFrame[] = [];
  const sym = (v: number) => {
    const s = snap.syms.lookup(v);
    return s ? ` (${s.name}+0x${(v - s.start).toString(16)})` : '';
  };
  const read = (a: number): number | undefined => {
    try {
      return snap.mem.find(a, 8) ? snap.mem.read64(a) : undefined;
    } catch {
      return undefined;
    }
  };
  for (const st of snap.stacks) {
    const r = snap.mem.regions.find((x) => x.name === st.region);
    if (!r) continue;
    const inRegion = (a: number, n: number) => a >= r.base && a + n <= r.base + r.size;
    if (snap.arch === 'arm64' && A.S_STACKFRAME !== undefined && A.S_STACKFRAME_TYPE !== undefined && A.S_PC !== undefined) {
      for (let rec = r.base + A.S_STACKFRAME; rec + 16 <= r.base + r.size; rec += 8) {
        const regs = rec - A.S_STACKFRAME;
        if (!inRegion(regs, A.PT_REGS_SIZE ?? 336)) continue;
        // Most places hold no PT_REGS-typed {0, 0} record: the type word, then the record, tested on the raw bytes first.
        const t = regs + A.S_STACKFRAME_TYPE - r.base;
        if (t >= 0 && t + 8 <= r.size && (r.view.getUint32(t, true) !== (A.FRAME_META_TYPE_PT_REGS ?? 2) || r.view.getUint32(t + 4, true) !== 0)) continue;
        const o = rec - r.base;
        if (r.view.getUint32(o, true) | r.view.getUint32(o + 4, true) | r.view.getUint32(o + 8, true) | r.view.getUint32(o + 12, true)) continue;
        if (read(rec) !== 0 || read(rec + 8) !== 0) continue;
        if (read(regs + A.S_STACKFRAME_TYPE) !== (A.FRAME_META_TYPE_PT_REGS ?? 2)) continue;
        const pstate = read(regs + A.S_PSTATE!) ?? 0;
        if ((pstate & (A.PSR_MODE_MASK ?? 0xf)) !== (A.PSR_MODE_EL1h ?? 5)) continue;
        const pc = read(regs + A.S_PC) ?? 0;
        const lr = read(regs + A.S_LR!) ?? 0;
        const x9 = read(regs + (A.S_X0 ?? 0) + 9 * 8) ?? 0;
        const fp = read(regs + A.S_FP!) ?? 0;
        const sp = read(regs + A.S_SP!) ?? 0;
        const iMasked = (pstate & 0x80) !== 0;
        const tag = `pt_regs@${hex(regs)}`;
        const notes: [number, string][] = [
          [regs + (A.S_X0 ?? 0) + 9 * 8, `⟦${tag}.regs[9] x9: interrupted x9${sym(x9)}⟧`],
          [regs + A.S_FP!, `⟦${tag}.regs[29] fp: interrupted x29⟧`],
          [regs + A.S_LR!, `⟦${tag}.regs[30] lr: interrupted x30${sym(lr)}⟧`],
          [regs + A.S_SP!, `⟦${tag}.sp: interrupted sp⟧`],
          [regs + A.S_PC, `⟦${tag}.pc: interrupted pc${sym(pc)}⟧`],
          [regs + A.S_PSTATE!, `⟦${tag}.pstate: EL1h${iMasked ? ', IRQs masked (a pseudo-NMI hit here)' : ''}⟧`],
        ];
        const summary = `exception frame (pt_regs at ${hex(regs)} on the ${st.type} stack): pc ${hex(pc)}${sym(pc)}, lr/x30 ${hex(lr)}${sym(lr)}, x9 ${hex(x9)}${sym(x9)}, fp ${hex(fp)}, sp ${hex(sp)}, pstate ${hex(pstate)}${iMasked ? ' (I set)' : ''}`;
        notes.push([rec, `⟦${tag}.stackframe: {0, 0} record, type PT_REGS: the boundary of an ${summary}⟧`]);
        out.push({
          regs,
          region: st.region,
          summary,
          fields: notes.map(([a]) => a).sort((a, b) => a - b),
          notes,
        });
      }
    }
    if (snap.arch === 'powerpc64' && A.STACK_INT_FRAME_MARKER !== undefined && A.STACK_INT_FRAME_REGS !== undefined && A.NIP !== undefined) {
      // An interrupt frame: the "regs" marker above its back chain, pt_regs above that, MSR without PR (from the kernel).
      for (let sp = r.base; sp + A.STACK_INT_FRAME_REGS + (A.PT_REGS_SIZE ?? 384) <= r.base + r.size; sp += 16) {
        if (read(sp + A.STACK_INT_FRAME_MARKER) !== A.STACK_FRAME_REGS_MARKER) continue;
        const regs = sp + A.STACK_INT_FRAME_REGS;
        const msr = read(regs + A.MSR!) ?? 0;
        if ((msr & (A.MSR_PR ?? 0x4000)) !== 0) continue;
        const nip = read(regs + A.NIP) ?? 0;
        const lr = read(regs + A.LINK!) ?? 0;
        const r0 = read(regs + A.GPR0!) ?? 0;
        const r1 = read(regs + A.GPR1!) ?? 0;
        const tag = `pt_regs@${hex(regs)}`;
        const summary = `interrupt frame (pt_regs at ${hex(regs)} on the ${st.type} stack): nip ${hex(nip)}${sym(nip)}, lr ${hex(lr)}${sym(lr)}, r0 ${hex(r0)}${sym(r0)}, r1 ${hex(r1)}`;
        const notes: [number, string][] = [
          [sp + A.STACK_INT_FRAME_MARKER, `⟦"regs" marker: the boundary of an ${summary}⟧`],
          [regs + A.GPR0!, `⟦${tag}.gpr[0]: interrupted r0${sym(r0)}⟧`],
          [regs + A.GPR1!, `⟦${tag}.gpr[1]: interrupted r1⟧`],
          [regs + A.NIP, `⟦${tag}.nip: interrupted pc${sym(nip)}⟧`],
          [regs + A.LINK!, `⟦${tag}.link: interrupted LR${sym(lr)}⟧`],
        ];
        out.push({ regs, region: st.region, summary, fields: notes.map(([a]) => a).sort((a, b) => a - b), notes });
      }
    }
    if (snap.arch === 'riscv64' && A.S_STACKFRAME !== undefined && A.S_STACKFRAME_TYPE !== undefined && A.PT_EPC !== undefined) {
      // The series' pt_regs: a zeroed {fp, ra} record typed PT_REGS, in a pt_regs whose status says S-mode.
      for (let rec = r.base + A.S_STACKFRAME; rec + 24 <= r.base + r.size; rec += 8) {
        const regs = rec - A.S_STACKFRAME;
        if (!inRegion(regs, A.PT_REGS_SIZE ?? 320)) continue;
        if (read(rec) !== 0 || read(rec + 8) !== 0) continue;
        if (read(regs + A.S_STACKFRAME_TYPE) !== (A.FRAME_META_TYPE_PT_REGS ?? 2)) continue;
        const status = read(regs + A.PT_STATUS!) ?? 0;
        if ((status & (A.SR_SPP ?? 0x100)) === 0) continue;
        const epc = read(regs + A.PT_EPC) ?? 0;
        const ra = read(regs + A.PT_RA!) ?? 0;
        const t0 = read(regs + A.PT_T0!) ?? 0;
        const s0 = read(regs + A.PT_S0!) ?? 0;
        const sp = read(regs + A.PT_SP!) ?? 0;
        const tag = `pt_regs@${hex(regs)}`;
        const notes: [number, string][] = [
          [regs + A.PT_EPC, `⟦${tag}.epc: interrupted pc${sym(epc)}⟧`],
          [regs + A.PT_RA!, `⟦${tag}.ra: interrupted ra${sym(ra)}⟧`],
          [regs + A.PT_SP!, `⟦${tag}.sp: interrupted sp⟧`],
          [regs + A.PT_T0!, `⟦${tag}.t0: interrupted t0${sym(t0)}⟧`],
          [regs + A.PT_S0!, `⟦${tag}.s0: interrupted s0 (fp)⟧`],
          [regs + A.PT_STATUS!, `⟦${tag}.status: SPP set (trap from S-mode)⟧`],
        ];
        const summary = `exception frame (pt_regs at ${hex(regs)} on the ${st.type} stack): epc ${hex(epc)}${sym(epc)}, ra ${hex(ra)}${sym(ra)}, t0 ${hex(t0)}${sym(t0)}, s0 ${hex(s0)}, sp ${hex(sp)}`;
        notes.push([rec, `⟦${tag}.stackframe: {0, 0} record, type PT_REGS: the boundary of an ${summary}⟧`]);
        out.push({ regs, region: st.region, summary, fields: notes.map(([a]) => a).sort((a, b) => a - b), notes });
      }
    }
    if (snap.arch === 'x86_64' && A.PT_CS !== undefined && A.PT_RIP !== undefined) {
      const kcs = A.KERNEL_CS ?? 0x10;
      for (let regs = r.base; regs + (A.PT_REGS_SIZE ?? 168) <= r.base + r.size; regs += 8) {
        // Most words are no KERNEL_CS: tested on the raw bytes first.
        const o = regs + A.PT_CS - r.base;
        if (o >= 0 && o + 8 <= r.size && (r.view.getUint32(o, true) !== kcs || r.view.getUint32(o + 4, true) !== 0)) continue;
        if (read(regs + A.PT_CS) !== kcs) continue;
        const ip = read(regs + A.PT_RIP) ?? 0;
        const sp = read(regs + A.PT_RSP!) ?? 0;
        if (!snap.syms.lookup(ip) || !snap.stacks.some((s2) => snap.mem.find(sp, 8)?.name === s2.region)) continue;
        const bp = read(regs + A.PT_RBP!) ?? 0;
        const tag = `pt_regs@${hex(regs)}`;
        const notes: [number, string][] = [
          [regs + A.PT_RBP!, `⟦${tag}.bp: interrupted rbp⟧`],
          [regs + A.PT_RIP, `⟦${tag}.ip: interrupted rip${sym(ip)}⟧`],
          [regs + A.PT_RSP!, `⟦${tag}.sp: interrupted rsp⟧`],
        ];
        const summary = `exception frame (pt_regs at ${hex(regs)} on the ${st.type} stack): ip ${hex(ip)}${sym(ip)}, sp ${hex(sp)}, bp ${hex(bp)}`;
        notes.push([regs + A.PT_CS, `⟦${tag}.cs: KERNEL_CS: the boundary of an ${summary}⟧`]);
        out.push({
          regs,
          region: st.region,
          summary,
          fields: notes.map(([a]) => a).sort((a, b) => a - b),
          notes,
        });
      }
    }
  }
  return out;
}

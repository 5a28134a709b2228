/**
 * objtool-like build-time analysis of arm64 code. Follows control flow from SYM_FUNC starts,
 * UNWIND_HINTs and jumps, tracks where the return address is (LR, the frame record, unknown),
 * whether X29 holds the function's own frame record, and the SP depth; emits the arm64 unwind
 * table (Arm64MetaEntry[], each entry covering up to the next ip) and findings.
 *
 * Table semantics (for unwinder writers):
 * - type 'call' (SYM_FUNC code): ra 'lr' = the return address is in LR and X29 is still the
 *   caller's record (cfaSpOffset = CFA - SP); ra 'frame' with fp 'own' = X29 points at this
 *   function's {fp, lr} record, which holds the return address; 'unknown' = neither is known.
 * - type 'regs' (UNWIND_HINT_REGS): X29 points at pt_regs->stackframe of an exception frame.
 * - type 'end_of_stack' (UNWIND_HINT_END_OF_STACK): X29 points at the FINAL record.
 * - type 'undefined' (UNWIND_HINT_UNDEFINED) or no type with ra 'unknown': nothing is known; reject.
 * Code the analyser never reached (SYM_CODE without hints, BPF JIT, EFI, PLT, STACK_FRAME_NON_STANDARD)
 * has ra/fp 'unknown'. Every text block ends with an 'unknown' entry.
 */
import { Mode, Op, REG_FP, REG_LR, REG_SP, type Hint, type Insn, type Program } from '../isa/arm64/assembler';
import type { KSymbol } from '../machine/symbols';
import type { Finding } from '../scene/types';
import type { Arm64MetaEntry } from '../snapshot/types';
import { hex, unhex } from '../snapshot/io';

interface State {
  /** Hint-described state (entry code); undefined for ordinary function code. */
  hint?: 'regs' | 'end_of_stack' | 'undefined';
  ra: 'lr' | 'frame' | 'unknown';
  fp: 'own' | 'caller' | 'unknown';
  /** CFA - SP in bytes (NaN when unknown). */
  depth: number;
  /** Depth of the saved {x29, x30} record (NaN when none). */
  rec: number;
  /** The saved record holds the true return address. */
  recOk: boolean;
}

export interface Arm64Analysis {
  table: Arm64MetaEntry[];
  findings: Finding[];
}

const ENTRY: State = { ra: 'lr', fp: 'caller', depth: 0, rec: NaN, recOk: false };
const same = (a: State, b: State) =>
  a.hint === b.hint && a.ra === b.ra && a.fp === b.fp && Object.is(a.depth, b.depth) && Object.is(a.rec, b.rec) && a.recOk === b.recOk;

function hintState(h: Hint['type']): State {
  if (h === 'func') return { ...ENTRY };
  return { hint: h, ra: 'unknown', fp: 'unknown', depth: NaN, rec: NaN, recOk: false };
}

/** Registers an instruction writes (besides memory). */
function writes(i: Insn): number[] {
  switch (i.op) {
    case Op.MOV_R:
    case Op.MOV_I:
    case Op.ADD_I:
    case Op.SUB_I:
    case Op.ADD_R:
    case Op.SUB_R:
    case Op.ADR:
    case Op.MRS:
      return [i.rd];
    case Op.LDR:
      return i.mode === Mode.Offset ? [i.rd] : [i.rd, i.rn];
    case Op.LDP:
      return i.mode === Mode.Offset ? [i.rd, i.rt2] : [i.rd, i.rt2, i.rn];
    case Op.STR:
    case Op.STP:
      return i.mode === Mode.Offset ? [] : [i.rn];
    case Op.BL:
    case Op.BLR:
      return [REG_LR];
    case Op.PSEUDO:
      return i.sys === 'KPROBE_HIT' ? [] : i.rd < 31 ? [i.rd] : [];
    case Op.JUNK:
      return [];
    default:
      return [];
  }
}

interface Ctx {
  prog: Program;
  sym: (addr: number) => KSymbol | undefined;
  findings: Finding[];
}

/** State after `i` (ordinary function code). */
function step(s: State, i: Insn, fn: KSymbol, ctx: Ctx): State {
  if (s.hint) {
    // Hint states last until X29 is rewritten (pt_regs are found through X29).
    if (s.hint !== 'undefined' && writes(i).includes(REG_FP)) return hintState('undefined');
    return s;
  }
  const n: State = { ...s };
  const d = s.depth;
  switch (i.op) {
    case Op.STP:
    case Op.STR:
      if (i.rn === REG_SP) {
        const after = i.mode === Mode.Pre ? d - i.imm : d;
        const at = i.mode === Mode.Post ? d : i.mode === Mode.Pre ? after : d - i.imm;
        if (i.op === Op.STP && i.rd === REG_FP && i.rt2 === REG_LR) {
          n.rec = at;
          n.recOk = s.ra === 'lr' || s.ra === 'frame';
        }
        n.depth = i.mode === Mode.Post ? d - i.imm : after;
      }
      return n;
    case Op.LDP:
    case Op.LDR: {
      if (i.rn === REG_SP) {
        const at = i.mode === Mode.Pre ? d - i.imm : i.mode === Mode.Post ? d : d - i.imm;
        const w = writes(i);
        if (i.op === Op.LDP && i.rd === REG_FP && i.rt2 === REG_LR && at === s.rec) {
          n.fp = 'caller';
          n.ra = 'lr';
          n.rec = NaN;
        } else {
          if (w.includes(REG_FP)) n.fp = 'unknown';
          if (w.includes(REG_LR)) n.ra = s.ra === 'frame' ? 'frame' : 'unknown';
        }
        if (i.mode !== Mode.Offset) n.depth = d - i.imm;
      } else {
        if (writes(i).includes(REG_FP)) n.fp = 'unknown';
        if (writes(i).includes(REG_LR) && s.ra === 'lr') n.ra = 'unknown';
      }
      return n;
    }
    case Op.MOV_R:
      if (i.rd === REG_FP && i.rn === REG_SP) {
        n.fp = d === s.rec ? 'own' : 'unknown';
        if (n.fp === 'own') n.ra = s.recOk ? 'frame' : 'unknown';
        return n;
      }
      if (i.rd === REG_SP) {
        n.depth = i.rn === REG_FP && s.fp === 'own' ? s.rec : NaN;
        return n;
      }
      break;
    case Op.ADD_I:
    case Op.SUB_I:
      if (i.rd === REG_SP && i.rn === REG_SP) {
        n.depth = i.op === Op.SUB_I ? d + i.imm : d - i.imm;
        return n;
      }
      if (i.rd === REG_SP) {
        n.depth = NaN;
        return n;
      }
      if (i.rd === REG_FP && i.rn === REG_SP && i.op === Op.ADD_I) {
        n.fp = d - i.imm === s.rec ? 'own' : 'unknown';
        if (n.fp === 'own') n.ra = s.recOk ? 'frame' : 'unknown';
        return n;
      }
      break;
    case Op.BL:
    case Op.BLR: {
      const target = i.op === Op.BL ? ctx.sym(i.target) : undefined;
      if (target && target.kind === 'ftrace-trampoline') return n; // patched call site: LR is restored
      if (s.fp !== 'own' && !fn.nonStandard) {
        ctx.findings.push({
          severity: 'warning',
          kind: 'fp-protocol',
          fn: fn.name,
          addr: i.addr,
          message: `${fn.name}+0x${(i.addr - fn.start).toString(16)}: call without frame pointer save/setup (${i.text})`,
        });
      }
      if (s.ra === 'lr') n.ra = 'unknown';
      return n;
    }
    case Op.RET:
    case Op.B:
      // objtool: "return with modified stack frame" / "sibling call with modified stack frame"
      if ((i.op === Op.RET || i.crossFn) && !fn.nonStandard && (s.ra !== 'lr' || s.fp !== 'caller' || s.depth !== 0)) {
        ctx.findings.push({
          severity: 'warning',
          kind: 'stack-state-mismatch',
          fn: fn.name,
          addr: i.addr,
          message: `${fn.name}+0x${(i.addr - fn.start).toString(16)}: ${i.op === Op.RET ? 'return' : 'sibling call'} with modified stack frame (${i.text})`,
        });
      }
      return n;
    default:
      break;
  }
  const w = writes(i);
  if (w.includes(REG_FP)) n.fp = 'unknown';
  if (w.includes(REG_LR) && s.ra === 'lr') n.ra = 'unknown';
  if (w.includes(REG_SP)) n.depth = NaN;
  return n;
}

/** Successors within the same symbol (fallthrough and local branches). */
function successors(i: Insn): number[] {
  switch (i.op) {
    case Op.RET:
    case Op.BR:
    case Op.ERET:
      return [];
    case Op.B:
      return i.crossFn ? [] : [i.target];
    case Op.CBZ:
    case Op.CBNZ:
      return i.crossFn ? [i.addr + 4] : [i.addr + 4, i.target];
    default:
      return [i.addr + 4];
  }
}

function toEntry(ip: number, s: State | undefined): Arm64MetaEntry {
  if (!s) return { ip: hex(ip), ra: 'unknown', fp: 'unknown' };
  if (s.hint === 'regs' || s.hint === 'end_of_stack') return { ip: hex(ip), ra: 'frame', fp: 'own', type: s.hint };
  if (s.hint === 'undefined') return { ip: hex(ip), ra: 'unknown', fp: 'unknown', type: 'undefined' };
  return { ip: hex(ip), ra: s.ra, fp: s.fp, ...(s.fp === 'caller' && Number.isFinite(s.depth) ? { cfaSpOffset: s.depth } : {}), type: 'call' };
}

/**
 * The first symbol (in start order) containing an address: a binary search when no two symbols
 * overlap (the usual case), the linear search otherwise.
 */
function symbolLookup<S extends { start: number; end: number }>(sorted: readonly S[]): (addr: number) => S | undefined {
  const linear = (addr: number) => sorted.find((s) => addr >= s.start && addr < s.end);
  for (let k = 1; k < sorted.length; k++) if (sorted[k]!.start < sorted[k - 1]!.end) return linear;
  return (addr) => {
    let lo = 0;
    let hi = sorted.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = sorted[mid]!;
      if (addr < s.start) hi = mid - 1;
      else if (addr >= s.end) lo = mid + 1;
      else return s;
    }
    return undefined;
  };
}

export function analyseArm64(prog: Program): Arm64Analysis {
  const sorted = [...prog.symbols].sort((a, b) => a.start - b.start);
  const sym = symbolLookup(sorted);
  const findings: Finding[] = [];
  const ctx: Ctx = { prog, sym, findings };
  const states = new Map<number, State>();
  const hintAt = new Map(prog.hints.map((h) => [h.addr, h.type]));

  const flow = (start: number, s0: State) => {
    const work: [number, State][] = [[start, s0]];
    while (work.length) {
      const [addr, st0] = work.pop()!;
      const i = prog.insnAt(addr);
      const fn = sym(addr);
      if (!i || !fn) continue;
      const h = hintAt.get(addr);
      const st = h !== undefined && addr !== start ? hintState(h) : st0;
      const old = states.get(addr);
      if (old) {
        if (same(old, st)) continue;
        if (!old.hint && !st.hint && (old.ra !== st.ra || old.fp !== st.fp)) {
          findings.push({ severity: 'warning', kind: 'stack-state-mismatch', fn: fn.name, addr, message: `${fn.name}+0x${(addr - fn.start).toString(16)}: stack state mismatch between paths` });
        }
        continue;
      }
      states.set(addr, st);
      const next = step(st, i, fn, ctx);
      for (const t of successors(i)) if (t >= fn.start && t < fn.end) work.push([t, next]);
    }
  };

  for (const s of sorted) {
    if (s.kind !== 'func' || prog.declared.get(s.name) === 'code') continue;
    if (s.region !== 'kernel-text' && s.region !== 'module-text') continue;
    if (s.nonStandard) {
      findings.push({ severity: 'warning', kind: 'non-standard-skipped', fn: s.name, addr: s.start, message: `${s.name}: STACK_FRAME_NON_STANDARD, not validated; no unwind metadata` });
      continue;
    }
    flow(s.start, { ...ENTRY });
  }
  for (const h of prog.hints) {
    const s = sym(h.addr);
    if (s && !s.nonStandard && !states.has(h.addr)) flow(h.addr, hintState(h.type));
  }

  // Reachability: from function starts, hints, and every jump/call/ADR target of reached code.
  const reached = new Set<number>();
  const todo: number[] = [...sorted.filter((s) => prog.declared.get(s.name) !== 'code').map((s) => s.start), ...prog.hints.map((h) => h.addr)];
  while (todo.length) {
    const a = todo.pop()!;
    if (reached.has(a)) continue;
    const i = prog.insnAt(a);
    if (!i) continue;
    reached.add(a);
    if (i.op === Op.B || i.op === Op.BL || i.op === Op.CBZ || i.op === Op.CBNZ || i.op === Op.ADR || (i.op === Op.MOV_I && i.ref)) {
      const t = i.op === Op.MOV_I ? i.imm : i.target;
      if (prog.insnAt(t)) todo.push(t);
    }
    if (i.op === Op.RET || i.op === Op.BR || i.op === Op.ERET || i.op === Op.B) continue;
    todo.push(a + 4);
  }
  for (const s of sorted) {
    if (prog.declared.get(s.name) !== 'code') continue;
    for (let a = s.start; a < s.end; a += 4) {
      if (reached.has(a)) continue;
      let e = a;
      while (e < s.end && !reached.has(e)) e += 4;
      findings.push({
        severity: 'warning',
        kind: 'unreachable-instruction',
        fn: s.name,
        addr: a,
        message: `${s.name}+0x${(a - s.start).toString(16)}: unreachable instruction (${(e - a) / 4} instruction(s) reached neither by a jump nor by an UNWIND_HINT)`,
      });
      a = e;
    }
  }

  // The table: one entry per change of state, over every text block.
  const table: Arm64MetaEntry[] = [];
  let prev = '';
  for (const b of prog.blocks) {
    for (let a = b.base; a < b.end; a += 4) {
      const e = toEntry(a, states.get(a));
      const key = JSON.stringify({ ...e, ip: 0 });
      const atSym = sorted.some((s) => s.start === a);
      if (key !== prev || atSym) table.push(e);
      prev = key;
    }
    table.push({ ip: hex(b.end), ra: 'unknown', fp: 'unknown' });
    prev = '';
  }
  table.sort((x, y) => unhex(x.ip) - unhex(y.ip));
  const dedup = table.filter((e, k) => k + 1 >= table.length || table[k + 1]!.ip !== e.ip);
  return { table: dedup, findings };
}

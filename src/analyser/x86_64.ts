/**
 * objtool-like build-time analyser for the x86_64 kernel image (tools/objtool/check.c, orc_gen.c).
 * Follows control flow from every SYM_FUNC start and every unwind hint (and from jumps into
 * SYM_CODE; like objtool, never from a call into its target), tracks the CFA (base register + offset) and where the caller's rbp is saved at every
 * instruction, and emits an ORC table with the semantics of arch/x86/kernel/unwind_orc.c.
 * Findings are data, never exceptions.
 */
import { OP, RBP, RSP, type Hint, type Insn, type Program, type SymInfo } from '../isa/x86_64/assembler';
import type { Finding } from '../scene/types';
import type { OrcEntry } from '../snapshot/types';
import { hex } from '../snapshot/io';

type StType = 'call' | 'regs' | 'regs_partial' | 'undefined' | 'end_of_stack';

/** Stack state before an instruction. Offsets are relative to the CFA (for regs types: to the regs base). */
export interface StackState {
  type: StType;
  /** rsp - CFA, or null when unknown. */
  sp: number | null;
  /** rbp - CFA when rbp points into this frame, else null. */
  bp: number | null;
  /** The CFA is computed from rbp (a standard frame was set up). */
  useBp: boolean;
  /** Where the caller's rbp is saved, relative to the CFA. */
  bpSaved: number | null;
  /** rbp still holds the caller's value. */
  bpCallers: boolean;
  /**
   * objtool's stack swizzle (call_on_stack()): `mov %rsp, (%reg)` records reg and the rsp it saved;
   * `mov %reg, %rsp` then switches stacks, and `pop %rsp` restores the saved rsp.
   */
  swz?: { reg: number; sp: number | null; switched: boolean };
}

export interface AnalysisResult {
  orc: OrcEntry[];
  findings: Finding[];
  /** State before each analysed instruction (for tests and reports). */
  states: Map<number, StackState>;
}

const FUNC_STATE: StackState = { type: 'call', sp: -8, bp: null, useBp: false, bpSaved: null, bpCallers: true };

const key = (s: StackState): string =>
  s.type === 'undefined' || s.type === 'end_of_stack' ? s.type : `${s.type}|${s.useBp ? `bp${s.bp}` : `sp${s.sp}`}|${s.bpSaved}`;

function fromHint(h: Hint, sym: SymInfo | undefined, addr: number): StackState {
  switch (h.type) {
    case 'func':
      return { ...FUNC_STATE };
    case 'regs':
    case 'regs_partial':
      return { type: h.type, sp: -h.spOffset, bp: null, useBp: false, bpSaved: null, bpCallers: false };
    case 'end_of_stack':
    case 'entry':
      return { type: 'end_of_stack', sp: null, bp: null, useBp: false, bpSaved: null, bpCallers: false };
    case 'empty':
      // UNWIND_HINT_EMPTY: at a kernel entry point it marks the end of the stack (Josh's
      // UNWIND_HINT_ENTRY), elsewhere the state is undefined (UNWIND_HINT_UNDEFINED).
      return { type: sym?.entry && sym.start === addr ? 'end_of_stack' : 'undefined', sp: null, bp: null, useBp: false, bpSaved: null, bpCallers: false };
    default:
      return { type: 'undefined', sp: null, bp: null, useBp: false, bpSaved: null, bpCallers: false };
  }
}

function clobberBp(s: StackState): void {
  s.bp = null;
  s.useBp = false;
  s.bpCallers = false;
}

function popRbp(s: StackState): void {
  if (s.bpSaved !== null && s.sp !== null && s.sp === s.bpSaved) {
    s.bpSaved = null;
    s.bpCallers = true;
    s.bp = null;
    s.useBp = false;
  } else clobberBp(s);
}

/** Effect of one instruction on the stack state. */
function apply(i: Insn, s: StackState): void {
  const adj = (d: number): void => {
    if (s.sp !== null) s.sp += d;
  };
  switch (i.op) {
    case OP.PUSH_R:
      adj(-8);
      if (i.r2 === RBP && s.bpCallers && s.bpSaved === null && s.sp !== null) s.bpSaved = s.sp;
      break;
    case OP.PUSH_I:
    case OP.PUSH_M:
    case OP.PUSHF:
      adj(-8);
      break;
    case OP.POP_R:
      if (i.r1 === RSP) {
        s.sp = s.swz?.switched ? s.swz.sp : null;
        delete s.swz;
      }
      else {
        if (i.r1 === RBP) popRbp(s);
        adj(8);
      }
      break;
    case OP.POPF:
      adj(8);
      break;
    case OP.MOV_RM:
      if (i.r1 === RSP && i.r2 >= 0 && i.disp === 0) s.swz = { reg: i.r2, sp: s.sp, switched: false };
      break;
    case OP.MOV_RR:
      if (i.r1 === RSP && s.swz && !s.swz.switched && i.r2 === s.swz.reg) {
        s.swz = { ...s.swz, switched: true };
        s.sp = null;
      } else if (i.r1 === RSP) s.sp = i.r2 === RBP && s.bp !== null ? s.bp : null;
      else if (i.r1 === RBP) {
        if (i.r2 === RSP && s.sp !== null) {
          const std = s.bpSaved !== null && s.bpSaved === s.sp;
          s.bp = s.sp;
          s.bpCallers = false;
          s.useBp = std;
        } else clobberBp(s);
      }
      break;
    case OP.LEA:
      if (i.r1 === RSP) s.sp = i.r2 === RSP && s.sp !== null ? s.sp + i.disp : i.r2 === RBP && s.bp !== null ? s.bp + i.disp : null;
      else if (i.r1 === RBP) clobberBp(s);
      break;
    case OP.ADD_IR:
    case OP.SUB_IR:
      if (i.r1 === RSP) adj(i.op === OP.ADD_IR ? i.imm : -i.imm);
      else if (i.r1 === RBP) clobberBp(s);
      break;
    case OP.MOV_MR:
      // A load of rsp from memory is a stack switch (__switch_to_asm): the stack switched to was
      // saved by the same code in the same state, so the state carries over.
      if (i.r1 === RBP) clobberBp(s);
      break;
    case OP.MOV_IR:
    case OP.XOR_RR:
    case OP.ADD_RR:
    case OP.SUB_RR:
    case OP.BODY:
      if (i.r1 === RSP) s.sp = null;
      else if (i.r1 === RBP) clobberBp(s);
      break;
    case OP.LEAVE:
      s.sp = s.bp;
      popRbp(s);
      adj(8);
      break;
    default:
      break;
  }
}

function orcFor(ip: number, s: StackState | undefined): OrcEntry {
  const undef: OrcEntry = { ip: hex(ip), spReg: 'undefined', spOffset: 0, bpReg: 'undefined', bpOffset: 0, type: 'undefined' };
  if (!s || s.type === 'undefined') return undef;
  if (s.type === 'end_of_stack') return { ...undef, type: 'end_of_stack' };
  if (s.type === 'regs' || s.type === 'regs_partial') {
    if (s.sp === null) return undef;
    return { ip: hex(ip), spReg: 'sp', spOffset: -s.sp, bpReg: 'undefined', bpOffset: 0, type: s.type, signal: true };
  }
  const bpPart = s.bpSaved !== null ? { bpReg: 'prev_sp' as const, bpOffset: s.bpSaved } : { bpReg: 'undefined' as const, bpOffset: 0 };
  if (s.useBp && s.bp !== null) return { ip: hex(ip), spReg: 'bp', spOffset: -s.bp, ...bpPart, type: 'call' };
  if (s.sp !== null) return { ip: hex(ip), spReg: 'sp', spOffset: -s.sp, ...bpPart, type: 'call' };
  return undef;
}

export interface AnalyseOptions {
  /** Regions whose code is analysed and covered by ORC (kernel and module text). */
  regions: ReadonlySet<string>;
}

export function analyse(p: Program, opts: AnalyseOptions): AnalysisResult {
  const findings: Finding[] = [];
  const states = new Map<number, StackState>();
  const syms = p.symbols.filter((s) => opts.regions.has(s.region));
  const symAt = (addr: number): SymInfo | undefined => syms.find((s) => addr >= s.start && addr < s.end);
  const warned = new Set<string>();
  const warn = (kind: Finding['kind'], sym: SymInfo, addr: number, message: string, once = `${kind}:${sym.name}`): void => {
    if (warned.has(once)) return;
    warned.add(once);
    findings.push({ severity: 'warning', kind, fn: sym.name, addr, message });
  };
  const off = (sym: SymInfo, addr: number): string => `${sym.name}+0x${(addr - sym.start).toString(16)}`;

  const work: [number, StackState][] = [];
  for (const s of syms) {
    if (s.nonStandard) {
      warn('non-standard-skipped', s, s.start, `${s.name}: STACK_FRAME_NON_STANDARD, not validated; no ORC (unwinding from it is unreliable)`);
      continue;
    }
    if (s.form === 'func') work.push([s.start, { ...FUNC_STATE }]);
  }
  for (const [addr, h] of p.hints) {
    const s = symAt(addr);
    if (s && !s.nonStandard) work.push([addr, fromHint(h, s, addr)]);
  }

  while (work.length) {
    let [addr, st] = work.pop()!;
    for (;;) {
      const i = p.byAddr.get(addr);
      const sym = symAt(addr);
      if (!i || !sym || sym.nonStandard) break;
      const h = p.hints.get(addr);
      if (h) st = fromHint(h, sym, addr);
      const prev = states.get(addr);
      if (prev) {
        if (!h && key(prev) !== key(st)) {
          warn('stack-state-mismatch', sym, addr, `${off(sym, addr)}: stack state mismatch: ${key(prev)} vs ${key(st)}`, `mm:${addr}`);
        }
        break;
      }
      states.set(addr, { ...st });
      const s: StackState = { ...st };
      const fpChecks = sym.form === 'func' && !p.fpNonStandard.has(sym.name) && s.type === 'call';
      // Transfers out of the instruction.
      if (i.op === OP.CALL || i.op === OP.CALL_R) {
        if (fpChecks && !(s.useBp && s.bpSaved === -16)) {
          warn('fp-protocol', sym, addr, `${off(sym, addr)}: call without frame pointer save/setup`);
        }
      }
      if (i.op === OP.RET && s.type === 'call' && (s.sp !== -8 || s.bpSaved !== null)) {
        warn('undefined-stack-state', sym, addr, `${off(sym, addr)}: return with modified stack frame`);
      }
      if (i.op === OP.CALL && symAt(i.target) === sym && i.target !== sym.start) {
        // Intra-function call (ANNOTATE_INTRA_FUNCTION_CALL): a push of the return address and a
        // jump; what follows it is reached only if something returns there.
        if (s.sp !== null) s.sp -= 8;
        work.push([i.target, { ...s }]);
        break;
      }
      apply(i, s);
      if (i.op === OP.JMP || i.op === OP.JZ || i.op === OP.JNZ) {
        const t = symAt(i.target);
        if (t === sym) work.push([i.target, { ...s }]);
        else if (t && t.start === i.target && t.form === 'func') {
          if (s.type === 'call' && (s.sp !== -8 || s.bpSaved !== null)) {
            warn('undefined-stack-state', sym, addr, `${off(sym, addr)}: sibling call from callable instruction with modified stack frame`);
          }
        } else if (t) work.push([i.target, { ...s }]);
        if (i.op === OP.JMP) break;
      }
      if (i.op === OP.RET || i.op === OP.JMP_R || i.op === OP.IRETQ || i.op === OP.SYSRETQ) break;
      addr = i.addr + i.size;
      st = s;
    }
  }

  // Unreachable instructions: SYM_CODE reached neither by a jump from known code nor by a hint.
  for (const s of syms) {
    if (s.nonStandard) continue;
    const insns = p.bySym.get(s.name) ?? [];
    // Like objtool, a trap (int3) after a call that never returns there is not reported.
    const first = insns.find((i) => !states.has(i.addr) && i.op !== OP.INT3);
    if (first) {
      const what = s.form === 'code' ? 'SYM_CODE' : 'function';
      warn('unreachable-instruction', s, first.addr, `${off(s, first.addr)}: unreachable instruction (${what} ${s.name} is reached by no jump from known code and no unwind hint)`);
    }
  }

  // ORC: one entry per state change, UNDEFINED at every symbol end and for unanalysed code.
  const raw: [number, OrcEntry][] = [];
  for (const s of syms) {
    for (const i of p.bySym.get(s.name) ?? []) raw.push([i.addr, orcFor(i.addr, s.nonStandard ? undefined : states.get(i.addr))]);
    raw.push([s.end, orcFor(s.end, undefined)]);
  }
  raw.sort((a, b) => a[0] - b[0]);
  const orc: OrcEntry[] = [];
  const same = (a: OrcEntry, b: OrcEntry): boolean =>
    a.spReg === b.spReg && a.spOffset === b.spOffset && a.bpReg === b.bpReg && a.bpOffset === b.bpOffset && a.type === b.type && !!a.signal === !!b.signal;
  for (const [, e] of raw) {
    const last = orc[orc.length - 1];
    if (last && last.ip === e.ip) {
      orc[orc.length - 1] = e.type === 'undefined' ? last : e;
      continue;
    }
    if (last && same(last, e)) continue;
    orc.push(e);
  }
  return { orc, findings, states };
}

/**
 * x86_64 AT&T-syntax assembler for the simulated kernel: text -> decoded instructions at addresses,
 * with realistic fixed sizes per form (call rel32 = 5, push = 1-2, ret = 1, ...). Code bytes are
 * not encoded: the interpreter runs the decoded form, and snapshots describe text by symbols.
 *
 * Kernel macros understood: SYM_FUNC_START/END, SYM_CODE_START/END, SYM_INNER_LABEL,
 * STACK_FRAME_NON_STANDARD, UNWIND_HINT_* (metadata, not code), JMP_NOSPEC/CALL_NOSPEC,
 * ENCODE_FRAME_POINTER, PER_CPU_VAR(x). Directives: `.kind <sym> <SymbolKind>` (or SYM_KIND(sym, kind)), `.entry <sym>`.
 * Pseudo-ops for kernel C code: `BODY n` (n instructions clobbering caller-saved registers),
 * `HOOK name` (a JS effect, e.g. prepare_ftrace_return's bookkeeping).
 */
import type { KSymbol, SymbolKind } from '../../machine/symbols';
import { splitOperands } from '../operands';
import { AsmError as SharedAsmError, Annotations, checkEnd, defineLabel, notClosed, parseDirective, resolveRef, splitLabel, type HintKind } from '../directives';

// A data property, not a re-export: a getter on this module's exports slows the interpreters' Op/OP loads.
export const AsmError = SharedAsmError;
export type AsmError = SharedAsmError;

export const REGS = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const;
export type RegName = (typeof REGS)[number];
export const RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7, R11 = 11;
const REG32: Record<string, number> = { eax: 0, ecx: 1, edx: 2, ebx: 3, esp: 4, ebp: 5, esi: 6, edi: 7, r8d: 8, r9d: 9, r10d: 10, r11d: 11, r12d: 12, r13d: 13, r14d: 14, r15d: 15 };

/** Operation codes (plain numbers: fast dispatch in the interpreter). */
export const OP = {
  PUSH_R: 1, PUSH_I: 2, PUSH_M: 3, POP_R: 4,
  MOV_RR: 5, MOV_IR: 6, MOV_MR: 7, MOV_RM: 8, MOV_IM: 9, LEA: 10,
  ADD_IR: 11, SUB_IR: 12, XOR_RR: 13, TEST_RR: 14, CMP_IR: 15,
  JZ: 16, JNZ: 17, JMP: 18, JMP_R: 19, CALL: 20, CALL_R: 21, RET: 22,
  IRETQ: 23, SYSRETQ: 24, NOP: 25, INT3: 26, LEAVE: 27, PUSHF: 28, POPF: 29, CLI: 30, STI: 31,
  HOOK: 32, BODY: 33, FENTRY: 34, ADD_RR: 35, SUB_RR: 36,
  /** A JMP patched in by a kprobe optimisation: the probed function stays live (resume in `imm`). */
  DETOUR: 37,
} as const;

export type HintType = HintKind;

export interface Hint {
  type: HintType;
  /** Offset of pt_regs / iret frame from rsp (UNWIND_HINT_REGS offset=...). */
  spOffset: number;
  text: string;
}

export interface Insn {
  addr: number;
  size: number;
  op: number;
  /** Destination / first register (-1 none). */
  r1: number;
  /** Source / memory base register (-1 none, or absolute for memory operands). */
  r2: number;
  imm: number;
  disp: number;
  /** Resolved branch target, or absolute address for symbol operands. */
  target: number;
  /** Unresolved symbol for target / imm. */
  sym?: string;
  /** Hook name (HOOK) or body seed. */
  hook?: string;
  text: string;
  line: number;
  /** Symbol containing the instruction. */
  fn: string;
}

export interface AsmUnit {
  /** Region the code goes into. */
  region: string;
  base: number;
  source: string;
  /** Default symbol kind for SYM_FUNC in this unit (e.g. 'bpf' for BPF JIT code). */
  funcKind?: SymbolKind;
  codeKind?: SymbolKind;
  module?: string;
}

export interface SymInfo extends KSymbol {
  /** 'func' for SYM_FUNC_START, 'code' for SYM_CODE_START. */
  form: 'func' | 'code';
}

export interface Program {
  insns: Insn[];
  byAddr: Map<number, Insn>;
  symbols: SymInfo[];
  /** Hints by the address of the instruction they annotate. */
  hints: Map<number, Hint>;
  labels: Map<string, number>;
  /** Instructions of each symbol, in order. */
  bySym: Map<string, Insn[]>;
  /** STACK_FRAME_NON_STANDARD_FP: frame-pointer checks skipped, stack state still tracked. */
  fpNonStandard: Set<string>;
}

interface Mem {
  base: number; // -1: absolute
  disp: number;
  dispSym?: string;
}
type Operand = { k: 'reg'; r: number; w32?: boolean } | { k: 'imm'; v: number; sym?: string } | { k: 'mem'; m: Mem } | { k: 'sym'; name: string } | { k: 'ind'; r: number };

const num = (s: string): number | undefined => {
  const t = s.trim();
  if (/^-?0x[0-9a-f]+$/i.test(t)) return t.startsWith('-') ? -parseInt(t.slice(1), 16) : parseInt(t, 16);
  if (/^-?\d+$/.test(t)) return parseInt(t, 10);
  return undefined;
};

function regOf(s: string): { r: number; w32: boolean } | undefined {
  const n = s.replace(/^%/, '').toLowerCase();
  const i = (REGS as readonly string[]).indexOf(n);
  if (i >= 0) return { r: i, w32: false };
  if (n in REG32) return { r: REG32[n]!, w32: true };
  return undefined;
}


function parseOperand(s: string, consts: Record<string, number>): Operand {
  const t = s.trim();
  if (t.startsWith('%')) {
    const r = regOf(t);
    if (!r) throw new AsmError(`bad register ${t}`);
    return { k: 'reg', r: r.r, w32: r.w32 };
  }
  if (t.startsWith('*%')) {
    const r = regOf(t.slice(1));
    if (!r) throw new AsmError(`bad register ${t}`);
    return { k: 'ind', r: r.r };
  }
  if (t.startsWith('$')) {
    const v = num(t.slice(1));
    if (v !== undefined) return { k: 'imm', v };
    const name = t.slice(1);
    if (name in consts) return { k: 'imm', v: consts[name]! };
    // `$(CONST+8)`: a constant plus a literal, as entry code writes `$(FRAME_SIZE) + 8`
    const sum = /^\(\s*(\w+)\s*\+\s*(\d+)\s*\)$/.exec(name);
    if (sum && sum[1]! in consts) return { k: 'imm', v: consts[sum[1]!]! + Number(sum[2]) };
    return { k: 'imm', v: 0, sym: name };
  }
  const pc = /^PER_CPU_VAR\((\w+)\)$/.exec(t);
  if (pc) return { k: 'mem', m: { base: -1, disp: 0, dispSym: pc[1]! } };
  const m = /^([^(]*)\(\s*(%\w+)\s*\)$/.exec(t);
  if (m) {
    const r = regOf(m[2]!);
    if (!r) throw new AsmError(`bad base register ${m[2]}`);
    const d = m[1]!.trim();
    if (!d) return { k: 'mem', m: { base: r.r, disp: 0 } };
    const v = num(d);
    if (v !== undefined) return { k: 'mem', m: { base: r.r, disp: v } };
    if (d in consts) return { k: 'mem', m: { base: r.r, disp: consts[d]! } };
    throw new AsmError(`unknown displacement ${d}`);
  }
  if (/^[\w.$]+$/.test(t)) return { k: 'sym', name: t };
  throw new AsmError(`bad operand ${t}`);
}

const fits8 = (v: number): boolean => v >= -128 && v <= 127;
const rex = (r: number): number => (r >= 8 ? 1 : 0);
/** ModRM + SIB + displacement bytes of a memory operand. */
function memBytes(m: Mem): number {
  if (m.base < 0) return 1 + 1 + 4 + 1; // gs: prefix, modrm, sib, disp32
  const sib = m.base === RSP || m.base === 12 ? 1 : 0;
  const needDisp = m.disp !== 0 || m.base === RBP || m.base === 13;
  return 1 + sib + (needDisp ? (fits8(m.disp) ? 1 : 4) : 0);
}

function blank(addr: number, op: number, size: number, text: string, line: number, fn: string): Insn {
  return { addr, size, op, r1: -1, r2: -1, imm: 0, disp: 0, target: -1, text, line, fn };
}

/** Pseudo-op for BODY: deterministic clobbers of caller-saved registers. */
const BODY_REGS = [RAX, RCX, RDX, RSI, RDI, 8, 9, 10, R11];

const BARE = new Set(['call', 'jmp', 'ret', 'nop', 'int3', 'leave', 'cli', 'sti', 'swapgs', 'je', 'jz', 'jne', 'jnz', 'iretq', 'sysretq', 'pushfq', 'popfq']);

interface Pending {
  unit: AsmUnit;
  insn: Insn;
}

/** Instruction texts already decoded (address, line and symbol aside), per constants table. */
const decodedByConsts = new WeakMap<Record<string, number>, Map<string, Insn>>();

/** Assemble several units (one per region) and link symbol references across them. */
export function assemble(units: AsmUnit[], consts: Record<string, number> = {}, externals: Record<string, number> = {}): Program {
  const insns: Insn[] = [];
  const symbols: SymInfo[] = [];
  const hints = new Map<number, Hint>();
  const labels = new Map<string, number>();
  const pending: Pending[] = [];
  const notes = new Annotations();
  let decoded = decodedByConsts.get(consts);
  if (!decoded) decodedByConsts.set(consts, (decoded = new Map()));

  for (const unit of units) {
    let pc = unit.base;
    let open: SymInfo | undefined;
    let pendingHint: Hint | undefined;
    const lines = unit.source.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' ')).split('\n');
    lines.forEach((raw, li) => {
      const line = li + 1;
      let s = raw.replace(/#.*$/, '').replace(/;\s*$/, '').trim();
      if (!s) return;
      const err = (msg: string): never => {
        throw new AsmError(`${unit.region}:${line}: ${msg}: ${raw.trim()}`);
      };
      const lab = splitLabel(s);
      if (lab) {
        defineLabel(labels, lab.name, pc, err);
        s = lab.rest;
        if (!s) return;
      }
      let mm: RegExpExecArray | null;
      const d = parseDirective(s, err);
      if (d) {
        if (notes.take(d, `${unit.region}:${line}`)) return;
        switch (d.d) {
          case 'start': {
            if (open) err(`${open.name} is not closed`);
            pc = Math.ceil(pc / 16) * 16; // functions are 16-byte aligned
            const kind: SymbolKind = d.form === 'func' ? (unit.funcKind ?? 'func') : (unit.codeKind ?? 'code');
            open = { name: d.name, start: pc, end: pc, kind, region: unit.region, form: d.form, ...(unit.module ? { module: unit.module } : {}) };
            defineLabel(labels, d.name, pc, err, 'symbol');
            return;
          }
          case 'end':
            checkEnd(open?.name, d, err);
            open!.end = pc;
            symbols.push(open!);
            open = undefined;
            return;
          case 'inner-label':
            defineLabel(labels, d.name, pc, err);
            return;
          case 'hint': {
            const off = /offset=(-?\w+)/.exec(d.args);
            pendingHint = { type: d.type, spOffset: off ? (num(off[1]!) ?? 0) : 0, text: s };
            return;
          }
          case 'unknown':
            return err(`unknown directive ${d.macro}`);
        }
      }
      if (!open) err('instruction outside SYM_*_START/END');
      const fn = open!.name;
      const emit = (i: Insn): void => {
        if (pendingHint) {
          hints.set(i.addr, pendingHint);
          pendingHint = undefined;
        }
        insns.push(i);
        pc += i.size;
      };
      // Macros and pseudo-ops.
      if ((mm = /^BODY\s+(\d+)$/.exec(s))) {
        const n = parseInt(mm[1]!, 10);
        for (let k = 0; k < n; k++) {
          const i = blank(pc, OP.BODY, 4, `BODY ${k + 1}/${n}`, line, fn);
          i.r1 = BODY_REGS[(pc >> 2) % BODY_REGS.length]!;
          i.imm = (pc * 2654435761) % 0xfffffff;
          emit(i);
        }
        return;
      }
      if ((mm = /^HOOK\s+(\w+)$/.exec(s))) {
        const i = blank(pc, OP.HOOK, 5, s, line, fn);
        i.hook = mm[1]!;
        emit(i);
        return;
      }
      // ANNOTATE_INTRA_FUNCTION_CALL and friends: objtool annotations with no code. A call whose
      // target is in the calling symbol is an intra-function call (a push and a jump) for the
      // analyser and the ground truth alike.
      if (/^ANNOTATE_[A-Z_]+$/.test(s)) return;
      if ((mm = /^(JMP|CALL)_NOSPEC\s+%?(\w+)$/.exec(s))) {
        const r = regOf(mm[2]!) ?? err('bad register');
        const i = blank(pc, mm[1] === 'JMP' ? OP.JMP_R : OP.CALL_R, 2 + rex(r.r), s, line, fn);
        i.r2 = r.r;
        emit(i);
        return;
      }
      if (s === 'ENCODE_FRAME_POINTER') {
        const i = blank(pc, OP.LEA, 5, s, line, fn);
        i.r1 = RBP;
        i.r2 = RSP;
        i.disp = 1;
        emit(i);
        return;
      }
      // The same text always decodes the same way (given the same constants): decode it once.
      const known = decoded.get(s);
      if (known) {
        const i: Insn = { ...known, addr: pc, line, fn };
        emit(i);
        if (i.sym) pending.push({ unit, insn: i });
        return;
      }
      const sp = s.search(/\s/);
      const mnem = (sp < 0 ? s : s.slice(0, sp)).toLowerCase();
      const ops = sp < 0 ? [] : splitOperands(s.slice(sp + 1)).map((o) => {
        try {
          return parseOperand(o, consts);
        } catch (e) {
          return err((e as Error).message);
        }
      });
      const i = blank(pc, OP.NOP, 1, s, line, fn);
      const base = BARE.has(mnem) ? mnem : mnem.replace(/[ql]$/, '');
      const a = ops[0];
      const b = ops[1];
      const bad = (): never => err(`unsupported form of ${mnem}`);
      switch (mnem === 'iretq' || mnem === 'sysretq' || mnem === 'popfq' || mnem === 'pushfq' ? mnem : base) {
        case 'push':
          if (a?.k === 'reg') Object.assign(i, { op: OP.PUSH_R, r2: a.r, size: 1 + rex(a.r) });
          else if (a?.k === 'imm') Object.assign(i, { op: OP.PUSH_I, imm: a.v, size: a.sym || !fits8(a.v) ? 5 : 2, ...(a.sym ? { sym: a.sym } : {}) });
          else if (a?.k === 'mem') Object.assign(i, { op: OP.PUSH_M, r2: a.m.base, disp: a.m.disp, size: 1 + memBytes(a.m), ...(a.m.dispSym ? { sym: a.m.dispSym } : {}) });
          else bad();
          break;
        case 'pop':
          if (a?.k !== 'reg') bad();
          Object.assign(i, { op: OP.POP_R, r1: (a as { r: number }).r, size: 1 + rex((a as { r: number }).r) });
          break;
        case 'mov':
          if (a?.k === 'reg' && b?.k === 'reg') Object.assign(i, { op: OP.MOV_RR, r1: b.r, r2: a.r, size: 3 });
          else if (a?.k === 'imm' && b?.k === 'reg') Object.assign(i, { op: OP.MOV_IR, r1: b.r, imm: a.v, size: a.sym || a.v > 0x7fffffff || a.v < -0x80000000 ? 10 : 7, ...(a.sym ? { sym: a.sym } : {}) });
          else if (a?.k === 'mem' && b?.k === 'reg') Object.assign(i, { op: OP.MOV_MR, r1: b.r, r2: a.m.base, disp: a.m.disp, size: 2 + memBytes(a.m), ...(a.m.dispSym ? { sym: a.m.dispSym } : {}) });
          else if (a?.k === 'reg' && b?.k === 'mem') Object.assign(i, { op: OP.MOV_RM, r1: a.r, r2: b.m.base, disp: b.m.disp, size: 2 + memBytes(b.m), ...(b.m.dispSym ? { sym: b.m.dispSym } : {}) });
          else if (a?.k === 'imm' && b?.k === 'mem') Object.assign(i, { op: OP.MOV_IM, imm: a.v, r2: b.m.base, disp: b.m.disp, size: 2 + memBytes(b.m) + 4, ...(a.sym ? { sym: a.sym } : {}) });
          else bad();
          break;
        case 'lea':
          if (a?.k !== 'mem' || b?.k !== 'reg') bad();
          Object.assign(i, { op: OP.LEA, r1: (b as { r: number }).r, r2: (a as { m: Mem }).m.base, disp: (a as { m: Mem }).m.disp, size: 2 + memBytes((a as { m: Mem }).m) });
          break;
        case 'add':
        case 'sub':
          if (a?.k === 'imm' && b?.k === 'reg') Object.assign(i, { op: base === 'add' ? OP.ADD_IR : OP.SUB_IR, r1: b.r, imm: a.v, size: fits8(a.v) ? 4 : b.r === RAX ? 6 : 7 });
          else if (a?.k === 'reg' && b?.k === 'reg') Object.assign(i, { op: base === 'add' ? OP.ADD_RR : OP.SUB_RR, r1: b.r, r2: a.r, size: 3 });
          else bad();
          break;
        case 'xor':
          if (a?.k !== 'reg' || b?.k !== 'reg') bad();
          Object.assign(i, { op: OP.XOR_RR, r1: (b as { r: number }).r, r2: (a as { r: number }).r, size: (mnem.endsWith('l') && !rex((a as { r: number }).r) && !rex((b as { r: number }).r)) ? 2 : 3 });
          break;
        case 'test':
          if (a?.k !== 'reg' || b?.k !== 'reg') bad();
          Object.assign(i, { op: OP.TEST_RR, r1: (b as { r: number }).r, r2: (a as { r: number }).r, size: 3 });
          break;
        case 'cmp':
          if (a?.k !== 'imm' || b?.k !== 'reg') bad();
          Object.assign(i, { op: OP.CMP_IR, r1: (b as { r: number }).r, imm: (a as { v: number }).v, size: fits8((a as { v: number }).v) ? 4 : 7 });
          break;
        case 'je':
        case 'jz':
        case 'jne':
        case 'jnz':
          if (a?.k !== 'sym') bad();
          Object.assign(i, { op: base === 'je' || base === 'jz' ? OP.JZ : OP.JNZ, sym: (a as { name: string }).name, size: 6 });
          break;
        case 'jmp':
        case 'call': {
          const isCall = base === 'call';
          if (a?.k === 'sym') {
            if (isCall && a.name === '__fentry__') Object.assign(i, { op: OP.FENTRY, size: 5 });
            else Object.assign(i, { op: isCall ? OP.CALL : OP.JMP, sym: a.name, size: 5 });
          } else if (a?.k === 'ind') Object.assign(i, { op: isCall ? OP.CALL_R : OP.JMP_R, r2: a.r, size: 2 + rex(a.r) });
          else bad();
          break;
        }
        case 'ret':
          i.op = OP.RET;
          break;
        case 'iretq':
          Object.assign(i, { op: OP.IRETQ, size: 2 });
          break;
        case 'sysretq':
          Object.assign(i, { op: OP.SYSRETQ, size: 3 });
          break;
        case 'nop':
          i.op = OP.NOP;
          break;
        case 'swapgs':
          Object.assign(i, { op: OP.NOP, size: 3 });
          break;
        case 'int3':
          i.op = OP.INT3;
          break;
        case 'leave':
          i.op = OP.LEAVE;
          break;
        case 'pushfq':
          i.op = OP.PUSHF;
          break;
        case 'popfq':
          i.op = OP.POPF;
          break;
        case 'cli':
          i.op = OP.CLI;
          break;
        case 'sti':
          i.op = OP.STI;
          break;
        default:
          err(`unknown mnemonic ${mnem}`);
      }
      decoded.set(s, { ...i });
      emit(i);
      if (i.sym) pending.push({ unit, insn: i });
    });
    if (open) throw notClosed(unit.region, open.name);
    if (pendingHint) throw new AsmError(`${unit.region}: hint ${pendingHint.text} annotates nothing`);
  }

  notes.apply(symbols);
  for (const { insn } of pending) {
    const v = resolveRef(labels, insn.sym!, insn.text, insn.fn, externals);
    if (insn.op === OP.PUSH_I || insn.op === OP.MOV_IR || insn.op === OP.MOV_IM) insn.imm = v;
    else if (insn.op === OP.PUSH_M || insn.op === OP.MOV_MR || insn.op === OP.MOV_RM) insn.disp = v;
    else insn.target = v;
  }
  insns.sort((x, y) => x.addr - y.addr);
  const byAddr = new Map<number, Insn>();
  const bySym = new Map<string, Insn[]>();
  for (const i of insns) {
    byAddr.set(i.addr, i);
    let l = bySym.get(i.fn);
    if (!l) bySym.set(i.fn, (l = []));
    l.push(i);
  }
  return { insns, byAddr, symbols, hints, labels, bySym, fpNonStandard: notes.fpNonStandard };
}

/** Human-readable form of an instruction, e.g. "work_b+0x8 (movq %rsp, %rbp)". */
export function describeInsn(p: Program, i: Insn): string {
  const s = p.symbols.find((x) => x.name === i.fn);
  const off = s ? i.addr - s.start : 0;
  return `${i.fn}${off ? `+0x${off.toString(16)}` : ''} (${i.text})`;
}

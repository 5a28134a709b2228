/**
 * A small arm64 assembler for the simulated kernel: text -> decoded instructions at addresses
 * (4 bytes each), labels, symbols (SYM_FUNC/SYM_CODE and top-level labels), symbol kinds,
 * STACK_FRAME_NON_STANDARD and UNWIND_HINT_* metadata (not code; consumed by the analyser).
 *
 * Registers: x0..x30, fp (x29), lr (x30), sp, xzr; case-insensitive. Register index 31 is SP,
 * 32 is XZR. Immediates may be written with or without '#'. `<name>` is a symbol reference.
 */
import { COMMON_PSEUDOS, splitOperands, bodyInsns, parseImm as parseSum, parseSymRef, pseudoInsn } from '../operands';
import { AsmError as SharedAsmError } from '../directives';
import { assembleFixed, FIXED_HINT_TYPES, type FixedBlock, type FixedHintType, type FixedIsa, type FixedProgram, type FixedUnit } from '../fixed-width';

// A data property, not a re-export: a getter on this module's exports slows the interpreters' Op/OP loads.
export const AsmError = SharedAsmError;
export type AsmError = SharedAsmError;

export enum Op {
  NOP,
  MOV_R, // rd = rn (rn may be SP)
  MOV_I, // rd = imm (any value: a literal load for addresses)
  ADD_I,
  SUB_I,
  ADD_R,
  SUB_R,
  ADR,
  LDR,
  STR,
  LDP,
  STP,
  B,
  BL,
  BR,
  BLR,
  RET,
  CBZ,
  CBNZ,
  ERET,
  MRS,
  MSR,
  JUNK, // one instruction of a BODY pseudo-op: clobbers scratch registers x0..x17
  PSEUDO, // effect of kernel C code / CPU action, handled by the machine's hooks
}

export const REG_SP = 31;
export const REG_ZR = 32;
export const REG_FP = 29;
export const REG_LR = 30;

/** Addressing mode of a load/store. */
export enum Mode {
  Offset,
  Pre,
  Post,
}

export interface Insn {
  op: Op;
  addr: number;
  rd: number;
  rn: number;
  rt2: number;
  imm: number;
  mode: Mode;
  /** Branch/ADR target once resolved. */
  target: number;
  /** B/CBZ target lies outside the symbol holding this instruction. */
  crossFn: boolean;
  /** Unresolved symbol reference (resolved in pass 2). */
  ref?: string;
  /** MRS/MSR system register, or the PSEUDO op name. */
  sys?: string;
  args?: string[];
  text: string;
}

export type { FixedHintType as HintType, FixedHint as Hint, FixedUnit as AsmUnit } from '../fixed-width';
export type TextBlock = FixedBlock<Insn>;
export type Program = FixedProgram<Insn, FixedHintType>;

const PSEUDOS = new Set([...COMMON_PSEUDOS, 'ON_TASK_STACK', 'SYNC_CLASS', 'KRETPROBE_HANDLERS']);

export function parseReg(s: string): number | undefined {
  const t = s.trim().toLowerCase();
  if (t === 'sp') return REG_SP;
  if (t === 'xzr') return REG_ZR;
  if (t === 'fp') return REG_FP;
  if (t === 'lr') return REG_LR;
  const m = /^x(\d+)$/.exec(t);
  if (m) {
    const n = Number(m[1]);
    if (n <= 30) return n;
  }
  return undefined;
}

/** An immediate, with or without '#'. */
function parseImm(s: string): number | undefined {
  const t = s.trim();
  return parseSum(t.startsWith('#') ? t.slice(1) : t);
}

function blank(op: Op, addr: number, text: string): Insn {
  return { op, addr, rd: REG_ZR, rn: REG_ZR, rt2: REG_ZR, imm: 0, mode: Mode.Offset, target: 0, crossFn: false, text };
}

/** Parse `[Xn]`, `[Xn, #imm]`, `[Xn, imm]!` and, with a following operand, `[Xn], #imm`. */
function parseMem(ops: string[], i: number, insn: Insn, err: (m: string) => never): void {
  const m = ops[i];
  if (!m) err('missing memory operand');
  const pre = /^\[(.*)\]\s*!$/.exec(m);
  const plain = /^\[(.*)\]$/.exec(m);
  const inner = (pre ?? plain)?.[1];
  if (inner === undefined) err(`bad memory operand ${m}`);
  const parts = splitOperands(inner);
  const base = parseReg(parts[0] ?? '');
  if (base === undefined || base === REG_ZR) err(`bad base register in ${m}`);
  insn.rn = base;
  const off = parts[1] !== undefined ? parseImm(parts[1]) : 0;
  if (off === undefined) err(`bad offset in ${m}`);
  insn.imm = off;
  if (pre) insn.mode = Mode.Pre;
  else if (ops[i + 1] !== undefined) {
    const post = parseImm(ops[i + 1]!);
    if (post === undefined || parts.length > 1) err(`bad post-index in ${ops.join(', ')}`);
    insn.imm = post;
    insn.mode = Mode.Post;
  }
}

function reg(s: string | undefined, err: (m: string) => never): number {
  const r = s === undefined ? undefined : parseReg(s);
  if (r === undefined) err(`bad register ${s ?? '(missing)'}`);
  return r;
}

function parseInsn(mn: string, operands: string, addr: number, text: string, err: (m: string) => never): Insn[] {
  const ops = splitOperands(operands);
  const M = mn.toUpperCase();
  const one = (op: Op): Insn => blank(op, addr, text);
  switch (M) {
    case 'NOP':
      return [one(Op.NOP)];
    case 'ERET':
      return [one(Op.ERET)];
    case 'BODY':
      return bodyInsns(parseImm(ops[0] ?? '1') ?? err('BODY needs a count'), addr, text, (a, t) => blank(Op.JUNK, a, t));
    case 'MOV': {
      const i = one(Op.MOV_R);
      i.rd = reg(ops[0], err);
      const src = ops[1] ?? err('MOV needs a source');
      const r = parseReg(src);
      if (r !== undefined) {
        i.rn = r;
        return [i];
      }
      const imm = parseImm(src);
      i.op = Op.MOV_I;
      if (imm !== undefined) i.imm = imm;
      else i.ref = parseSymRef(src) ?? err(`bad MOV source ${src}`);
      return [i];
    }
    case 'ADD':
    case 'SUB': {
      const i = one(M === 'ADD' ? Op.ADD_I : Op.SUB_I);
      i.rd = reg(ops[0], err);
      i.rn = reg(ops[1], err);
      const third = ops[2] ?? err(`${M} needs three operands`);
      const r = parseReg(third);
      if (r !== undefined) {
        i.op = M === 'ADD' ? Op.ADD_R : Op.SUB_R;
        i.rt2 = r;
      } else i.imm = parseImm(third) ?? err(`bad immediate ${third}`);
      return [i];
    }
    case 'ADR': {
      const i = one(Op.ADR);
      i.rd = reg(ops[0], err);
      i.ref = parseSymRef(ops[1] ?? '') ?? err(`bad ADR target ${ops[1]}`);
      return [i];
    }
    case 'LDR':
    case 'STR': {
      const i = one(M === 'LDR' ? Op.LDR : Op.STR);
      i.rd = reg(ops[0], err);
      parseMem(ops, 1, i, err);
      return [i];
    }
    case 'LDP':
    case 'STP': {
      const i = one(M === 'LDP' ? Op.LDP : Op.STP);
      i.rd = reg(ops[0], err);
      i.rt2 = reg(ops[1], err);
      parseMem(ops, 2, i, err);
      return [i];
    }
    case 'B':
    case 'BL': {
      const i = one(M === 'B' ? Op.B : Op.BL);
      i.ref = parseSymRef(ops[0] ?? '') ?? err(`bad branch target ${ops[0]}`);
      return [i];
    }
    case 'CBZ':
    case 'CBNZ': {
      const i = one(M === 'CBZ' ? Op.CBZ : Op.CBNZ);
      i.rd = reg(ops[0], err);
      i.ref = parseSymRef(ops[1] ?? '') ?? err(`bad branch target ${ops[1]}`);
      return [i];
    }
    case 'BR':
    case 'BLR': {
      const i = one(M === 'BR' ? Op.BR : Op.BLR);
      i.rn = reg(ops[0], err);
      return [i];
    }
    case 'RET': {
      const i = one(Op.RET);
      i.rn = ops[0] ? reg(ops[0], err) : REG_LR;
      return [i];
    }
    case 'MRS': {
      const i = one(Op.MRS);
      i.rd = reg(ops[0], err);
      i.sys = (ops[1] ?? err('MRS needs a system register')).toUpperCase();
      return [i];
    }
    case 'MSR': {
      const i = one(Op.MSR);
      i.sys = (ops[0] ?? err('MSR needs a system register')).toUpperCase();
      const src = ops[1] ?? err('MSR needs a source');
      const r = parseReg(src);
      if (r !== undefined) i.rn = r;
      else i.imm = parseImm(src) ?? err(`bad MSR source ${src}`);
      return [i];
    }
    default:
      if (PSEUDOS.has(M)) return [pseudoInsn(one(Op.PSEUDO), M, ops, parseReg)];
      return err(`unknown mnemonic ${mn}`);
  }
}

const ARM64: FixedIsa<Insn, FixedHintType> = {
  arch: 'arm64',
  hintTypes: FIXED_HINT_TYPES,
  comment: /(\/\/|;|@).*$/,
  parse: parseInsn,
  resolve(i, t, sameSymbol) {
    if (i.op === Op.MOV_I) i.imm = t;
    else i.target = t;
    if (i.op === Op.B || i.op === Op.CBZ || i.op === Op.CBNZ) i.crossFn = !sameSymbol;
  },
};

/** Assemble units (each placed at its own base) into one program; symbols resolve across units. */
export function assemble(units: FixedUnit[], externs: Record<string, number> = {}): Program {
  return assembleFixed(ARM64, units, externs);
}

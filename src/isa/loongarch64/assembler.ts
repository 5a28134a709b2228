/**
 * A small loongarch64 assembler for the simulated kernel: LA64 text (the subset the kernel's entry code,
 * context switch, ftrace and compiled C need) -> decoded instructions, 4 bytes each, with labels,
 * symbols (SYM_FUNC/SYM_CODE and top-level labels), symbol kinds, UNWIND_HINT_* and annotations.
 *
 * Registers: $r0..$r31 and their ABI names ($zero, $ra, $tp, $sp, $a0-$a7, $t0-$t8, $u0, $fp/$s9, $s0-$s8),
 * with or without the `$`. `li.d` loads any 64-bit value or symbol address, `la.pcrel` / `la.abs` a
 * symbol address, `bl` / `b` reach any symbol (single instructions here).
 */
import { COMMON_PSEUDOS, splitOperands, bodyInsns, parseImm, pseudoInsn } from '../operands';
import { AsmError as SharedAsmError } from '../directives';
import { assembleFixed, FIXED_HINT_TYPES, type FixedBlock, type FixedHintType, type FixedIsa, type FixedProgram, type FixedUnit } from '../fixed-width';

export const AsmError = SharedAsmError;
export type AsmError = SharedAsmError;

export enum Op {
  NOP,
  ADDI, // rd = rj + imm (addi.d)
  ANDI,
  ADD,
  SUB,
  AND,
  OR, // rd = rj | rk (move is or rd, rj, zero)
  LI, // rd = imm (li.d, la.*)
  LD,
  ST,
  BL, // ra = pc + 4; pc = target
  B, // pc = target
  JIRL, // rd = pc + 4; pc = rj + imm
  BEQ,
  BNE,
  CSRRD,
  CSRWR, // swap: csr <- rd, rd <- old csr
  CSRXCHG, // csr <- (csr & ~rj) | (rd & rj); rd <- old csr
  ERTN,
  JUNK, // one instruction of a BODY pseudo-op: clobbers temporaries
  PSEUDO, // effect of kernel C code / CPU action, handled by the machine's hooks
}

export const REG_ZERO = 0;
export const REG_RA = 1;
export const REG_TP = 2;
export const REG_SP = 3;
export const REG_A0 = 4;
export const REG_T0 = 12;
export const REG_FP = 22;

const ABI_NAMES: Record<string, number> = {
  zero: 0, ra: 1, tp: 2, sp: 3,
  a0: 4, a1: 5, a2: 6, a3: 7, a4: 8, a5: 9, a6: 10, a7: 11,
  t0: 12, t1: 13, t2: 14, t3: 15, t4: 16, t5: 17, t6: 18, t7: 19, t8: 20,
  u0: 21, fp: 22, s9: 22,
  s0: 23, s1: 24, s2: 25, s3: 26, s4: 27, s5: 28, s6: 29, s7: 30, s8: 31,
};
/** The ABI name of each register, by number ($r22 is written fp). */
export const REG_NAMES: readonly string[] = Object.entries(ABI_NAMES)
  .filter(([n]) => n !== 's9')
  .sort((a, b) => a[1] - b[1])
  .map(([n]) => n);

export interface Insn {
  op: Op;
  addr: number;
  rd: number;
  rj: number;
  rk: number;
  imm: number;
  /** Branch/jump/address target once resolved. */
  target: number;
  /** Branch target lies outside the symbol holding this instruction. */
  crossFn: boolean;
  /** Unresolved symbol reference (resolved in pass 2). */
  ref?: string;
  /** CSR name, or the PSEUDO op name. */
  sys?: string;
  args?: string[];
  text: string;
}

export type { FixedHintType as HintType, FixedHint as Hint, FixedUnit as AsmUnit } from '../fixed-width';
export type TextBlock = FixedBlock<Insn>;
export type Program = FixedProgram<Insn, FixedHintType>;

const PSEUDOS = new Set([...COMMON_PSEUDOS, 'ON_IRQ_STACK', 'EXC_HANDLER']);

export const CSRS: ReadonlySet<string> = new Set(['crmd', 'prmd', 'euen', 'ecfg', 'estat', 'era', 'badv', 'eentry', 'ks0', 'ks1', 'ks2', 'ks3']);

export function parseReg(s: string): number | undefined {
  const t = s.trim().toLowerCase().replace(/^\$/, '');
  if (t in ABI_NAMES) return ABI_NAMES[t];
  const m = /^r(\d+)$/.exec(t);
  if (m && Number(m[1]) <= 31) return Number(m[1]);
  return undefined;
}

function parseSymRef(s: string): string | undefined {
  const t = s.trim();
  const m = /^<\s*([A-Za-z_.$][\w.$]*)\s*>$/.exec(t) ?? /^([A-Za-z_.][\w.$]*)$/.exec(t);
  return m ? m[1] : undefined;
}

function blank(op: Op, addr: number, text: string): Insn {
  return { op, addr, rd: REG_ZERO, rj: REG_ZERO, rk: REG_ZERO, imm: 0, target: 0, crossFn: false, text };
}

function reg(s: string | undefined, err: (m: string) => never): number {
  const r = s === undefined ? undefined : parseReg(s);
  if (r === undefined) err(`bad register ${s ?? '(missing)'}`);
  return r;
}

function imm(s: string | undefined, err: (m: string) => never): number {
  return parseImm(s ?? '') ?? err(`bad immediate ${s}`);
}

function csr(s: string | undefined, err: (m: string) => never): string {
  const t = (s ?? '').trim().toLowerCase().replace(/^loongarch_csr_/, '');
  if (!CSRS.has(t)) err(`unknown CSR ${s}`);
  return t;
}

function target(i: Insn, s: string | undefined, err: (m: string) => never): void {
  i.ref = parseSymRef(s ?? '') ?? err(`bad target ${s}`);
}

function parseInsn(mn: string, operands: string, addr: number, text: string, err: (m: string) => never): Insn[] {
  const ops = splitOperands(operands);
  const M = mn.toLowerCase();
  const one = (op: Op): Insn => blank(op, addr, text);
  switch (M) {
    case 'nop':
      return [one(Op.NOP)];
    case 'ertn':
      return [one(Op.ERTN)];
    case 'body':
      return bodyInsns(parseImm(ops[0] ?? '1') ?? err('BODY needs a count'), addr, text, (a, t) => blank(Op.JUNK, a, t));
    case 'move': {
      const i = one(Op.OR);
      i.rd = reg(ops[0], err);
      i.rj = reg(ops[1], err);
      return [i];
    }
    case 'addi.d':
    case 'andi': {
      const i = one(M === 'andi' ? Op.ANDI : Op.ADDI);
      i.rd = reg(ops[0], err);
      i.rj = reg(ops[1], err);
      i.imm = imm(ops[2], err);
      return [i];
    }
    case 'add.d':
    case 'sub.d':
    case 'and':
    case 'or': {
      const i = one(M === 'add.d' ? Op.ADD : M === 'sub.d' ? Op.SUB : M === 'and' ? Op.AND : Op.OR);
      i.rd = reg(ops[0], err);
      i.rj = reg(ops[1], err);
      i.rk = reg(ops[2], err);
      return [i];
    }
    case 'li.d':
    case 'la.pcrel':
    case 'la.abs': {
      const i = one(Op.LI);
      i.rd = reg(ops[0], err);
      const v = M === 'li.d' ? parseImm(ops[1] ?? '') : undefined;
      if (v !== undefined) i.imm = v;
      else target(i, ops[1], err);
      return [i];
    }
    case 'ld.d':
    case 'st.d': {
      const i = one(M === 'ld.d' ? Op.LD : Op.ST);
      i.rd = reg(ops[0], err);
      i.rj = reg(ops[1], err);
      i.imm = ops[2] === undefined ? 0 : imm(ops[2], err);
      return [i];
    }
    case 'bl':
    case 'b': {
      const i = one(M === 'bl' ? Op.BL : Op.B);
      target(i, ops[0], err);
      return [i];
    }
    case 'jirl': {
      const i = one(Op.JIRL);
      i.rd = reg(ops[0], err);
      i.rj = reg(ops[1], err);
      i.imm = ops[2] === undefined ? 0 : imm(ops[2], err);
      return [i];
    }
    case 'jr': {
      const i = one(Op.JIRL);
      i.rj = reg(ops[0], err);
      return [i];
    }
    case 'beq':
    case 'bne':
    case 'beqz':
    case 'bnez': {
      const i = one(M.startsWith('beq') ? Op.BEQ : Op.BNE);
      i.rj = reg(ops[0], err);
      const two = M === 'beq' || M === 'bne';
      i.rd = two ? reg(ops[1], err) : REG_ZERO;
      target(i, two ? ops[2] : ops[1], err);
      return [i];
    }
    case 'csrrd': {
      const i = one(Op.CSRRD);
      i.rd = reg(ops[0], err);
      i.sys = csr(ops[1], err);
      return [i];
    }
    case 'csrwr': {
      const i = one(Op.CSRWR);
      i.rd = reg(ops[0], err);
      i.sys = csr(ops[1], err);
      return [i];
    }
    case 'csrxchg': {
      const i = one(Op.CSRXCHG);
      i.rd = reg(ops[0], err);
      i.rj = reg(ops[1], err);
      i.sys = csr(ops[2], err);
      return [i];
    }
    default:
      if (PSEUDOS.has(mn.toUpperCase())) return [pseudoInsn(one(Op.PSEUDO), mn.toUpperCase(), ops, parseReg)];
      return err(`unknown mnemonic ${mn}`);
  }
}

const LOONGARCH64: FixedIsa<Insn, FixedHintType> = {
  arch: 'loongarch64',
  hintTypes: FIXED_HINT_TYPES,
  parse: parseInsn,
  resolve(i, t, sameSymbol) {
    if (i.op === Op.LI) i.imm = t;
    i.target = t;
    if (i.op === Op.BL || i.op === Op.B || i.op === Op.BEQ || i.op === Op.BNE) i.crossFn = !sameSymbol;
  },
};

/** Assemble units (each placed at its own base) into one program; symbols resolve across units. */
export function assemble(units: FixedUnit[]): Program {
  return assembleFixed(LOONGARCH64, units);
}

/**
 * A small powerpc64 assembler for the simulated kernel: the subset of the Power ISA (64-bit, ELFv2) that
 * kernel entry, _switch, ftrace and compiled C need -> decoded instructions, 4 bytes each, with labels,
 * symbols (SYM_FUNC/SYM_CODE and top-level labels), symbol kinds and annotations.
 *
 * Registers r0..r31; special registers through mflr/mtlr, mfctr/mtctr and mfspr/mtspr (SRR0, SRR1,
 * SPRG_SCRATCH0, SPRG_PACA). Condition: cmpdi/cmpd/andi. set CR0's EQ bit, which beq/bne test.
 * `li` loads any 64-bit value here; LOAD_REG_ADDR(rD, sym) and LOAD_REG_IMMEDIATE(rD, v) are one instruction.
 */
import { COMMON_PSEUDOS, splitOperands, bodyInsns, parseImm, parseSymRef, pseudoInsn } from '../operands';
import { AsmError as SharedAsmError } from '../directives';
import { assembleFixed, FIXED_HINT_TYPES, type FixedBlock, type FixedHintType, type FixedIsa, type FixedProgram, type FixedUnit } from '../fixed-width';

export const AsmError = SharedAsmError;
export type AsmError = SharedAsmError;

export enum Op {
  NOP,
  ADDI, // rD = rA + imm (also mr, subi)
  ANDI_, // rD = rS & imm, CR0.EQ = (result == 0)
  ADD,
  SUBF, // rD = rB - rA
  LI, // rD = imm (any value; also LOAD_REG_IMMEDIATE)
  LA, // rD = symbol address (LOAD_REG_ADDR)
  LD,
  STD,
  STDU, // store, then rA = effective address
  MFLR,
  MTLR,
  MFCTR,
  MTCTR,
  MFSPR,
  MTSPR,
  MTMSRD, // L=1 form: only EE and RI change
  MFMSR,
  CMPDI, // CR0.EQ = (rA == imm)
  CMPD, // CR0.EQ = (rA == rB)
  B, // pc = target
  BL, // lr = pc + 4; pc = target
  BC, // beq / bne on CR0.EQ
  BLR, // pc = lr
  BCTR, // pc = ctr
  BCTRL, // lr = pc + 4; pc = ctr
  RFID,
  JUNK, // one instruction of a BODY pseudo-op: clobbers volatile registers
  PSEUDO, // effect of kernel C code / CPU action, handled by the machine's hooks
}

export const REG_SP = 1;
export const REG_TOC = 2;
export const REG_PACA = 13;

export interface Insn {
  op: Op;
  addr: number;
  rd: number;
  ra: number;
  rb: number;
  imm: number;
  /** Branch / LA target once resolved. */
  target: number;
  /** B / BL / BC target lies outside the symbol holding this instruction. */
  crossFn: boolean;
  /** BC: branch when CR0.EQ is set (beq) or clear (bne). */
  whenEq?: boolean;
  /** Unresolved symbol reference (resolved in pass 2). */
  ref?: string;
  /** SPR name, or the PSEUDO op name. */
  sys?: string;
  args?: string[];
  text: string;
}

export type { FixedHintType as HintType, FixedHint as Hint, FixedUnit as AsmUnit } from '../fixed-width';
export type TextBlock = FixedBlock<Insn>;
export type Program = FixedProgram<Insn, FixedHintType>;

const PSEUDOS = new Set([...COMMON_PSEUDOS, 'ON_TASK_STACK', 'TRAP_CLASS', 'NMI_COMPLETE', 'WARN_TRAP', 'KLP_TARGET']);

const SPRS = new Set(['srr0', 'srr1', 'sprg_scratch0', 'sprg_paca']);

/** `LOAD_REG_ADDR(r3, sym)` -> `LOAD_REG_ADDR r3, sym` (the kernel's macro-call form). */
function macroCall(line: string): string {
  const m = /^(LOAD_REG_ADDR|LOAD_REG_IMMEDIATE)\s*\((.*)\)$/.exec(line);
  return m ? `${m[1]} ${m[2]}` : line;
}

export function parseReg(s: string): number | undefined {
  const m = /^%?r(\d+)$/.exec(s.trim().toLowerCase());
  if (m && Number(m[1]) <= 31) return Number(m[1]);
  return undefined;
}

function blank(op: Op, addr: number, text: string): Insn {
  return { op, addr, rd: 0, ra: 0, rb: 0, imm: 0, target: 0, crossFn: false, text };
}

function reg(s: string | undefined, err: (m: string) => never): number {
  const r = s === undefined ? undefined : parseReg(s);
  if (r === undefined) err(`bad register ${s ?? '(missing)'}`);
  return r;
}

/** `d(rA)` with a numeric displacement. */
function parseMem(s: string | undefined, i: Insn, err: (m: string) => never): void {
  const m = /^(.*)\(\s*(%?r\d+)\s*\)$/.exec((s ?? '').trim());
  if (!m) err(`bad memory operand ${s}`);
  i.ra = reg(m[2], err);
  const off = m[1]!.trim();
  i.imm = off ? (parseImm(off) ?? err(`bad displacement ${off}`)) : 0;
}

function spr(s: string | undefined, err: (m: string) => never): string {
  const t = (s ?? '').trim().toLowerCase().replace(/^sprn_/, '');
  if (!SPRS.has(t)) err(`unknown SPR ${s}`);
  return t;
}

function parseInsn(mn: string, operands: string, addr: number, text: string, err: (m: string) => never): Insn[] {
  const ops = splitOperands(operands);
  const M = mn.toLowerCase();
  const one = (op: Op): Insn => blank(op, addr, text);
  const target = (i: Insn, t: string | undefined): Insn[] => {
    i.ref = parseSymRef(t ?? '') ?? err(`bad branch target ${t}`);
    return [i];
  };
  switch (M) {
    case 'nop':
      return [one(Op.NOP)];
    case 'rfid':
      return [one(Op.RFID)];
    case 'blr':
      return [one(Op.BLR)];
    case 'bctr':
      return [one(Op.BCTR)];
    case 'bctrl':
      return [one(Op.BCTRL)];
    case 'body':
      return bodyInsns(parseImm(ops[0] ?? '1') ?? err('BODY needs a count'), addr, text, (a, t) => blank(Op.JUNK, a, t));
    case 'mr': {
      const i = one(Op.ADDI);
      i.rd = reg(ops[0], err);
      i.ra = reg(ops[1], err);
      return [i];
    }
    case 'addi':
    case 'subi':
    case 'andi.': {
      const i = one(M === 'andi.' ? Op.ANDI_ : Op.ADDI);
      i.rd = reg(ops[0], err);
      i.ra = reg(ops[1], err);
      const v = parseImm(ops[2] ?? '') ?? err(`bad immediate ${ops[2]}`);
      i.imm = M === 'subi' ? -v : v;
      return [i];
    }
    case 'add':
    case 'subf': {
      const i = one(M === 'add' ? Op.ADD : Op.SUBF);
      i.rd = reg(ops[0], err);
      i.ra = reg(ops[1], err);
      i.rb = reg(ops[2], err);
      return [i];
    }
    case 'li':
    case 'load_reg_immediate': {
      const i = one(Op.LI);
      i.rd = reg(ops[0], err);
      const v = parseImm(ops[1] ?? '');
      if (v !== undefined) i.imm = v;
      else i.ref = parseSymRef(ops[1] ?? '') ?? err(`bad immediate ${ops[1]}`);
      return [i];
    }
    case 'load_reg_addr': {
      const i = one(Op.LA);
      i.rd = reg(ops[0], err);
      i.ref = parseSymRef(ops[1] ?? '') ?? err(`bad address ${ops[1]}`);
      return [i];
    }
    case 'ld':
    case 'std':
    case 'stdu': {
      const i = one(M === 'ld' ? Op.LD : M === 'std' ? Op.STD : Op.STDU);
      i.rd = reg(ops[0], err);
      parseMem(ops[1], i, err);
      return [i];
    }
    case 'mflr':
    case 'mfctr':
    case 'mtlr':
    case 'mtctr': {
      const i = one(M === 'mflr' ? Op.MFLR : M === 'mfctr' ? Op.MFCTR : M === 'mtlr' ? Op.MTLR : Op.MTCTR);
      i.rd = reg(ops[0], err);
      return [i];
    }
    case 'mtmsrd':
    case 'mfmsr': {
      const i = one(M === 'mtmsrd' ? Op.MTMSRD : Op.MFMSR);
      i.rd = reg(ops[0], err);
      if (M === 'mtmsrd' && ops[1]?.trim() !== '1') err('only mtmsrd rS, 1 is modelled');
      return [i];
    }
    case 'mfspr': {
      const i = one(Op.MFSPR);
      i.rd = reg(ops[0], err);
      i.sys = spr(ops[1], err);
      return [i];
    }
    case 'mtspr': {
      const i = one(Op.MTSPR);
      i.sys = spr(ops[0], err);
      i.rd = reg(ops[1], err);
      return [i];
    }
    case 'cmpdi':
    case 'cmpd': {
      const i = one(M === 'cmpdi' ? Op.CMPDI : Op.CMPD);
      i.ra = reg(ops[0], err);
      if (M === 'cmpd') i.rb = reg(ops[1], err);
      else i.imm = parseImm(ops[1] ?? '') ?? err(`bad immediate ${ops[1]}`);
      return [i];
    }
    case 'b':
    case 'bl':
      return target(one(M === 'b' ? Op.B : Op.BL), ops[0]);
    case 'beq':
    case 'bne': {
      const i = one(Op.BC);
      i.whenEq = M === 'beq';
      return target(i, ops[0]);
    }
    default:
      if (PSEUDOS.has(mn.toUpperCase())) return [pseudoInsn(one(Op.PSEUDO), mn.toUpperCase(), ops, parseReg)];
      return err(`unknown mnemonic ${mn}`);
  }
}

const POWERPC64: FixedIsa<Insn, FixedHintType> = {
  arch: 'powerpc64',
  hintTypes: FIXED_HINT_TYPES,
  preprocess: macroCall,
  parse: parseInsn,
  resolve(i, t, sameSymbol) {
    if (i.op === Op.LI) i.imm = t;
    else i.target = t;
    if (i.op === Op.B || i.op === Op.BL || i.op === Op.BC) i.crossFn = !sameSymbol;
  },
};

/** Assemble units (each placed at its own base) into one program; symbols resolve across units. */
export function assemble(units: FixedUnit[], externs: Record<string, number> = {}): Program {
  return assembleFixed(POWERPC64, units, externs);
}

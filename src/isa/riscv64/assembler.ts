/**
 * A small riscv64 assembler for the simulated kernel: RV64I text (the subset kernel entry, context
 * switch, ftrace and compiled C need) -> decoded instructions, 4 bytes each (no compressed forms),
 * with labels, symbols (SYM_FUNC/SYM_CODE and top-level labels), symbol kinds and annotations.
 *
 * Registers: x0..x31 and their ABI names (zero, ra, sp, gp, tp, t0-t6, s0/fp, s1-s11, a0-a7).
 * `<name>` (or a bare name) is a symbol reference. Pseudo-instructions are single instructions
 * here: `li` loads any 64-bit value, `la` any symbol address, `call`/`tail` reach any symbol.
 */
import { COMMON_PSEUDOS, splitOperands, bodyInsns, parseImm, parseSymRef, pseudoInsn } from '../operands';
import { AsmError as SharedAsmError } from '../directives';
import { assembleFixed, FIXED_HINT_TYPES, type FixedBlock, type FixedHintType, type FixedIsa, type FixedProgram, type FixedUnit } from '../fixed-width';

export const AsmError = SharedAsmError;
export type AsmError = SharedAsmError;

export enum Op {
  NOP,
  ADDI, // rd = rs1 + imm (also mv)
  ANDI, // rd = rs1 & imm (small non-negative imm)
  ADD,
  SUB,
  LI, // rd = imm (any value)
  LA, // rd = symbol address
  AUIPC, // rd = the upper part of a symbol's address (its pc-relative high 20 bits, applied)
  LD,
  SD,
  JAL, // rd = pc + 4; pc = target
  JALR, // rd = pc + 4; pc = rs1 + imm
  BEQ,
  BNE,
  CSRR, // rd = csr
  CSRW, // csr = rs1 (or imm)
  CSRRW, // rd = csr; csr = rs1
  CSRS, // csr |= rs1 (or imm)
  CSRC, // csr &= ~rs1 (or imm)
  SRET,
  JUNK, // one instruction of a BODY pseudo-op: clobbers temporaries
  PSEUDO, // effect of kernel C code / CPU action, handled by the machine's hooks
}

export const REG_ZERO = 0;
export const REG_RA = 1;
export const REG_SP = 2;
export const REG_GP = 3;
export const REG_TP = 4;
export const REG_T0 = 5;
export const REG_T1 = 6;
export const REG_S0 = 8;
export const REG_S1 = 9;
export const REG_A0 = 10;

const ABI_NAMES: Record<string, number> = {
  zero: 0, ra: 1, sp: 2, gp: 3, tp: 4, t0: 5, t1: 6, t2: 7, s0: 8, fp: 8, s1: 9,
  a0: 10, a1: 11, a2: 12, a3: 13, a4: 14, a5: 15, a6: 16, a7: 17,
  s2: 18, s3: 19, s4: 20, s5: 21, s6: 22, s7: 23, s8: 24, s9: 25, s10: 26, s11: 27,
  t3: 28, t4: 29, t5: 30, t6: 31,
};
/** The ABI name of each register, by number (fp is written s0). */
export const REG_NAMES: readonly string[] = Object.entries(ABI_NAMES)
  .filter(([n]) => n !== 'fp')
  .sort((a, b) => a[1] - b[1])
  .map(([n]) => n);

export interface Insn {
  op: Op;
  addr: number;
  rd: number;
  rs1: number;
  rs2: number;
  imm: number;
  /** Branch/jump/LA target once resolved. */
  target: number;
  /** JAL/branch target lies outside the symbol holding this instruction. */
  crossFn: boolean;
  /** Unresolved symbol reference (resolved in pass 2). */
  ref?: string;
  /** JALR / AUIPC: the reference gives only the low 12 bits (JALR) or the rest (AUIPC) of a symbol address. */
  part?: 'lo' | 'hi';
  /** CSR name, or the PSEUDO op name. */
  sys?: string;
  args?: string[];
  text: string;
}

export type { FixedHintType as HintType, FixedHint as Hint, FixedUnit as AsmUnit } from '../fixed-width';
export type TextBlock = FixedBlock<Insn>;
export type Program = FixedProgram<Insn, FixedHintType>;

const PSEUDOS = new Set([...COMMON_PSEUDOS, 'ON_TASK_STACK', 'TRAP_CLASS', 'SSE_COMPLETE']);

const CSRS = new Set(['sstatus', 'sepc', 'scause', 'stval', 'sscratch']);

export function parseReg(s: string): number | undefined {
  const t = s.trim().toLowerCase();
  if (t in ABI_NAMES) return ABI_NAMES[t];
  const m = /^x(\d+)$/.exec(t);
  if (m && Number(m[1]) <= 31) return Number(m[1]);
  return undefined;
}

/** The low 12 bits of an address as jalr / addi sign-extend them. */
export function lo12(a: number): number {
  const lo = a % 4096;
  return lo >= 2048 ? lo - 4096 : lo;
}

function blank(op: Op, addr: number, text: string): Insn {
  return { op, addr, rd: REG_ZERO, rs1: REG_ZERO, rs2: REG_ZERO, imm: 0, target: 0, crossFn: false, text };
}

function reg(s: string | undefined, err: (m: string) => never): number {
  const r = s === undefined ? undefined : parseReg(s);
  if (r === undefined) err(`bad register ${s ?? '(missing)'}`);
  return r;
}

/** `off(rs)`, `(rs)` or `<sym>(rs)` (the symbol's low 12 bits). */
function parseMem(s: string | undefined, i: Insn, err: (m: string) => never): void {
  const m = /^(.*)\(\s*(\w+)\s*\)$/.exec((s ?? '').trim());
  if (!m) err(`bad memory operand ${s}`);
  i.rs1 = reg(m[2], err);
  const off = m[1]!.trim();
  if (!off) return;
  const v = parseImm(off);
  if (v !== undefined) {
    i.imm = v;
    return;
  }
  i.ref = parseSymRef(off) ?? err(`bad offset ${off}`);
  i.part = 'lo';
}

function csr(s: string | undefined, err: (m: string) => never): string {
  const t = (s ?? '').trim().toLowerCase();
  if (!CSRS.has(t)) err(`unknown CSR ${s}`);
  return t;
}

function parseInsn(mn: string, operands: string, addr: number, text: string, err: (m: string) => never): Insn[] {
  const ops = splitOperands(operands);
  const M = mn.toLowerCase();
  const one = (op: Op): Insn => blank(op, addr, text);
  switch (M) {
    case 'nop':
      return [one(Op.NOP)];
    case 'sret':
      return [one(Op.SRET)];
    case 'body':
      return bodyInsns(parseImm(ops[0] ?? '1') ?? err('BODY needs a count'), addr, text, (a, t) => blank(Op.JUNK, a, t));
    case 'mv': {
      const i = one(Op.ADDI);
      i.rd = reg(ops[0], err);
      i.rs1 = reg(ops[1], err);
      return [i];
    }
    case 'addi':
    case 'andi': {
      const i = one(M === 'addi' ? Op.ADDI : Op.ANDI);
      i.rd = reg(ops[0], err);
      i.rs1 = reg(ops[1], err);
      i.imm = parseImm(ops[2] ?? '') ?? err(`bad immediate ${ops[2]}`);
      return [i];
    }
    case 'add':
    case 'sub': {
      const i = one(M === 'add' ? Op.ADD : Op.SUB);
      i.rd = reg(ops[0], err);
      i.rs1 = reg(ops[1], err);
      i.rs2 = reg(ops[2], err);
      return [i];
    }
    case 'li': {
      const i = one(Op.LI);
      i.rd = reg(ops[0], err);
      const v = parseImm(ops[1] ?? '');
      if (v !== undefined) i.imm = v;
      else i.ref = parseSymRef(ops[1] ?? '') ?? err(`bad li value ${ops[1]}`);
      return [i];
    }
    case 'la':
    case 'lla': {
      const i = one(Op.LA);
      i.rd = reg(ops[0], err);
      i.ref = parseSymRef(ops[1] ?? '') ?? err(`bad la target ${ops[1]}`);
      return [i];
    }
    case 'auipc': {
      const i = one(Op.AUIPC);
      i.rd = reg(ops[0], err);
      i.ref = parseSymRef(ops[1] ?? '') ?? err(`bad auipc target ${ops[1]}`);
      i.part = 'hi';
      return [i];
    }
    case 'ld':
    case 'sd': {
      const i = one(M === 'ld' ? Op.LD : Op.SD);
      if (M === 'ld') i.rd = reg(ops[0], err);
      else i.rs2 = reg(ops[0], err);
      parseMem(ops[1], i, err);
      return [i];
    }
    case 'call':
    case 'tail':
    case 'j':
    case 'jal': {
      const i = one(Op.JAL);
      let target = ops[0];
      if (M === 'jal' && ops.length === 2) {
        i.rd = reg(ops[0], err);
        target = ops[1];
      } else i.rd = M === 'call' || M === 'jal' ? REG_RA : REG_ZERO;
      i.ref = parseSymRef(target ?? '') ?? err(`bad jump target ${target}`);
      return [i];
    }
    case 'jalr':
    case 'jr': {
      const i = one(Op.JALR);
      if (ops.length === 1) {
        i.rd = M === 'jalr' ? REG_RA : REG_ZERO;
        i.rs1 = reg(ops[0], err);
      } else {
        if (M === 'jr') err('jr takes one register');
        i.rd = reg(ops[0], err);
        parseMem(ops[1], i, err);
      }
      return [i];
    }
    case 'ret': {
      const i = one(Op.JALR);
      i.rs1 = REG_RA;
      return [i];
    }
    case 'beqz':
    case 'bnez':
    case 'beq':
    case 'bne': {
      const i = one(M.startsWith('beq') ? Op.BEQ : Op.BNE);
      i.rs1 = reg(ops[0], err);
      const two = M === 'beq' || M === 'bne';
      i.rs2 = two ? reg(ops[1], err) : REG_ZERO;
      const t = two ? ops[2] : ops[1];
      i.ref = parseSymRef(t ?? '') ?? err(`bad branch target ${t}`);
      return [i];
    }
    case 'csrr': {
      const i = one(Op.CSRR);
      i.rd = reg(ops[0], err);
      i.sys = csr(ops[1], err);
      return [i];
    }
    case 'csrrw': {
      const i = one(Op.CSRRW);
      i.rd = reg(ops[0], err);
      i.sys = csr(ops[1], err);
      i.rs1 = reg(ops[2], err);
      return [i];
    }
    case 'csrw':
    case 'csrs':
    case 'csrc':
    case 'csrsi':
    case 'csrci': {
      const i = one(M === 'csrw' ? Op.CSRW : M.startsWith('csrs') ? Op.CSRS : Op.CSRC);
      i.sys = csr(ops[0], err);
      const r = M.endsWith('i') ? undefined : parseReg(ops[1] ?? '');
      if (r !== undefined) i.rs1 = r;
      else {
        i.rs1 = -1;
        i.imm = parseImm(ops[1] ?? '') ?? err(`bad CSR operand ${ops[1]}`);
      }
      return [i];
    }
    default:
      if (PSEUDOS.has(mn.toUpperCase())) return [pseudoInsn(one(Op.PSEUDO), mn.toUpperCase(), ops, parseReg)];
      return err(`unknown mnemonic ${mn}`);
  }
}

const RISCV64: FixedIsa<Insn, FixedHintType> = {
  arch: 'riscv64',
  hintTypes: FIXED_HINT_TYPES,
  parse: parseInsn,
  resolve(i, t, sameSymbol) {
    if (i.op === Op.LI) i.imm = t;
    else if (i.part === 'lo') i.imm = lo12(t);
    else if (i.part === 'hi') i.imm = t - lo12(t);
    else i.target = t;
    if (i.op === Op.JAL || i.op === Op.BEQ || i.op === Op.BNE) i.crossFn = !sameSymbol;
  },
};

/** Assemble units (each placed at its own base) into one program; symbols resolve across units. */
export function assemble(units: FixedUnit[], externs: Record<string, number> = {}): Program {
  return assembleFixed(RISCV64, units, externs);
}

/**
 * A small s390x assembler for the simulated kernel: the z/Architecture subset that entry code, the
 * context switch, ftrace and compiled C (-mpacked-stack -mbackchain) need -> decoded instructions,
 * with labels, symbols (SYM_FUNC/SYM_CODE and top-level labels), symbol kinds and annotations.
 *
 * Modelling simplification: every instruction takes 4 bytes (real s390 instructions are 2, 4 or 6
 * bytes long), so return addresses are the call's address + 4. Registers are %r0..%r15 (or r0..r15).
 * A memory operand is `D(B)` or `D(L,B)` (mvc); base register 0 means no base (absolute address,
 * as for lowcore fields), and a displacement may be any value.
 */
import { COMMON_PSEUDOS, splitOperands, bodyInsns, parseImm } from '../operands';
import { AsmError as SharedAsmError } from '../directives';
import { assembleFixed, FIXED_HINT_TYPES, type FixedBlock, type FixedHintType, type FixedIsa, type FixedProgram, type FixedUnit } from '../fixed-width';

export const AsmError = SharedAsmError;
export type AsmError = SharedAsmError;

export enum Op {
  NOP,
  LGR, // r1 = r2
  LGHI, // r1 = imm
  AGHI, // r1 += imm
  LA, // r1 = D(B)
  LARL, // r1 = symbol address
  LG, // r1 = mem64[D(B)]
  STG, // mem64[D(B)] = r1
  STMG, // r1..r3 -> D(B)
  LMG, // D(B) -> r1..r3
  MVGHI, // mem64[D(B)] = imm
  MVC, // copy L bytes (a multiple of 8) from D2(B2) to D1(B1)
  BRASL, // r1 = pc + 4; pc = target
  BASR, // r1 = pc + 4; pc = r2
  BR, // pc = r2 (br %r14 is a return)
  J, // pc = target (j / jg)
  BRC, // conditional branch on the condition code (mask as brc: 8 cc0, 4 cc1, 2 cc2, 1 cc3)
  LTGR, // r1 = r2; cc = 0 zero, 1 negative, 2 positive
  TMHH, // test the top 16 bits of r1 under mask: cc 0 all zero, 1 mixed, 3 all ones
  LPSWE, // load the PSW {mask, addr} from D(B)
  JUNK, // one instruction of a BODY pseudo-op: clobbers volatile registers
  PSEUDO, // effect of kernel C code / CPU action, handled by the machine's hooks
}

export const REG_R0 = 0;
export const REG_R1 = 1;
export const REG_R2 = 2;
export const REG_R14 = 14;
export const REG_SP = 15;

/** Register names by number, as snapshots name them. */
export const REG_NAMES: readonly string[] = Array.from({ length: 16 }, (_, k) => `r${k}`);

export interface Insn {
  op: Op;
  addr: number;
  r1: number;
  r2: number;
  r3: number;
  /** Immediate, or a memory operand's displacement. */
  imm: number;
  /** Memory operand base register (0: none). */
  base: number;
  /** MVC: length, source displacement and base. */
  len: number;
  imm2: number;
  base2: number;
  /** BRC condition-code mask. */
  mask: number;
  /** Branch/jump/LARL target once resolved. */
  target: number;
  /** Branch target lies outside the symbol holding this instruction. */
  crossFn: boolean;
  ref?: string;
  /** The PSEUDO op name. */
  sys?: string;
  args?: string[];
  text: string;
}

export type { FixedHintType as HintType, FixedHint as Hint, FixedUnit as AsmUnit } from '../fixed-width';
export type TextBlock = FixedBlock<Insn>;
export type Program = FixedProgram<Insn, FixedHintType>;

const PSEUDOS = new Set([...COMMON_PSEUDOS, 'ON_TASK_STACK', 'PGM_CLASS', 'LOCAL_IRQ_DISABLE', 'LOCAL_IRQ_ENABLE', 'GET_LC']);

/** Condition masks of the extended branch mnemonics used. */
const BRANCHES: Record<string, number> = { jz: 8, je: 8, jnz: 7, jne: 7, jo: 1, jno: 14, jh: 2, jl: 4, jnh: 13 };

export function parseReg(s: string): number | undefined {
  const m = /^%?r(\d+)$/.exec(s.trim().toLowerCase());
  return m && Number(m[1]) <= 15 ? Number(m[1]) : undefined;
}

function parseSymRef(s: string): string | undefined {
  const m = /^([A-Za-z_.$][\w.$]*)$/.exec(s.trim());
  return m ? m[1] : undefined;
}

function blank(op: Op, addr: number, text: string): Insn {
  return { op, addr, r1: 0, r2: 0, r3: 0, imm: 0, base: 0, len: 0, imm2: 0, base2: 0, mask: 0, target: 0, crossFn: false, text };
}

function reg(s: string | undefined, err: (m: string) => never): number {
  const r = s === undefined ? undefined : parseReg(s);
  if (r === undefined) err(`bad register ${s ?? '(missing)'}`);
  return r;
}

/** `D(B)`, `D(L,B)` or a bare `D`: displacement, optional length, base register. */
function parseMem(s: string | undefined, err: (m: string) => never): { d: number; len?: number; base: number } {
  const t = (s ?? '').trim();
  const m = /^(.*?)\(\s*(?:([^,()]+)\s*,\s*)?(%?r\d+)\s*\)$/i.exec(t);
  const dText = m ? m[1]!.trim() : t;
  const d = dText === '' ? 0 : parseImm(dText);
  if (d === undefined) err(`bad displacement ${dText}`);
  const len = m?.[2] !== undefined ? parseImm(m[2]) ?? err(`bad length ${m[2]}`) : undefined;
  return { d, ...(len !== undefined ? { len } : {}), base: m ? reg(m[3], err) : 0 };
}

function parseInsn(mn: string, operands: string, addr: number, text: string, err: (m: string) => never): Insn[] {
  const ops = splitOperands(operands);
  const M = mn.toLowerCase();
  const one = (op: Op): Insn => blank(op, addr, text);
  const imm = (s: string | undefined): number => parseImm(s ?? '') ?? err(`bad immediate ${s}`);
  const sym = (s: string | undefined): string => parseSymRef(s ?? '') ?? err(`bad target ${s}`);
  switch (M) {
    case 'nop':
      return [one(Op.NOP)];
    case 'body':
      return bodyInsns(parseImm(ops[0] ?? '1') ?? err('BODY needs a count'), addr, text, (a, t) => blank(Op.JUNK, a, t));
    case 'lgr':
    case 'ltgr': {
      const i = one(M === 'lgr' ? Op.LGR : Op.LTGR);
      i.r1 = reg(ops[0], err);
      i.r2 = reg(ops[1], err);
      return [i];
    }
    case 'lghi':
    case 'aghi':
    case 'tmhh': {
      const i = one(M === 'lghi' ? Op.LGHI : M === 'aghi' ? Op.AGHI : Op.TMHH);
      i.r1 = reg(ops[0], err);
      i.imm = imm(ops[1]);
      return [i];
    }
    case 'la':
    case 'lg':
    case 'stg': {
      const i = one(M === 'la' ? Op.LA : M === 'lg' ? Op.LG : Op.STG);
      i.r1 = reg(ops[0], err);
      const m = parseMem(ops[1], err);
      i.imm = m.d;
      i.base = m.base;
      return [i];
    }
    case 'larl': {
      const i = one(Op.LARL);
      i.r1 = reg(ops[0], err);
      i.ref = sym(ops[1]);
      return [i];
    }
    case 'stmg':
    case 'lmg': {
      const i = one(M === 'stmg' ? Op.STMG : Op.LMG);
      i.r1 = reg(ops[0], err);
      i.r3 = reg(ops[1], err);
      const m = parseMem(ops[2], err);
      i.imm = m.d;
      i.base = m.base;
      return [i];
    }
    case 'mvghi': {
      const i = one(Op.MVGHI);
      const m = parseMem(ops[0], err);
      i.imm2 = m.d;
      i.base = m.base;
      i.imm = imm(ops[1]);
      return [i];
    }
    case 'mvc': {
      const i = one(Op.MVC);
      const d = parseMem(ops[0], err);
      const s = parseMem(ops[1], err);
      if (d.len === undefined || d.len % 8 !== 0) err('mvc needs a length that is a multiple of 8');
      i.imm = d.d;
      i.base = d.base;
      i.len = d.len;
      i.imm2 = s.d;
      i.base2 = s.base;
      return [i];
    }
    case 'brasl': {
      const i = one(Op.BRASL);
      i.r1 = reg(ops[0], err);
      i.ref = sym(ops[1]);
      return [i];
    }
    case 'basr': {
      const i = one(Op.BASR);
      i.r1 = reg(ops[0], err);
      i.r2 = reg(ops[1], err);
      return [i];
    }
    case 'br': {
      const i = one(Op.BR);
      i.r2 = reg(ops[0], err);
      return [i];
    }
    case 'j':
    case 'jg': {
      const i = one(Op.J);
      i.ref = sym(ops[0]);
      return [i];
    }
    case 'lpswe': {
      const i = one(Op.LPSWE);
      const m = parseMem(ops[0], err);
      i.imm = m.d;
      i.base = m.base;
      return [i];
    }
    default:
      if (M in BRANCHES) {
        const i = one(Op.BRC);
        i.mask = BRANCHES[M]!;
        i.ref = sym(ops[0]);
        return [i];
      }
      if (PSEUDOS.has(mn.toUpperCase())) {
        const i = one(Op.PSEUDO);
        i.sys = mn.toUpperCase();
        i.args = ops;
        const regs = ops.map(parseReg).filter((r): r is number => r !== undefined);
        if (regs[0] !== undefined) i.r1 = regs[0];
        if (regs[1] !== undefined) i.r2 = regs[1];
        return [i];
      }
      return err(`unknown mnemonic ${mn}`);
  }
}

const S390X: FixedIsa<Insn, FixedHintType> = {
  arch: 's390x',
  hintTypes: FIXED_HINT_TYPES,
  parse: parseInsn,
  resolve(i, t, sameSymbol) {
    i.target = t;
    if (i.op === Op.J || i.op === Op.BRC) i.crossFn = !sameSymbol;
  },
};

/** Assemble units (each placed at its own base) into one program; symbols resolve across units. */
export function assemble(units: FixedUnit[], externs: Record<string, number> = {}): Program {
  return assembleFixed(S390X, units, externs);
}

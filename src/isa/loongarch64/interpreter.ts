/**
 * loongarch64 interpreter for the assembler's instruction subset. Every control transfer is reported to
 * the ShadowStack (ground truth): BL and a linking JIRL (rd != zero) -> call; `jr $ra` -> return; any
 * other jump out of the function (a tail call, ftrace's `jr $t0` back into the traced function) ->
 * transfer; an exception -> exception; ERTN -> transfer(..., 'eret'). Memory faults are recorded by
 * Memory and stop the CPU.
 */
import type { Memory } from '../../machine/memory';
import { ShadowError, type ShadowStack } from '../../truth/shadow';
import { LOONGARCH64_ABI as A } from './abi';
import { Op, REG_RA, REG_SP, type Insn, type Program } from './assembler';

export type StopReason = 'blocked' | 'user' | 'walk' | 'break' | 'limit' | 'undef' | 'fault';

export interface Loongarch64Hooks {
  pseudo(cpu: Loongarch64Cpu, insn: Insn): StopReason | undefined;
}

const TWO64 = 2 ** 64;
const wrap = (v: number): number => (v < 0 ? v + TWO64 : v >= TWO64 ? v - TWO64 : v);
/** Bitwise ops on the low 32 bits only (status bits, small masks); the high part is kept from `hi`. */
const low = (v: number): number => v % 4294967296;

export class Loongarch64Cpu {
  /** r0..r31; r0 reads 0. */
  readonly r = new Float64Array(32);
  pc = 0;
  readonly csr: Record<string, number> = { crmd: 0, prmd: 0, euen: 0, ecfg: 0, estat: 0, era: 0, badv: 0, eentry: 0, ks0: 0, ks1: 0, ks2: 0, ks3: 0 };
  steps = 0;
  lastInsn: Insn | undefined;

  constructor(
    readonly prog: Program,
    readonly mem: Memory,
    readonly shadow: ShadowStack,
    readonly hooks: Loongarch64Hooks,
  ) {}

  get sp(): number {
    return this.r[REG_SP]!;
  }
  set sp(v: number) {
    this.r[REG_SP] = v;
  }

  get kernelMode(): boolean {
    return (this.csr.crmd! & A.PLV_MASK) === 0;
  }

  get irqMasked(): boolean {
    return (this.csr.crmd! & A.CSR_CRMD_IE) === 0;
  }

  /** An exception before the instruction at pc: PRMD keeps PLV and IE, ERA the pc; kernel mode, IRQs off, pc = vector. */
  takeException(kind: string, ecode: number, vector: number): void {
    if (this.kernelMode) this.shadow.exception(kind, this.pc);
    const c = this.csr;
    c.prmd = (c.crmd! & (A.PLV_MASK | A.CSR_CRMD_IE));
    c.crmd = c.crmd! & ~(A.PLV_MASK | A.CSR_CRMD_IE);
    c.era = this.pc;
    c.estat = ecode;
    this.pc = vector;
  }

  regsRecord(names: readonly string[]): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 1; i < 32; i++) out[names[i]!] = this.r[i]!;
    out.pc = this.pc;
    return out;
  }

  run(limit = 1_000_000, breakAt = -1, breakStep = -1): StopReason {
    const r = this.r;
    const mem = this.mem;
    const prog = this.prog;
    const end = this.steps + limit;
    const faults0 = mem.faults.length;
    for (;;) {
      const pc = this.pc;
      if (pc === breakAt || this.steps === breakStep) return 'break';
      if (this.steps >= end) return 'limit';
      const i = prog.insnAt(pc);
      if (!i) {
        this.lastInsn = undefined;
        return 'undef';
      }
      this.steps++;
      let next = pc + 4;
      switch (i.op) {
        case Op.NOP:
          break;
        case Op.ADDI:
          r[i.rd] = wrap(r[i.rj]! + i.imm);
          break;
        case Op.ANDI:
          r[i.rd] = (low(r[i.rj]!) & i.imm) >>> 0;
          break;
        case Op.ADD:
          r[i.rd] = wrap(r[i.rj]! + r[i.rk]!);
          break;
        case Op.SUB:
          r[i.rd] = wrap(r[i.rj]! - r[i.rk]!);
          break;
        case Op.AND: {
          // Only masks are and-ed (a stack-base mask, status bits): exact on the values used.
          const a = r[i.rj]!;
          const b = r[i.rk]!;
          r[i.rd] = b === 0 || a === 0 ? 0 : Number(BigInt(a) & BigInt(b));
          break;
        }
        case Op.OR: {
          const a = r[i.rj]!;
          const b = r[i.rk]!;
          r[i.rd] = b === 0 ? a : a === 0 ? b : Number(BigInt(a) | BigInt(b));
          break;
        }
        case Op.LI:
          r[i.rd] = wrap(i.imm);
          break;
        case Op.LD:
        case Op.ST: {
          const ea = r[i.rj]! + i.imm;
          if (i.op === Op.ST) mem.write64(ea, r[i.rd]!);
          else r[i.rd] = mem.read64(ea);
          if (mem.faults.length !== faults0) {
            this.lastInsn = i;
            this.pc = next;
            r[0] = 0;
            return 'fault';
          }
          break;
        }
        case Op.BL:
          r[REG_RA] = next;
          this.shadow.call(pc, next);
          next = i.target;
          break;
        case Op.B:
          if (i.crossFn) this.shadow.transfer(i.target, 'jump');
          next = i.target;
          break;
        case Op.JIRL: {
          const t = wrap(r[i.rj]! + i.imm);
          if (i.rd !== 0) {
            r[i.rd] = next;
            this.shadow.call(pc, next);
          } else this.shadow.transfer(t, i.rj === REG_RA && i.imm === 0 ? 'ret' : 'jump');
          next = t;
          break;
        }
        case Op.BEQ:
        case Op.BNE:
          if ((r[i.rj]! === r[i.rd]!) === (i.op === Op.BEQ)) {
            next = i.target;
            if (i.crossFn) this.shadow.transfer(next, 'jump');
          }
          break;
        case Op.CSRRD:
          r[i.rd] = this.csr[i.sys!]!;
          break;
        case Op.CSRWR: {
          const old = this.csr[i.sys!]!;
          this.csr[i.sys!] = r[i.rd]!;
          r[i.rd] = old;
          break;
        }
        case Op.CSRXCHG: {
          const old = this.csr[i.sys!]!;
          const mask = low(r[i.rj]!);
          this.csr[i.sys!] = ((low(old) & ~mask) | (low(r[i.rd]!) & mask)) >>> 0;
          r[i.rd] = old;
          break;
        }
        case Op.ERTN: {
          const c = this.csr;
          next = c.era!;
          c.crmd = (c.crmd! & ~(A.PLV_MASK | A.CSR_CRMD_IE)) | (c.prmd! & (A.PLV_MASK | A.CSR_PRMD_PIE));
          if (!this.kernelMode) {
            if (this.shadow.entries.length) throw new ShadowError(`ertn to user mode with live kernel frames (${this.shadow.entries.map((e) => e.fn).join(' <- ')})`);
            this.pc = next;
            this.lastInsn = i;
            r[0] = 0;
            return 'user';
          }
          this.shadow.transfer(next, 'eret');
          break;
        }
        case Op.JUNK: {
          // Clobber three temporaries (a2..a7, t3..t8) with recognisable junk; never ra, sp, fp, t0..t2, s*.
          const k = this.steps;
          const pool = [6, 7, 8, 9, 15, 16, 17, 18];
          r[pool[k % 8]!] = 0x5a5a0000 + ((k * 31) & 0xffff);
          r[pool[(k + 3) % 8]!] = 0x6b6b0000 + ((k * 17) & 0xffff);
          r[pool[(k + 5) % 8]!] = (k * 7919) & 0xffffff;
          break;
        }
        case Op.PSEUDO: {
          this.pc = next;
          const stop = this.hooks.pseudo(this, i);
          if (stop) {
            this.lastInsn = i;
            if (stop === 'walk') {
              this.pc = pc;
              this.steps--;
            }
            r[0] = 0;
            return stop;
          }
          next = this.pc;
          break;
        }
      }
      r[0] = 0;
      this.pc = next;
    }
  }
}

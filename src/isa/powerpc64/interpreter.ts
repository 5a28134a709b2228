/**
 * powerpc64 interpreter for the assembler's instruction subset. Every control transfer is reported to
 * the ShadowStack (ground truth): bl / bctrl -> call (LR = the next instruction); blr -> return; b / bctr
 * or a taken beq/bne out of the function -> transfer; an interrupt -> exception; rfid -> transfer(...,
 * 'eret'). Memory faults are recorded by Memory and stop the CPU.
 */
import type { Memory } from '../../machine/memory';
import { ShadowError, type ShadowStack } from '../../truth/shadow';
import { POWERPC64_ABI as A } from './abi';
import { Op, REG_SP, type Insn, type Program } from './assembler';

export type StopReason = 'blocked' | 'user' | 'walk' | 'break' | 'limit' | 'undef' | 'fault';

export interface Powerpc64Hooks {
  pseudo(cpu: Powerpc64Cpu, insn: Insn): StopReason | undefined;
}

const TWO64 = 2 ** 64;
const wrap = (v: number): number => (v < 0 ? v + TWO64 : v >= TWO64 ? v - TWO64 : v);

export class Powerpc64Cpu {
  /** r0..r31 */
  readonly r = new Float64Array(32);
  pc = 0;
  lr = 0;
  ctr = 0;
  msr = 0;
  srr0 = 0;
  srr1 = 0;
  sprgScratch0 = 0;
  sprgPaca = 0;
  /** CR0's EQ bit (the only condition bit modelled). */
  eq = false;
  steps = 0;
  lastInsn: Insn | undefined;

  constructor(
    readonly prog: Program,
    readonly mem: Memory,
    readonly shadow: ShadowStack,
    readonly hooks: Powerpc64Hooks,
  ) {}

  get sp(): number {
    return this.r[REG_SP]!;
  }
  set sp(v: number) {
    this.r[REG_SP] = v;
  }

  get user(): boolean {
    return (this.msr & A.MSR_PR) !== 0;
  }

  get irqMasked(): boolean {
    return (this.msr & A.MSR_EE) === 0;
  }

  /** An interrupt before the instruction at pc: SRR0/SRR1 saved, EE and PR cleared, pc = the vector. */
  takeInterrupt(kind: string, vector: number): void {
    if (!this.user) this.shadow.exception(kind, this.pc);
    this.srr0 = this.pc;
    this.srr1 = this.msr;
    this.msr &= ~(A.MSR_EE | A.MSR_PR | A.MSR_RI);
    this.pc = vector;
  }

  private spr(name: string | undefined): number {
    switch (name) {
      case 'srr0':
        return this.srr0;
      case 'srr1':
        return this.srr1;
      case 'sprg_scratch0':
        return this.sprgScratch0;
      case 'sprg_paca':
        return this.sprgPaca;
    }
    return 0;
  }

  private setSpr(name: string | undefined, v: number): void {
    if (name === 'srr0') this.srr0 = v;
    else if (name === 'srr1') this.srr1 = v;
    else if (name === 'sprg_scratch0') this.sprgScratch0 = v;
    else if (name === 'sprg_paca') this.sprgPaca = v;
  }

  /** Registers by snapshot name: r0..r31, lr, ctr, msr, pc. */
  regsRecord(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 0; i < 32; i++) out[`r${i}`] = this.r[i]!;
    out.lr = this.lr;
    out.ctr = this.ctr;
    out.msr = this.msr;
    out.pc = this.pc;
    return out;
  }

  step(): StopReason {
    return this.run(1);
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
          r[i.rd] = wrap(r[i.ra]! + i.imm);
          break;
        case Op.ANDI_: {
          // Only small masks are used (MSR bits): the low 32 bits decide.
          r[i.rd] = ((r[i.ra]! % 4294967296) & i.imm) >>> 0;
          this.eq = r[i.rd] === 0;
          break;
        }
        case Op.ADD:
          r[i.rd] = wrap(r[i.ra]! + r[i.rb]!);
          break;
        case Op.SUBF:
          r[i.rd] = wrap(r[i.rb]! - r[i.ra]!);
          break;
        case Op.LI:
          r[i.rd] = wrap(i.imm);
          break;
        case Op.LA:
          r[i.rd] = i.target;
          break;
        case Op.LD:
        case Op.STD:
        case Op.STDU: {
          const ea = r[i.ra]! + i.imm;
          if (i.op === Op.LD) r[i.rd] = mem.read64(ea);
          else mem.write64(ea, r[i.rd]!);
          if (mem.faults.length !== faults0) {
            this.lastInsn = i;
            this.pc = next;
            return 'fault';
          }
          if (i.op === Op.STDU) r[i.ra] = ea;
          break;
        }
        case Op.MFLR:
          r[i.rd] = this.lr;
          break;
        case Op.MTLR:
          this.lr = r[i.rd]!;
          break;
        case Op.MFCTR:
          r[i.rd] = this.ctr;
          break;
        case Op.MTCTR:
          this.ctr = r[i.rd]!;
          break;
        case Op.MTMSRD:
          this.msr = (this.msr & ~(A.MSR_EE | A.MSR_RI)) | (r[i.rd]! & (A.MSR_EE | A.MSR_RI));
          break;
        case Op.MFMSR:
          r[i.rd] = this.msr;
          break;
        case Op.MFSPR:
          r[i.rd] = this.spr(i.sys);
          break;
        case Op.MTSPR:
          this.setSpr(i.sys, r[i.rd]!);
          break;
        case Op.CMPDI:
          this.eq = r[i.ra] === wrap(i.imm);
          break;
        case Op.CMPD:
          this.eq = r[i.ra] === r[i.rb];
          break;
        case Op.B:
          if (i.crossFn) this.shadow.transfer(i.target, 'jump');
          next = i.target;
          break;
        case Op.BL:
          this.lr = next;
          this.shadow.call(pc, next);
          next = i.target;
          break;
        case Op.BC:
          if (this.eq === i.whenEq) {
            next = i.target;
            if (i.crossFn) this.shadow.transfer(next, 'jump');
          }
          break;
        case Op.BLR:
          next = this.lr;
          this.shadow.transfer(next, 'ret');
          break;
        case Op.BCTR:
          next = this.ctr;
          this.shadow.transfer(next, 'jump');
          break;
        case Op.BCTRL:
          this.lr = next;
          this.shadow.call(pc, next);
          next = this.ctr;
          break;
        case Op.RFID: {
          next = this.srr0;
          this.msr = this.srr1;
          if (this.user) {
            if (this.shadow.entries.length) throw new ShadowError(`rfid to user mode with live kernel frames (${this.shadow.entries.map((e) => e.fn).join(' <- ')})`);
            this.pc = next;
            this.lastInsn = i;
            return 'user';
          }
          this.shadow.transfer(next, 'eret');
          break;
        }
        case Op.JUNK: {
          // Clobber volatile argument registers (r5..r8) with recognisable junk; never r0..r4, r9..r13 or non-volatiles.
          const k = this.steps;
          const pool = [5, 6, 7, 8];
          r[pool[k % 4]!] = 0x5a5a0000 + ((k * 31) & 0xffff);
          r[pool[(k + 1) % 4]!] = 0x6b6b0000 + ((k * 17) & 0xffff);
          r[pool[(k + 3) % 4]!] = (k * 7919) & 0xffffff;
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
            return stop;
          }
          next = this.pc;
          break;
        }
      }
      this.pc = next;
    }
  }
}

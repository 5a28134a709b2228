/**
 * riscv64 interpreter for the assembler's instruction subset. Every control transfer is reported
 * to the ShadowStack (ground truth): a JAL/JALR that links (rd != zero) -> call, whatever register
 * it links in (the ftrace call site links in t0); `ret` (jalr zero, 0(ra)) -> return; any other
 * jump out of the function (a tail call, `jr t0` back to a traced function) -> transfer; a trap ->
 * exception; SRET -> transfer(..., 'eret'). Memory faults are recorded by Memory and stop the CPU.
 */
import type { Memory } from '../../machine/memory';
import { ShadowError, type ShadowStack } from '../../truth/shadow';
import { RISCV64_ABI as A } from './abi';
import { Op, REG_RA, REG_SP, type Insn, type Program } from './assembler';

export type StopReason = 'blocked' | 'user' | 'walk' | 'break' | 'limit' | 'undef' | 'fault';

export interface Riscv64Hooks {
  pseudo(cpu: Riscv64Cpu, insn: Insn): StopReason | undefined;
}

const TWO64 = 2 ** 64;
const wrap = (v: number): number => (v < 0 ? v + TWO64 : v >= TWO64 ? v - TWO64 : v);

export class Riscv64Cpu {
  /** x0..x31; x0 reads 0. */
  readonly x = new Float64Array(32);
  pc = 0;
  /** Current privilege: true in S-mode (the kernel), false in U-mode. */
  smode = true;
  sstatus = 0;
  sepc = 0;
  scause = 0;
  stval = 0;
  sscratch = 0;
  steps = 0;
  lastInsn: Insn | undefined;

  constructor(
    readonly prog: Program,
    readonly mem: Memory,
    readonly shadow: ShadowStack,
    readonly hooks: Riscv64Hooks,
  ) {}

  get sp(): number {
    return this.x[REG_SP]!;
  }
  set sp(v: number) {
    this.x[REG_SP] = v;
  }

  get irqMasked(): boolean {
    return (this.sstatus & A.SR_SIE) === 0;
  }

  /** A trap before the instruction at pc: sepc/scause saved, SIE -> SPIE, SPP = the old mode, pc = stvec. */
  takeTrap(kind: string, cause: number, vector: number): void {
    if (this.smode) this.shadow.exception(kind, this.pc);
    this.sepc = this.pc;
    this.scause = cause;
    const sie = this.sstatus & A.SR_SIE;
    this.sstatus = (this.sstatus & ~(A.SR_SIE | A.SR_SPIE | A.SR_SPP)) | (sie ? A.SR_SPIE : 0) | (this.smode ? A.SR_SPP : 0);
    this.smode = true;
    this.pc = vector;
  }

  private csr(name: string | undefined): number {
    switch (name) {
      case 'sstatus':
        return this.sstatus;
      case 'sepc':
        return this.sepc;
      case 'scause':
        return this.scause;
      case 'stval':
        return this.stval;
      case 'sscratch':
        return this.sscratch;
    }
    return 0;
  }

  private setCsr(name: string | undefined, v: number): void {
    switch (name) {
      case 'sstatus':
        this.sstatus = v;
        return;
      case 'sepc':
        this.sepc = v;
        return;
      case 'scause':
        this.scause = v;
        return;
      case 'stval':
        this.stval = v;
        return;
      case 'sscratch':
        this.sscratch = v;
        return;
    }
  }

  /** Registers by snapshot name (ABI names, and pc). */
  regsRecord(names: readonly string[]): Record<string, number> {
    const r: Record<string, number> = {};
    for (let i = 1; i < 32; i++) r[names[i]!] = this.x[i]!;
    r.pc = this.pc;
    return r;
  }

  step(): StopReason {
    return this.run(1);
  }

  run(limit = 1_000_000, breakAt = -1, breakStep = -1): StopReason {
    const x = this.x;
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
          x[i.rd] = wrap(x[i.rs1]! + i.imm);
          break;
        case Op.ANDI: {
          // Only small masks are used (status bits): the low 32 bits decide.
          x[i.rd] = ((x[i.rs1]! % 4294967296) & i.imm) >>> 0;
          break;
        }
        case Op.ADD:
          x[i.rd] = wrap(x[i.rs1]! + x[i.rs2]!);
          break;
        case Op.SUB:
          x[i.rd] = wrap(x[i.rs1]! - x[i.rs2]!);
          break;
        case Op.LI:
          x[i.rd] = wrap(i.imm);
          break;
        case Op.LA:
          x[i.rd] = i.target;
          break;
        case Op.AUIPC:
          x[i.rd] = i.imm;
          break;
        case Op.LD:
        case Op.SD: {
          const ea = x[i.rs1]! + i.imm;
          if (i.op === Op.SD) mem.write64(ea, x[i.rs2]!);
          else x[i.rd] = mem.read64(ea);
          if (mem.faults.length !== faults0) {
            this.lastInsn = i;
            this.pc = next;
            x[0] = 0;
            return 'fault';
          }
          break;
        }
        case Op.JAL:
          if (i.rd !== 0) {
            x[i.rd] = next;
            this.shadow.call(pc, next);
          } else if (i.crossFn) this.shadow.transfer(i.target, 'jump');
          next = i.target;
          break;
        case Op.JALR: {
          const t = wrap(x[i.rs1]! + i.imm);
          if (i.rd !== 0) {
            x[i.rd] = next;
            this.shadow.call(pc, next);
          } else this.shadow.transfer(t, i.rs1 === REG_RA && i.imm === 0 ? 'ret' : 'jump');
          next = t;
          break;
        }
        case Op.BEQ:
        case Op.BNE:
          if ((x[i.rs1]! === x[i.rs2]!) === (i.op === Op.BEQ)) {
            next = i.target;
            if (i.crossFn) this.shadow.transfer(next, 'jump');
          }
          break;
        case Op.CSRR:
          x[i.rd] = this.csr(i.sys);
          break;
        case Op.CSRRW: {
          const old = this.csr(i.sys);
          this.setCsr(i.sys, x[i.rs1]!);
          x[i.rd] = old;
          break;
        }
        case Op.CSRW:
          this.setCsr(i.sys, i.rs1 >= 0 ? x[i.rs1]! : i.imm);
          break;
        case Op.CSRS:
        case Op.CSRC: {
          const v = i.rs1 >= 0 ? x[i.rs1]! : i.imm;
          const old = this.csr(i.sys);
          // Only the low status bits are ever set or cleared this way.
          this.setCsr(i.sys, i.op === Op.CSRS ? old | v : old & ~v);
          break;
        }
        case Op.SRET: {
          next = this.sepc;
          const toS = (this.sstatus & A.SR_SPP) !== 0;
          const spie = this.sstatus & A.SR_SPIE;
          this.sstatus = (this.sstatus & ~(A.SR_SIE | A.SR_SPP)) | (spie ? A.SR_SIE : 0) | A.SR_SPIE;
          if (!toS) {
            if (this.shadow.entries.length) throw new ShadowError(`sret to U-mode with live kernel frames (${this.shadow.entries.map((e) => e.fn).join(' <- ')})`);
            this.smode = false;
            this.pc = next;
            this.lastInsn = i;
            return 'user';
          }
          this.shadow.transfer(next, 'eret');
          break;
        }
        case Op.JUNK: {
          // Clobber three temporaries (t3..t6, a2..a5) with recognisable junk; never ra, sp, s0, t0..t2.
          const k = this.steps;
          const pool = [12, 13, 14, 15, 28, 29, 30, 31];
          x[pool[k % 8]!] = 0x5a5a0000 + ((k * 31) & 0xffff);
          x[pool[(k + 3) % 8]!] = 0x6b6b0000 + ((k * 17) & 0xffff);
          x[pool[(k + 5) % 8]!] = (k * 7919) & 0xffffff;
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
            x[0] = 0;
            return stop;
          }
          next = this.pc;
          break;
        }
      }
      x[0] = 0;
      this.pc = next;
    }
  }
}

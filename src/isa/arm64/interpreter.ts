/**
 * arm64 interpreter for the assembler's instruction subset. Every control transfer is reported to
 * the ShadowStack (ground truth): BL/BLR -> call, RET/BR/B to another function -> transfer,
 * exception entry -> exception, ERET -> transfer(..., 'eret'). Memory faults are recorded by
 * Memory and stop the CPU; they never escape as JS exceptions.
 */
import type { Memory } from '../../machine/memory';
import { ShadowError, type ShadowStack } from '../../truth/shadow';
import { Mode, Op, REG_LR, REG_SP, REG_ZR, type Insn, type Program } from './assembler';

export type StopReason =
  | 'blocked' // the task switched out (cpu_switch_to)
  | 'user' // ERET to EL0: back to user space
  | 'walk' // a WALK_POINT the machine was asked to stop at
  | 'break' // reached the requested break address / step
  | 'limit' // step limit
  | 'undef' // no instruction at pc
  | 'fault'; // memory access outside mapped memory

export const PSR_I = 0x80;
export const PSR_EL1H = 0x5;
export const PSR_MODE_MASK = 0xf;

/** Effects of pseudo-ops (kernel C code and CPU actions), supplied by the kernel image. */
export interface Arm64Hooks {
  pseudo(cpu: Arm64Cpu, insn: Insn): StopReason | undefined;
}

const TWO64 = 2 ** 64;
const wrap = (v: number): number => (v < 0 ? v + TWO64 : v >= TWO64 ? v - TWO64 : v);

export class Arm64Cpu {
  /** x0..x30, [31] = SP, [32] = XZR (always 0). */
  readonly x = new Float64Array(33);
  pc = 0;
  pstate = PSR_EL1H;
  elr = 0;
  spsr = 0;
  spEl0 = 0;
  /** Instructions executed. */
  steps = 0;
  /** The instruction that stopped the CPU, for messages. */
  lastInsn: Insn | undefined;

  constructor(
    readonly prog: Program,
    readonly mem: Memory,
    readonly shadow: ShadowStack,
    readonly hooks: Arm64Hooks,
  ) {}

  get sp(): number {
    return this.x[REG_SP]!;
  }
  set sp(v: number) {
    this.x[REG_SP] = v;
  }
  reg(i: number): number {
    return this.x[i]!;
  }
  setReg(i: number, v: number): void {
    if (i !== REG_ZR) this.x[i] = v;
  }

  get irqMasked(): boolean {
    return (this.pstate & PSR_I) !== 0;
  }

  /** The CPU takes an exception before the instruction at pc: ELR/SPSR saved, IRQs masked, pc = vector. */
  takeException(kind: string, vector: number): void {
    this.shadow.exception(kind, this.pc);
    this.elr = this.pc;
    this.spsr = this.pstate;
    this.pstate = 0x3c0 | PSR_EL1H;
    this.pc = vector;
  }

  /** Registers by snapshot name (x0..x30, sp, pc, pstate). */
  regsRecord(): Record<string, number> {
    const r: Record<string, number> = {};
    for (let i = 0; i <= 30; i++) r[`x${i}`] = this.x[i]!;
    r.sp = this.x[REG_SP]!;
    r.pc = this.pc;
    r.pstate = this.pstate;
    return r;
  }

  /** Execute one instruction ('limit' means it ran and nothing stopped the CPU). */
  step(): StopReason {
    return this.run(1);
  }

  /**
   * Run until a stop. `breakAt` stops before executing that address; `breakStep` stops when
   * `steps` reaches it. Both are checked before each instruction.
   */
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
        case Op.MOV_R:
          if (i.rd !== REG_ZR) x[i.rd] = x[i.rn]!;
          break;
        case Op.MOV_I:
          if (i.rd !== REG_ZR) x[i.rd] = i.imm;
          break;
        case Op.ADD_I:
          if (i.rd !== REG_ZR) x[i.rd] = wrap(x[i.rn]! + i.imm);
          break;
        case Op.SUB_I:
          if (i.rd !== REG_ZR) x[i.rd] = wrap(x[i.rn]! - i.imm);
          break;
        case Op.ADD_R:
          if (i.rd !== REG_ZR) x[i.rd] = wrap(x[i.rn]! + x[i.rt2]!);
          break;
        case Op.SUB_R:
          if (i.rd !== REG_ZR) x[i.rd] = wrap(x[i.rn]! - x[i.rt2]!);
          break;
        case Op.ADR:
          if (i.rd !== REG_ZR) x[i.rd] = i.target;
          break;
        case Op.LDR:
        case Op.STR:
        case Op.LDP:
        case Op.STP: {
          const base = x[i.rn]!;
          const ea = i.mode === Mode.Post ? base : base + i.imm;
          if (i.op === Op.STR) mem.write64(ea, x[i.rd]!);
          else if (i.op === Op.STP) {
            mem.write64(ea, x[i.rd]!);
            mem.write64(ea + 8, x[i.rt2]!);
          } else if (i.op === Op.LDR) {
            const v = mem.read64(ea);
            if (i.rd !== REG_ZR) x[i.rd] = v;
          } else {
            const a = mem.read64(ea);
            const b = mem.read64(ea + 8);
            if (i.rd !== REG_ZR) x[i.rd] = a;
            if (i.rt2 !== REG_ZR) x[i.rt2] = b;
          }
          if (i.mode !== Mode.Offset) x[i.rn] = base + i.imm;
          if (mem.faults.length !== faults0) {
            this.lastInsn = i;
            this.pc = next;
            return 'fault';
          }
          break;
        }
        case Op.B:
          next = i.target;
          if (i.crossFn) this.shadow.transfer(next, 'jump');
          break;
        case Op.CBZ:
        case Op.CBNZ:
          if ((x[i.rd]! === 0) === (i.op === Op.CBZ)) {
            next = i.target;
            if (i.crossFn) this.shadow.transfer(next, 'jump');
          }
          break;
        case Op.BL:
          x[REG_LR] = next;
          this.shadow.call(pc, next);
          next = i.target;
          break;
        case Op.BLR: {
          const t = x[i.rn]!;
          x[REG_LR] = next;
          this.shadow.call(pc, next);
          next = t;
          break;
        }
        case Op.BR:
          next = x[i.rn]!;
          this.shadow.transfer(next, 'jump');
          break;
        case Op.RET:
          next = x[i.rn]!;
          this.shadow.transfer(next, 'ret');
          break;
        case Op.ERET:
          next = this.elr;
          this.pstate = this.spsr;
          if ((this.pstate & PSR_MODE_MASK) === 0) {
            // Back to EL0: the task leaves the kernel. The user entry was never a shadow frame, and
            // every kernel frame must have been returned from.
            if (this.shadow.entries.length) throw new ShadowError(`eret to EL0 with live kernel frames (${this.shadow.entries.map((e) => e.fn).join(' <- ')})`);
            this.pc = next;
            this.x[REG_SP] = this.spEl0;
            this.lastInsn = i;
            return 'user';
          }
          this.shadow.transfer(next, 'eret');
          break;
        case Op.MRS:
          if (i.rd !== REG_ZR) x[i.rd] = i.sys === 'ELR_EL1' ? this.elr : i.sys === 'SPSR_EL1' ? this.spsr : i.sys === 'SP_EL0' ? this.spEl0 : 0;
          break;
        case Op.MSR: {
          const v = i.rn !== REG_ZR ? x[i.rn]! : i.imm;
          if (i.sys === 'ELR_EL1') this.elr = v;
          else if (i.sys === 'SPSR_EL1') this.spsr = v;
          else if (i.sys === 'SP_EL0') this.spEl0 = v;
          else if (i.sys === 'DAIFSET') this.pstate |= (i.imm & 0xf) << 6;
          else if (i.sys === 'DAIFCLR') this.pstate &= ~((i.imm & 0xf) << 6);
          break;
        }
        case Op.JUNK: {
          // Clobber three scratch registers with recognisable junk.
          const k = this.steps;
          x[k % 18] = 0x5a5a0000 + ((k * 31) & 0xffff);
          x[(k + 5) % 18] = 0x6b6b0000 + ((k * 17) & 0xffff);
          x[(k + 11) % 18] = (k * 7919) & 0xffffff;
          break;
        }
        case Op.PSEUDO: {
          this.pc = next;
          const stop = this.hooks.pseudo(this, i);
          if (stop) {
            this.lastInsn = i;
            // A stopping pseudo-op stays "about to execute" unless it blocked the task.
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

/**
 * s390x interpreter for the assembler's instruction subset. Every control transfer is reported to
 * the ShadowStack (ground truth): BRASL / BASR -> call, whatever register they link in (the ftrace
 * call site links in %r0); `br %r14` -> return; any other jump out of the function (a tail call,
 * ftrace_caller's `br %r1` back into the traced function) -> transfer; an interruption -> exception;
 * LPSWE -> transfer(..., 'eret'). Memory faults are recorded by Memory and stop the CPU.
 */
import type { Memory } from '../../machine/memory';
import { ShadowError, type ShadowStack } from '../../truth/shadow';
import { toU32Pair } from '../../machine/addr';
import { S390X_ABI as A, pswHi, pswMask, userMode } from './abi';
import { Op, REG_R14, REG_SP, type Insn, type Program } from './assembler';

export type StopReason = 'blocked' | 'user' | 'walk' | 'break' | 'limit' | 'undef' | 'fault';

export interface S390xHooks {
  pseudo(cpu: S390xCpu, insn: Insn): StopReason | undefined;
}

const TWO64 = 2 ** 64;
const wrap = (v: number): number => (v < 0 ? v + TWO64 : v >= TWO64 ? v - TWO64 : v);

export class S390xCpu {
  /** r0..r15 */
  readonly r = new Float64Array(16);
  pc = 0;
  /** The PSW mask (the PSW address is pc). */
  mask = 0;
  cc = 0;
  steps = 0;
  lastInsn: Insn | undefined;

  constructor(
    readonly prog: Program,
    readonly mem: Memory,
    readonly shadow: ShadowStack,
    readonly hooks: S390xHooks,
  ) {}

  get sp(): number {
    return this.r[REG_SP]!;
  }
  set sp(v: number) {
    this.r[REG_SP] = v;
  }

  get user(): boolean {
    return userMode(this.mask);
  }

  get irqMasked(): boolean {
    return (pswHi(this.mask) & (A.PSW_HI_IO | A.PSW_HI_EXT)) === 0;
  }

  /** Enable or disable I/O and external interrupts (the system mask). */
  setIrqs(on: boolean): void {
    const hi = pswHi(this.mask);
    const bits = A.PSW_HI_IO | A.PSW_HI_EXT;
    this.mask = pswMask(on ? (hi | bits) >>> 0 : (hi & ~bits) >>> 0);
  }

  /**
   * An interruption before the instruction at pc: the old PSW is stored at `oldPsw` (its lowcore slot),
   * the new PSW (kernel mode, I/O and external interrupts off) is loaded with `handler`.
   */
  interrupt(kind: string, oldPsw: number, handler: number): void {
    if (!this.user) this.shadow.exception(kind, this.pc);
    this.mem.write64(oldPsw, this.mask);
    this.mem.write64(oldPsw + 8, this.pc);
    this.mask = 0;
    this.pc = handler;
  }

  /** Registers by snapshot name (r0..r15), pc and the PSW mask. */
  regsRecord(names: readonly string[]): Record<string, number> {
    const r: Record<string, number> = {};
    for (let i = 0; i < 16; i++) r[names[i]!] = this.r[i]!;
    r.pc = this.pc;
    r.psw_mask = this.mask;
    return r;
  }

  run(limit = 1_000_000, breakAt = -1, breakStep = -1): StopReason {
    const r = this.r;
    const mem = this.mem;
    const prog = this.prog;
    const end = this.steps + limit;
    const faults0 = mem.faults.length;
    const ea = (i: Insn, d = i.imm, b = i.base): number => wrap((b ? r[b]! : 0) + d);
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
        case Op.LGR:
          r[i.r1] = r[i.r2]!;
          break;
        case Op.LTGR: {
          const v = r[i.r2]!;
          r[i.r1] = v;
          this.cc = v === 0 ? 0 : toU32Pair(v)[1] >= 2 ** 31 ? 1 : 2;
          break;
        }
        case Op.LGHI:
          r[i.r1] = wrap(i.imm);
          break;
        case Op.AGHI:
          r[i.r1] = wrap(r[i.r1]! + i.imm);
          break;
        case Op.LA:
          r[i.r1] = ea(i);
          break;
        case Op.LARL:
          r[i.r1] = i.target;
          break;
        case Op.TMHH: {
          const sel = ((toU32Pair(r[i.r1]!)[1] >>> 16) & i.imm) >>> 0;
          this.cc = sel === 0 ? 0 : sel === i.imm ? 3 : 1;
          break;
        }
        case Op.LG:
        case Op.STG:
        case Op.STMG:
        case Op.LMG:
        case Op.MVGHI:
        case Op.MVC: {
          const a = i.op === Op.MVGHI ? ea(i, i.imm2) : ea(i);
          if (i.op === Op.LG) r[i.r1] = mem.read64(a);
          else if (i.op === Op.STG) mem.write64(a, r[i.r1]!);
          else if (i.op === Op.MVGHI) mem.write64(a, wrap(i.imm));
          else if (i.op === Op.MVC) {
            const src = ea(i, i.imm2, i.base2);
            for (let k = 0; k < i.len; k += 8) mem.write64(a + k, mem.read64(src + k));
          } else {
            // STMG / LMG: r1 up to r3, wrapping past r15 to r0.
            const n = ((i.r3 - i.r1 + 16) % 16) + 1;
            const vals = i.op === Op.LMG ? Array.from({ length: n }, (_, k) => mem.read64(a + 8 * k)) : [];
            for (let k = 0; k < n; k++) {
              const reg = (i.r1 + k) % 16;
              if (i.op === Op.STMG) mem.write64(a + 8 * k, r[reg]!);
              else r[reg] = vals[k]!;
            }
          }
          if (mem.faults.length !== faults0) {
            this.lastInsn = i;
            this.pc = next;
            return 'fault';
          }
          break;
        }
        case Op.BRASL:
          r[i.r1] = next;
          this.shadow.call(pc, next);
          next = i.target;
          break;
        case Op.BASR: {
          const t = r[i.r2]!;
          r[i.r1] = next;
          this.shadow.call(pc, next);
          next = t;
          break;
        }
        case Op.BR: {
          const t = r[i.r2]!;
          this.shadow.transfer(t, i.r2 === REG_R14 ? 'ret' : 'jump');
          next = t;
          break;
        }
        case Op.J:
          if (i.crossFn) this.shadow.transfer(i.target, 'jump');
          next = i.target;
          break;
        case Op.BRC:
          if ((i.mask >> (3 - this.cc)) & 1) {
            next = i.target;
            if (i.crossFn) this.shadow.transfer(next, 'jump');
          }
          break;
        case Op.LPSWE: {
          const a = ea(i);
          const mask = mem.read64(a);
          next = mem.read64(a + 8);
          this.mask = mask;
          if (userMode(mask)) {
            if (this.shadow.entries.length) throw new ShadowError(`lpswe to user mode with live kernel frames (${this.shadow.entries.map((e) => e.fn).join(' <- ')})`);
            this.pc = next;
            this.lastInsn = i;
            return 'user';
          }
          this.shadow.transfer(next, 'eret');
          break;
        }
        case Op.JUNK: {
          // Clobber volatile registers (r0, r1, r3, r4, r5) with recognisable junk; never r2 or r6..r15.
          const k = this.steps;
          const pool = [0, 1, 3, 4, 5];
          r[pool[k % 5]!] = 0x5a5a0000 + ((k * 31) & 0xffff);
          r[pool[(k + 2) % 5]!] = (k * 7919) & 0xffffff;
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

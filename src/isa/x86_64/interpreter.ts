/**
 * x86_64 interpreter for the decoded instruction subset. Every control transfer is reported to
 * the ShadowStack (ground truth): call -> shadow.call, ret / jmp to another function / JMP_NOSPEC ->
 * shadow.transfer, exception entry -> shadow.exception, iretq -> shadow.transfer(..., 'eret').
 * Memory goes through Memory (faults are recorded there, never thrown).
 */
import type { Memory } from '../../machine/memory';
import type { SymbolTable } from '../../machine/symbols';
import { ShadowError, type ShadowStack } from '../../truth/shadow';
import { OP, RSP, RBP, type Insn } from './assembler';
import { hex } from '../../machine/addr';

export const EFLAGS_IF = 0x200;
export const EFLAGS_ZF = 0x40;
const EFLAGS_FIXED = 0x2;

/** A hook implements a pseudo-op (effects of kernel C code). It may stop the CPU. */
export type Hook = (cpu: Cpu, insn: Insn) => void;

export interface ExceptionEntry {
  /** Handler entry address (asm_common_interrupt, asm_exc_nmi, asm_exc_int3). */
  vector: number;
  /** IST stack top to switch to (NMI), or undefined to stay on the current stack. */
  ist?: number;
}

export class CpuFault extends Error {}

export class Cpu {
  /** rax..r15 by number (see REGS). */
  readonly r: number[] = new Array<number>(16).fill(0);
  rip = 0;
  eflags = EFLAGS_FIXED;
  cs = 0x10;
  steps = 0;
  /** Set by a hook or by sysretq; run() stops when non-null. */
  stopped: string | null = null;
  constructor(
    readonly mem: Memory,
    public code: Map<number, Insn>,
    readonly shadow: ShadowStack,
    readonly syms: SymbolTable,
    readonly hooks: Record<string, Hook> = {},
  ) {}

  get rsp(): number {
    return this.r[RSP]!;
  }
  set rsp(v: number) {
    this.r[RSP] = v;
  }

  insnAt(addr: number): Insn | undefined {
    return this.code.get(addr);
  }

  push(v: number): void {
    const sp = this.r[RSP]! - 8;
    this.r[RSP] = sp;
    this.mem.write64(sp, v);
  }

  pop(): number {
    const sp = this.r[RSP]!;
    this.r[RSP] = sp + 8;
    return this.mem.read64(sp);
  }

  /**
   * Hardware exception entry in kernel mode: align rsp (or switch to the IST stack), push the iret
   * frame (ss, rsp, rflags, cs, rip), clear IF, and jump to the vector. `resume` is where the
   * interrupted code continues (the saved rip, unless a handler will adjust it, e.g. kprobes).
   */
  exception(kind: string, e: ExceptionEntry, savedRip = this.rip, resume = savedRip): void {
    const oldSp = this.r[RSP]!;
    this.r[RSP] = e.ist !== undefined ? e.ist : Math.floor(oldSp / 16) * 16;
    this.push(0x18);
    this.push(oldSp);
    this.push(this.eflags);
    this.push(this.cs);
    this.push(savedRip);
    this.eflags &= ~EFLAGS_IF;
    this.shadow.exception(kind, resume);
    this.rip = e.vector;
  }

  private sameFn(a: number, b: number): boolean {
    const s = this.syms.lookup(a);
    return !!s && b >= s.start && b < s.end;
  }

  /** Execute one instruction. Returns false when the CPU is stopped or faulted. */
  step(): boolean {
    if (this.stopped !== null) return false;
    try {
      return this.exec();
    } catch (e) {
      // A transfer the shadow cannot explain (e.g. a return through a corrupted slot) stops the CPU.
      if (e instanceof ShadowError) {
        this.stopped = `shadow: ${e.message}`;
        return false;
      }
      throw e;
    }
  }

  private exec(): boolean {
    const i = this.code.get(this.rip);
    if (i === undefined) {
      this.stopped = `no instruction at ${hex(this.rip)}`;
      return false;
    }
    const r = this.r;
    const mem = this.mem;
    let next = i.addr + i.size;
    this.steps++;
    switch (i.op) {
      case OP.PUSH_R:
        this.push(r[i.r2]!);
        break;
      case OP.PUSH_I:
        this.push(i.imm);
        break;
      case OP.PUSH_M:
        this.push(mem.read64((i.r2 < 0 ? 0 : r[i.r2]!) + i.disp));
        break;
      case OP.POP_R: {
        const v = this.pop();
        r[i.r1] = v;
        break;
      }
      case OP.MOV_RR:
        r[i.r1] = r[i.r2]!;
        break;
      case OP.MOV_IR:
        r[i.r1] = i.imm;
        break;
      case OP.MOV_MR:
        r[i.r1] = mem.read64((i.r2 < 0 ? 0 : r[i.r2]!) + i.disp);
        break;
      case OP.MOV_RM:
        mem.write64((i.r2 < 0 ? 0 : r[i.r2]!) + i.disp, r[i.r1]!);
        break;
      case OP.MOV_IM:
        mem.write64((i.r2 < 0 ? 0 : r[i.r2]!) + i.disp, i.imm);
        break;
      case OP.LEA:
        r[i.r1] = r[i.r2]! + i.disp;
        break;
      case OP.ADD_IR:
        r[i.r1] = r[i.r1]! + i.imm;
        this.setZ(r[i.r1]!);
        break;
      case OP.SUB_IR:
        r[i.r1] = r[i.r1]! - i.imm;
        this.setZ(r[i.r1]!);
        break;
      case OP.ADD_RR:
        r[i.r1] = r[i.r1]! + r[i.r2]!;
        this.setZ(r[i.r1]!);
        break;
      case OP.SUB_RR:
        r[i.r1] = r[i.r1]! - r[i.r2]!;
        this.setZ(r[i.r1]!);
        break;
      case OP.XOR_RR:
        r[i.r1] = i.r1 === i.r2 ? 0 : Number(BigInt(r[i.r1]!) ^ BigInt(r[i.r2]!));
        this.setZ(r[i.r1]!);
        break;
      case OP.TEST_RR:
        this.setZ(i.r1 === i.r2 ? r[i.r1]! : Number(BigInt(r[i.r1]!) & BigInt(r[i.r2]!)));
        break;
      case OP.CMP_IR:
        this.setZ(r[i.r1]! - i.imm);
        break;
      case OP.JZ:
        if (this.eflags & EFLAGS_ZF) next = this.jump(i, i.target);
        break;
      case OP.JNZ:
        if (!(this.eflags & EFLAGS_ZF)) next = this.jump(i, i.target);
        break;
      case OP.JMP:
        next = this.jump(i, i.target);
        break;
      case OP.DETOUR:
        // The probed function is not on the stack nor in a register, but the task will jump back
        // to it: the shadow keeps it live until the jump to `imm`.
        this.shadow.call(i.addr, i.imm);
        next = i.target;
        break;
      case OP.JMP_R:
        next = r[i.r2]!;
        this.shadow.transfer(next, 'jump');
        break;
      case OP.CALL:
        this.push(next);
        // An intra-function call (ANNOTATE_INTRA_FUNCTION_CALL) is a push and a jump: no new frame.
        // A call to the function's own entry is recursion: a new frame.
        if (!this.sameFn(i.addr, i.target) || this.syms.lookup(i.target)?.start === i.target) this.shadow.call(i.addr, next);
        next = i.target;
        break;
      case OP.CALL_R: {
        const t = r[i.r2]!;
        this.push(next);
        this.shadow.call(i.addr, next);
        next = t;
        break;
      }
      case OP.RET:
        next = this.pop();
        this.shadow.transfer(next, 'ret');
        break;
      case OP.IRETQ: {
        next = this.pop();
        this.cs = this.pop();
        this.eflags = this.pop();
        const sp = this.pop();
        this.pop(); // ss
        r[RSP] = sp;
        this.shadow.transfer(next, 'eret');
        break;
      }
      case OP.SYSRETQ:
        // The user entry was never a shadow frame: every kernel frame must have been returned from.
        if (this.shadow.entries.length) throw new ShadowError(`sysretq with live kernel frames (${this.shadow.entries.map((e) => e.fn).join(' <- ')})`);
        this.stopped = 'returned to user space';
        this.rip = next;
        return false;
      case OP.NOP:
      case OP.FENTRY: // `call __fentry__` patched to a 5-byte NOP at boot
        break;
      case OP.INT3: {
        const h = this.hooks['int3'];
        if (!h) throw new CpuFault(`int3 at ${hex(i.addr)} with no handler`);
        this.rip = next;
        h(this, i);
        return this.stopped === null;
      }
      case OP.LEAVE:
        r[RSP] = r[RBP]!;
        r[RBP] = this.pop();
        break;
      case OP.PUSHF:
        this.push(this.eflags);
        break;
      case OP.POPF:
        this.eflags = this.pop() | EFLAGS_FIXED;
        break;
      case OP.CLI:
        this.eflags &= ~EFLAGS_IF;
        break;
      case OP.STI:
        this.eflags |= EFLAGS_IF;
        break;
      case OP.BODY:
        r[i.r1] = (r[i.r1]! * 31 + i.imm) % 0xffffffffff;
        break;
      case OP.HOOK: {
        const h = this.hooks[i.hook!];
        if (!h) throw new CpuFault(`no hook ${i.hook}`);
        this.rip = next;
        h(this, i);
        return this.stopped === null;
      }
      default:
        throw new CpuFault(`bad op ${i.op}`);
    }
    this.rip = next;
    return true;
  }

  private setZ(v: number): void {
    if (v === 0) this.eflags |= EFLAGS_ZF;
    else this.eflags &= ~EFLAGS_ZF;
  }

  private jump(i: Insn, target: number): number {
    if (!this.sameFn(i.addr, target)) this.shadow.transfer(target, 'jump');
    return target;
  }

  /** Run until stopped, `until(cpu)` holds before an instruction, or `max` steps. */
  run(max = 1_000_000, until?: (cpu: Cpu) => boolean): string {
    const end = this.steps + max;
    while (this.stopped === null) {
      if (until && until(this)) return 'until';
      if (this.steps >= end) return 'step limit';
      this.step();
    }
    return this.stopped;
  }

  regsRecord(): Record<string, number> {
    const names = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];
    const o: Record<string, number> = {};
    names.forEach((n, k) => (o[n] = Math.max(0, this.r[k]!)));
    o['rip'] = this.rip;
    o['eflags'] = this.eflags;
    o['cs'] = this.cs;
    return o;
  }
}

/**
 * One run of the simulated powerpc64 kernel: memory, CPU, ground truth and tracing state for one task
 * executing a workload. Pseudo-ops (effects of kernel C code and CPU actions) are implemented here.
 */
import { POWERPC64_ABI as A } from '../../isa/powerpc64/abi';
import { parseReg, type Insn } from '../../isa/powerpc64/assembler';
import { Powerpc64Cpu, type Powerpc64Hooks, type StopReason } from '../../isa/powerpc64/interpreter';
import { Memory } from '../../machine/memory';
import { SymbolTable } from '../../machine/symbols';
import { ShadowStack } from '../../truth/shadow';
import { TaskTracing } from '../tracing';
import { fgraphPrepare, regionMapper, symbolCache, walkPoint } from '../machine-parts';
import { KTHREAD_STACK_END, MAP, MSR_KERNEL, MSR_USER, NMI_INTERRUPTED, OTHER_TASK, PACA, PACA_THREAD_INFO, PACAKSAVE, TASK, THREAD_KSP, TI_LIVEPATCH_SP, USER_PC, USER_SP, USER_STACK_END, type Image } from './image';

export interface RunConfig {
  walkAt?: 'irq' | 'nmi' | 'brk' | 'page-fault';
  nestedNmi?: boolean;
  preempt?: boolean;
}

export const symbolsOf = symbolCache<Image>();
const mapRegions = regionMapper();

/** pt_regs->trap and the C handler of each interrupt kind. */
const TRAPS = {
  irq: { trap: A.TRAP_EXTERNAL, handler: 'do_IRQ' },
  brk: { trap: A.TRAP_PROGRAM, handler: 'program_check_exception' },
  'page-fault': { trap: A.TRAP_DATA_STORAGE, handler: 'do_page_fault' },
  warn: { trap: A.TRAP_PROGRAM, handler: 'do_warn_trap' },
} as const;
type TrapKind = keyof typeof TRAPS;

export class Powerpc64Machine implements Powerpc64Hooks {
  readonly mem = new Memory();
  readonly syms: SymbolTable;
  readonly shadow: ShadowStack;
  readonly tracing = new TaskTracing();
  readonly cpu: Powerpc64Cpu;
  cfg: RunConfig = {};
  nmiTaken = false;
  preemptCount = 0;
  /** The interrupt being delivered (TRAP_CLASS reads it), innermost last. */
  private pending: TrapKind[] = [];
  /** A frame of the other task, blocked in schedule() (target of the other-task corruptions). */
  otherRecord = 0;

  constructor(readonly img: Image) {
    this.syms = symbolsOf(img);
    mapRegions(this.mem, MAP);
    this.shadow = new ShadowStack(this.syms);
    this.cpu = new Powerpc64Cpu(img.prog, this.mem, this.shadow, this);
    this.tracing.fgraphEnabled = img.fgraph.size > 0;
    this.setupOtherTask();
    this.start();
  }

  addr(name: string): number {
    return this.syms.get(name).start;
  }

  get stackEnd(): number {
    return this.img.code.kthread ? KTHREAD_STACK_END : USER_STACK_END;
  }

  private start(): void {
    const cpu = this.cpu;
    cpu.sprgPaca = PACA;
    this.mem.write64(PACA + PACAKSAVE, USER_STACK_END);
    this.mem.write64(PACA + PACA_THREAD_INFO, TASK);
    // klp_init_thread_info(): the livepatch stack starts one word above the STACK_END_MAGIC at the stack's bottom.
    this.mem.write64(MAP.task.base, A.STACK_END_MAGIC);
    this.mem.write64(TASK + TI_LIVEPATCH_SP, MAP.task.base + 8);
    if (this.img.code.kthread) {
      // copy_thread(): an initial minimal frame with a zero back chain at the top; fn in r14, arg in r15.
      this.mem.write64(KTHREAD_STACK_END, 0);
      cpu.pc = this.addr('start_kernel_thread');
      cpu.sp = KTHREAD_STACK_END;
      cpu.r[13] = PACA;
      cpu.r[14] = this.addr('kthread');
      cpu.r[15] = 0;
      cpu.msr = MSR_KERNEL | A.MSR_EE;
      return;
    }
    // sc from user space: user registers, r0 = the syscall (its handler's address here).
    for (let r = 0; r < 32; r++) cpu.r[r] = 0x1000 + r;
    cpu.sp = USER_SP;
    cpu.r[0] = this.addr(this.img.code.syscall!);
    cpu.lr = USER_PC + 0x80;
    cpu.msr = MSR_USER;
    cpu.pc = USER_PC;
    cpu.takeInterrupt('syscall', this.addr('system_call_common'));
  }

  /** Another task (pid 200), blocked in schedule() under worker_thread: a real-looking back chain. */
  private setupOtherTask(): void {
    const m = this.mem;
    const top = MAP.other.base + MAP.other.size - A.STACK_FRAME_MIN_SIZE;
    m.write64(top, 0);
    m.write64(top + 16, this.returnAddress('start_kernel_thread', 'bctrl'));
    const chain = [
      ['kthread', 'bctrl'],
      ['worker_thread', 'bl schedule'],
      ['schedule', 'bl __schedule'],
      ['__schedule', 'bl _switch'],
    ] as const;
    let sp = top;
    for (const [fn, call] of chain) {
      // fn's frame: the back chain, and the return into fn its callee saved in the LR save slot.
      const frame = sp - 64;
      m.write64(frame, sp);
      m.write64(frame + 16, this.returnAddress(fn, call));
      sp = frame;
    }
    this.otherRecord = sp;
    const ksp = sp - A.STACK_SWITCH_FRAME_SIZE;
    m.write64(ksp, sp);
    m.write64(OTHER_TASK + THREAD_KSP, ksp);
  }

  /** The address after the call instruction `call` in `fn`. */
  returnAddress(fn: string, call: string): number {
    const s = this.syms.get(fn);
    for (let a = s.start; a < s.end; a += 4) if (this.img.prog.insnAt(a)?.text === call) return a + 4;
    throw new Error(`${fn} has no ${call}`);
  }

  taskStackHas(addr: number): boolean {
    return addr >= MAP.task.base && addr < MAP.task.base + MAP.task.size;
  }

  /** Take an interrupt before the instruction at pc. */
  takeException(kind: 'irq' | 'nmi' | 'brk' | 'page-fault'): void {
    const cpu = this.cpu;
    if (kind === 'nmi') {
      // System reset: the interrupted pc, msr and r1 kept aside, entry on the PACA's emergency stack.
      cpu.shadow.exception('nmi', cpu.pc);
      this.mem.write64(NMI_INTERRUPTED, cpu.pc);
      this.mem.write64(NMI_INTERRUPTED + 8, cpu.msr);
      this.mem.write64(NMI_INTERRUPTED + 16, cpu.sp);
      cpu.msr &= ~(A.MSR_EE | A.MSR_PR | A.MSR_RI);
      cpu.sp = MAP.nmi.base + MAP.nmi.size;
      cpu.pc = this.addr('system_reset_common');
      return;
    }
    this.pending.push(kind);
    cpu.takeInterrupt(kind, this.addr('interrupt_common'));
  }

  pseudo(cpu: Powerpc64Cpu, i: Insn): StopReason | undefined {
    const r = cpu.r;
    switch (i.sys) {
      case 'CPU_SWITCH':
        return 'blocked';
      case 'KLP_TARGET': {
        // klp_ftrace_handler(): the replacement of the livepatched function the call site at r11 - 4 is in.
        // The old function is never resumed: its call into ftrace_caller leaves the shadow record.
        const fn = this.syms.lookup(r[parseReg(i.args?.[1] ?? '') ?? 0]! - 4);
        const to = fn && this.img.code.livepatch?.[fn.name];
        r[i.rd] = to ? this.addr(to) : 0;
        if (to) {
          const top = cpu.shadow.entries.pop();
          if (top?.fn !== fn.name) throw new Error(`KLP_TARGET: the live call is ${top?.fn}, not ${fn.name}`);
        }
        return undefined;
      }
      case 'WARN_TRAP':
        // twi at a WARN_ON: a program check, resumed after the trap once report_bug() has run.
        this.pending.push('warn');
        cpu.takeInterrupt('warn', this.addr('interrupt_common'));
        return undefined;
      case 'WALK_POINT':
        return walkPoint(this, cpu, i);
      case 'NEED_RESCHED':
        r[i.rd] = this.cfg.preempt && this.preemptCount === 0 ? 1 : 0;
        return undefined;
      case 'PREEMPT_DISABLE':
        this.preemptCount++;
        return undefined;
      case 'PREEMPT_ENABLE':
        this.preemptCount--;
        return undefined;
      case 'TRAP_CLASS': {
        // The vector's trap number and C handler.
        const kind = this.pending.pop();
        if (!kind) throw new Error('TRAP_CLASS with no interrupt being delivered');
        r[9] = TRAPS[kind].trap;
        r[12] = this.addr(TRAPS[kind].handler);
        return undefined;
      }
      case 'ON_TASK_STACK':
        r[i.rd] = this.taskStackHas(cpu.sp) ? 1 : 0;
        return undefined;
      case 'FGRAPH_PREPARE': {
        // prepare_ftrace_return(&fregs->link, ip, fregs->gpr[1]): the caller's frame is the key.
        const fregs = r[6]!;
        fgraphPrepare(this, r[3]!, fregs + A.LINK, () => this.mem.read64(fregs + A.GPR1));
        return undefined;
      }
      case 'FGRAPH_RETURN':
        r[3] = this.tracing.popGraph().ret;
        return undefined;
      case 'KPROBE_HIT': {
        // The trap at the probed function's entry -> arch_rethook_prepare(): LR saved with r1 as the frame, LR rewritten.
        // Simplified: the trap is taken and returned from in one step (no walk happens in it).
        const fn = this.syms.lookup(i.addr)!;
        this.tracing.pushKretprobe({ ret: cpu.lr, func: fn.start, retp: cpu.sp });
        cpu.lr = this.addr('arch_rethook_trampoline');
        return undefined;
      }
      case 'KRETPROBE_RETURN':
        r[3] = this.tracing.popKretprobes(this.addr('arch_rethook_trampoline'));
        return undefined;
      case 'NMI_COMPLETE': {
        const pc = this.mem.read64(NMI_INTERRUPTED);
        cpu.msr = this.mem.read64(NMI_INTERRUPTED + 8);
        cpu.sp = this.mem.read64(NMI_INTERRUPTED + 16);
        cpu.pc = pc;
        cpu.shadow.transfer(pc, 'eret');
        return undefined;
      }
      default:
        throw new Error(`unknown pseudo-op ${i.sys}`);
    }
  }

  /** thread_info->livepatch_sp. */
  get livepatchSp(): number {
    return this.mem.read64(TASK + TI_LIVEPATCH_SP);
  }

  /** The blocked task's saved context: r1 = thread.ksp, the non-volatile GPRs from _switch's frame, pc in _switch. */
  savedContext(): Record<string, number> {
    const ksp = this.mem.read64(TASK + THREAD_KSP);
    const out: Record<string, number> = { r1: ksp };
    for (let n = 14; n < 32; n++) out[`r${n}`] = this.mem.read64(ksp + A.STACK_SWITCH_FRAME_REGS + 8 * n);
    out.pc = this.cpu.pc;
    return out;
  }

  /** The first return address a walk from the frame at `sp` reports: the LR save slot of the frame above it. */
  returnInto(sp: number): number {
    return this.mem.read64(this.mem.read64(sp) + 8 * A.STACK_FRAME_LR_SAVE);
  }

  regsRecord(): Record<string, number> {
    return this.cpu.regsRecord();
  }

  describe(addr: number): string {
    const i = this.img.prog.insnAt(addr);
    return `${this.syms.describe(addr)}${i ? ` (${i.text})` : ''}`;
  }
}

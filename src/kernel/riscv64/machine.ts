/**
 * One run of the simulated riscv64 kernel: memory, CPU, ground truth and tracing state for one task
 * executing a workload. Pseudo-ops (effects of kernel C code, SBI and CPU actions) are implemented here.
 */
import { RISCV64_ABI as A } from '../../isa/riscv64/abi';
import { REG_NAMES, type Insn } from '../../isa/riscv64/assembler';
import { Riscv64Cpu, type Riscv64Hooks, type StopReason } from '../../isa/riscv64/interpreter';
import { Memory } from '../../machine/memory';
import { SymbolTable } from '../../machine/symbols';
import { ShadowStack } from '../../truth/shadow';
import { TaskTracing } from '../tracing';
import { fgraphPrepare, regionMapper, symbolCache, walkPoint } from '../machine-parts';
import { FREGS, MAP, OTHER_PT_REGS, OTHER_TASK, SSE_INTERRUPTED, TASK, TASK_PT_REGS, TASK_THREAD, TI_KERNEL_SP, USER_PC, USER_SP, FINAL_FP, type Image } from './image';

export interface RunConfig {
  walkAt?: 'irq' | 'nmi' | 'brk' | 'page-fault';
  nestedNmi?: boolean;
  preempt?: boolean;
}

export const symbolsOf = symbolCache<Image>();
const mapRegions = regionMapper();

/** scause of each trap kind (an interrupt has the top bit set: here the supervisor timer, 5). */
const CAUSE = { irq: 2 ** 63 + 5, brk: A.EXC_BREAKPOINT, 'page-fault': A.EXC_LOAD_PAGE_FAULT } as const;

export class Riscv64Machine implements Riscv64Hooks {
  readonly mem = new Memory();
  readonly syms: SymbolTable;
  readonly shadow: ShadowStack;
  readonly tracing = new TaskTracing();
  readonly cpu: Riscv64Cpu;
  cfg: RunConfig = {};
  nmiTaken = false;
  preemptCount = 0;
  /** The other task's innermost frame pointer (target of the other-task corruptions). */
  otherRecord = 0;

  constructor(readonly img: Image) {
    this.syms = symbolsOf(img);
    mapRegions(this.mem, MAP);
    this.shadow = new ShadowStack(this.syms);
    this.cpu = new Riscv64Cpu(img.prog, this.mem, this.shadow, this);
    this.tracing.fgraphEnabled = img.fgraph.size > 0;
    this.setupOtherTask();
    this.start();
  }

  addr(name: string): number {
    return this.syms.get(name).start;
  }

  private start(): void {
    const cpu = this.cpu;
    const top = MAP.task.base + MAP.task.size;
    this.mem.write64(TASK + TI_KERNEL_SP, top);
    if (this.img.code.kthread) {
      // copy_thread(): zeroed pt_regs with the FINAL record; thread.s[0] points just above it.
      this.mem.write64(TASK_PT_REGS + A.S_STACKFRAME_TYPE, A.FRAME_META_TYPE_FINAL);
      cpu.pc = this.addr('ret_from_fork');
      cpu.sp = TASK_PT_REGS;
      cpu.x[8] = FINAL_FP;
      cpu.x[9] = this.addr('kthread');
      cpu.x[18] = 0;
      cpu.x[4] = TASK;
      cpu.sscratch = 0;
      cpu.smode = true;
      cpu.sstatus = A.SR_SIE;
      return;
    }
    // ecall from U-mode: user registers, sscratch = the task, a7 = the syscall (its handler's address here).
    for (let r = 1; r < 32; r++) cpu.x[r] = 0x1000 + r;
    cpu.x[2] = USER_SP;
    cpu.x[8] = USER_SP + 0x40;
    cpu.x[1] = USER_PC + 0x80;
    cpu.x[17] = this.addr(this.img.code.syscall!);
    cpu.sscratch = TASK;
    cpu.smode = false;
    cpu.sstatus = A.SR_SIE;
    cpu.pc = USER_PC;
    cpu.takeTrap('syscall', A.EXC_SYSCALL, this.addr('handle_exception'));
  }

  /** Another task (pid 200), blocked in schedule() under worker_thread: real-looking frame records. */
  private setupOtherTask(): void {
    const m = this.mem;
    m.write64(OTHER_PT_REGS + A.S_STACKFRAME_TYPE, A.FRAME_META_TYPE_FINAL);
    const chain = [
      ['ret_from_fork', 'jalr s1'],
      ['kthread', 'jalr t1'],
      ['worker_thread', 'call schedule'],
      ['schedule', 'call __schedule'],
    ] as const;
    let prev = OTHER_PT_REGS + A.S_STACKFRAME + A.FRAME_RECORD_OFFSET;
    let fp = OTHER_PT_REGS;
    for (const [fn, call] of chain) {
      m.write64(fp - 16, prev);
      m.write64(fp - 8, this.returnAddress(fn, call));
      prev = fp;
      fp -= 16;
    }
    this.otherRecord = prev;
    const t = OTHER_TASK + TASK_THREAD;
    m.write64(t + A.THREAD_RA, this.returnAddress('__schedule', 'call __switch_to'));
    m.write64(t + A.THREAD_SP, prev - 32);
    m.write64(t + A.THREAD_S0, prev);
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

  /** Take an exception before the instruction at pc. */
  takeException(kind: 'irq' | 'nmi' | 'brk' | 'page-fault'): void {
    const cpu = this.cpu;
    if (kind === 'nmi') {
      // SBI SSE delivery: the SBI keeps the interrupted pc and sp, and enters on the SSE stack.
      cpu.shadow.exception('nmi', cpu.pc);
      this.mem.write64(SSE_INTERRUPTED, cpu.pc);
      this.mem.write64(SSE_INTERRUPTED + 8, cpu.sp);
      cpu.sp = MAP.sse.base + MAP.sse.size;
      cpu.pc = this.addr('handle_sse');
      return;
    }
    cpu.takeTrap(kind, CAUSE[kind], this.addr('handle_exception'));
  }

  pseudo(cpu: Riscv64Cpu, i: Insn): StopReason | undefined {
    const x = cpu.x;
    switch (i.sys) {
      case 'CPU_SWITCH':
        return 'blocked';
      case 'WALK_POINT':
        return walkPoint(this, cpu, i);
      case 'NEED_RESCHED':
        x[i.rd] = this.cfg.preempt && this.preemptCount === 0 ? 1 : 0;
        return undefined;
      case 'PREEMPT_DISABLE':
        this.preemptCount++;
        return undefined;
      case 'PREEMPT_ENABLE':
        this.preemptCount--;
        return undefined;
      case 'TRAP_CLASS': {
        // The excp_vect_table lookup (and do_irq for an interrupt) by scause.
        const c = cpu.scause;
        const h = c >= 2 ** 63 ? 'do_irq' : c === A.EXC_SYSCALL ? 'do_trap_ecall_u' : c === A.EXC_BREAKPOINT ? 'do_trap_break' : 'do_page_fault';
        x[i.rd] = this.addr(h);
        return undefined;
      }
      case 'ON_TASK_STACK':
        x[i.rd] = this.taskStackHas(cpu.sp) ? 1 : 0;
        return undefined;
      case 'FGRAPH_PREPARE': {
        // prepare_ftrace_return(ip, &fregs->ra, fregs->s0)
        const fregs = x[13]!;
        fgraphPrepare(this, x[10]!, fregs + FREGS.RA, () => this.mem.read64(fregs + FREGS.S0));
        return undefined;
      }
      case 'FGRAPH_RETURN':
        x[10] = this.tracing.popGraph().ret;
        return undefined;
      case 'KPROBE_HIT': {
        // ebreak at the probed function's entry -> arch_rethook_prepare(): ra and s0 saved, ra rewritten.
        // Simplified: the trap is taken and returned from in one step (no walk happens in it).
        const fn = this.syms.lookup(i.addr)!;
        this.tracing.pushKretprobe({ ret: x[1]!, func: fn.start, retp: x[8]! });
        x[1] = this.addr('arch_rethook_trampoline');
        return undefined;
      }
      case 'KRETPROBE_RETURN':
        x[10] = this.tracing.popKretprobes(this.addr('arch_rethook_trampoline'));
        return undefined;
      case 'SSE_COMPLETE': {
        // handle_sse writes pt_regs->epc back to sepc and reloads sp from pt_regs->sp (sp still points at its
        // pt_regs here), then completes the event: the SBI resumes at sepc. So the task goes back to what
        // pt_regs say, not to what the SBI recorded at entry.
        const pc = this.mem.read64(cpu.sp + A.PT_EPC);
        cpu.sp = this.mem.read64(cpu.sp + A.PT_SP);
        cpu.pc = pc;
        cpu.shadow.transfer(pc, 'eret');
        return undefined;
      }
      default:
        throw new Error(`unknown pseudo-op ${i.sys}`);
    }
  }

  /** The blocked task's saved context (task->thread: ra, sp, s0..s11) as snapshot registers. */
  savedContext(): Record<string, number> {
    const t = TASK + TASK_THREAD;
    const r: Record<string, number> = {};
    r.ra = this.mem.read64(t + A.THREAD_RA);
    r.sp = this.mem.read64(t + A.THREAD_SP);
    for (let k = 0; k < 12; k++) r[`s${k}`] = this.mem.read64(t + A.THREAD_S0 + 8 * k);
    r.pc = r.ra;
    return r;
  }

  regsRecord(): Record<string, number> {
    return this.cpu.regsRecord(REG_NAMES);
  }

  describe(addr: number): string {
    const i = this.img.prog.insnAt(addr);
    return `${this.syms.describe(addr)}${i ? ` (${i.text})` : ''}`;
  }
}

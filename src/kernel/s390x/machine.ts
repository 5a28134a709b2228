/**
 * One run of the simulated s390x kernel: memory, CPU, ground truth and tracing state for one task
 * executing a workload. Pseudo-ops (effects of kernel C code and CPU actions) are implemented here.
 */
import { S390X_ABI as A, PSW_KERNEL, PSW_USER } from '../../isa/s390x/abi';
import { REG_NAMES, type Insn } from '../../isa/s390x/assembler';
import { S390xCpu, type S390xHooks, type StopReason } from '../../isa/s390x/interpreter';
import { Memory } from '../../machine/memory';
import { SymbolTable } from '../../machine/symbols';
import { ShadowStack } from '../../truth/shadow';
import { TaskTracing } from '../tracing';
import { fgraphPrepare, regionMapper, symbolCache, walkPoint } from '../machine-parts';
import { LC, LC_OFF, MAP, OTHER_PT_REGS, OTHER_TASK, PGM_OPERATION, PGM_PAGE_TRANSLATION, TASK, TASK_PT_REGS, TASK_THREAD, USER_PC, USER_SP, initSp, type Image } from './image';

export interface RunConfig {
  walkAt?: 'irq' | 'nmi' | 'brk' | 'page-fault';
  nestedNmi?: boolean;
  preempt?: boolean;
}

export const symbolsOf = symbolCache<Image>();
const mapRegions = regionMapper();

const R = (n: number): number => A.PT_GPRS + 8 * n;

export class S390xMachine implements S390xHooks {
  readonly mem = new Memory();
  readonly syms: SymbolTable;
  readonly shadow: ShadowStack;
  readonly tracing = new TaskTracing();
  readonly cpu: S390xCpu;
  cfg: RunConfig = {};
  nmiTaken = false;
  preemptCount = 0;
  /** A frame on the other task's stack (target of the other-task corruptions). */
  otherRecord = 0;

  constructor(readonly img: Image) {
    this.syms = symbolsOf(img);
    mapRegions(this.mem, MAP);
    this.shadow = new ShadowStack(this.syms);
    this.cpu = new S390xCpu(img.prog, this.mem, this.shadow, this);
    this.tracing.fgraphEnabled = img.fgraph.size > 0;
    this.setupLowcore();
    this.setupOtherTask();
    this.start();
  }

  addr(name: string): number {
    return this.syms.get(name).start;
  }

  private setupLowcore(): void {
    const m = this.mem;
    m.write64(LC + LC_OFF.KERNEL_STACK, initSp(MAP.task));
    m.write64(LC + LC_OFF.ASYNC_STACK, initSp(MAP.async));
    m.write64(LC + LC_OFF.NODAT_STACK, initSp(MAP.nodat));
    m.write64(LC + LC_OFF.RESTART_STACK, initSp(MAP.restart));
    m.write64(LC + LC_OFF.MCCK_STACK, initSp(MAP.mcck));
    m.write64(LC + LC_OFF.CURRENT, TASK);
  }

  private start(): void {
    const cpu = this.cpu;
    if (this.img.code.kthread) {
      // copy_thread(): a frame with a zero back chain below task_pt_regs(), which hold a kernel PSW and fn in gprs[9].
      this.mem.write64(TASK_PT_REGS + A.PT_PSW, PSW_KERNEL);
      this.mem.write64(TASK_PT_REGS + R(9), this.addr('kthread'));
      cpu.pc = this.addr('ret_from_fork');
      cpu.sp = initSp(MAP.task);
      cpu.r[11] = TASK_PT_REGS;
      cpu.mask = PSW_KERNEL;
      return;
    }
    // svc from user mode: user registers, %r1 = the syscall (its handler's address here).
    for (let r = 0; r < 16; r++) cpu.r[r] = 0x1000 + r;
    cpu.sp = USER_SP;
    cpu.r[14] = USER_PC + 0x80;
    cpu.r[1] = this.addr(this.img.code.syscall!);
    cpu.mask = PSW_USER;
    cpu.pc = USER_PC;
    cpu.interrupt('svc', LC + LC_OFF.SVC_OLD_PSW, this.addr('system_call'));
  }

  /** Another task (pid 200), blocked in schedule() under worker_thread: real-looking back-chained frames. */
  private setupOtherTask(): void {
    const m = this.mem;
    m.write64(OTHER_PT_REGS + A.PT_PSW, PSW_KERNEL);
    const chain = [
      ['ret_from_fork', 'brasl %r14,__ret_from_fork'],
      ['__ret_from_fork', 'basr %r14,%r1'],
      ['kthread', this.img.code.kthreadFn ? 'basr %r14,%r1' : 'brasl %r14,worker_thread'],
      ['worker_thread', 'brasl %r14,schedule'],
      ['schedule', 'brasl %r14,__schedule'],
      ['__schedule', 'brasl %r14,__switch_to'],
    ] as const;
    let sp = initSp(MAP.other);
    for (const [k, [fn, call]] of chain.entries()) {
      m.write64(sp + A.SF_R14, this.returnAddress(fn, call));
      if (k === chain.length - 1) break;
      m.write64(sp - A.STACK_FRAME_OVERHEAD + A.SF_BACKCHAIN, sp);
      sp -= A.STACK_FRAME_OVERHEAD;
    }
    this.otherRecord = sp;
    m.write64(OTHER_TASK + TASK_THREAD + A.THREAD_KSP, sp);
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

  /** Take an interruption before the instruction at pc. */
  takeException(kind: 'irq' | 'nmi' | 'brk' | 'page-fault'): void {
    const cpu = this.cpu;
    const lc = (k: keyof typeof LC_OFF): number => LC + LC_OFF[k];
    if (kind === 'nmi') {
      // A machine check: the CPU stores every register in the lowcore's save area.
      for (let r = 0; r < 16; r++) this.mem.write64(lc('GPREGS_SAVE_AREA') + 8 * r, cpu.r[r]!);
      cpu.interrupt('nmi', lc('MCK_OLD_PSW'), this.addr('mcck_int_handler'));
      return;
    }
    if (kind === 'irq') {
      cpu.interrupt('irq', lc('EXT_OLD_PSW'), this.addr('ext_int_handler'));
      return;
    }
    this.mem.write64(lc('PGM_CODE'), kind === 'brk' ? PGM_OPERATION : PGM_PAGE_TRANSLATION);
    cpu.interrupt(kind, lc('PGM_OLD_PSW'), this.addr('pgm_check_handler'));
  }

  pseudo(cpu: S390xCpu, i: Insn): StopReason | undefined {
    const r = cpu.r;
    switch (i.sys) {
      case 'CPU_SWITCH':
        return 'blocked';
      case 'WALK_POINT':
        return walkPoint(this, cpu, i);
      case 'GET_LC':
        r[i.r1] = LC;
        return undefined;
      case 'NEED_RESCHED':
        r[i.r1] = this.cfg.preempt && this.preemptCount === 0 ? 1 : 0;
        return undefined;
      case 'PREEMPT_DISABLE':
        this.preemptCount++;
        return undefined;
      case 'PREEMPT_ENABLE':
        this.preemptCount--;
        return undefined;
      case 'LOCAL_IRQ_DISABLE':
        cpu.setIrqs(false);
        return undefined;
      case 'LOCAL_IRQ_ENABLE':
        cpu.setIrqs(true);
        return undefined;
      case 'PGM_CLASS':
        r[i.r1] = this.addr(this.mem.read64(LC + LC_OFF.PGM_CODE) === PGM_OPERATION ? 'do_trap_break' : 'do_dat_exception');
        return undefined;
      case 'ON_TASK_STACK':
        r[i.r1] = this.taskStackHas(cpu.sp) ? 1 : 0;
        return undefined;
      case 'FGRAPH_PREPARE': {
        // function_graph_enter_regs(*parent, ip, 0, fregs->gprs[15]); *parent = return_to_handler
        const fregs = r[i.r2]!;
        fgraphPrepare(this, r[i.r1]!, fregs + A.PT_R14, () => this.mem.read64(fregs + A.PT_R15));
        return undefined;
      }
      case 'FGRAPH_RETURN':
        r[2] = this.tracing.popGraph().ret;
        return undefined;
      case 'KPROBE_HIT': {
        // The breakpoint at the probed function's entry -> arch_rethook_prepare(): %r14 and %r15 saved, %r14 rewritten.
        // Simplified: the program check is taken and returned from in one step (no walk happens in it).
        const fn = this.syms.lookup(i.addr)!;
        this.tracing.pushKretprobe({ ret: r[14]!, func: fn.start, retp: r[15]! });
        r[14] = this.addr('arch_rethook_trampoline');
        return undefined;
      }
      case 'KRETPROBE_RETURN':
        r[2] = this.tracing.popKretprobes(this.addr('arch_rethook_trampoline'));
        return undefined;
      default:
        throw new Error(`unknown pseudo-op ${i.sys}`);
    }
  }

  /** The blocked task's saved context: thread.ksp, and r6..r15 as __switch_to saved them in that frame. */
  savedContext(): Record<string, number> {
    const ksp = this.mem.read64(TASK + TASK_THREAD + A.THREAD_KSP);
    const r: Record<string, number> = {};
    for (let k = 6; k < 16; k++) r[`r${k}`] = this.mem.read64(ksp + A.SF_GPRS + 8 * (k - 6));
    r.r15 = ksp;
    r.pc = r.r14!;
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

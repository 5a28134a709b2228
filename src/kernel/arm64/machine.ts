/**
 * One run of the simulated arm64 kernel: memory, CPU, ground truth and tracing state for one task
 * executing a workload. Pseudo-ops (effects of kernel C code) are implemented here.
 */
import { ARM64_ABI as A } from '../../isa/arm64/abi';
import type { Insn } from '../../isa/arm64/assembler';
import { Arm64Cpu, PSR_EL1H, type Arm64Hooks, type StopReason } from '../../isa/arm64/interpreter';
import { Memory, mapMachineRegions, type RegionKind } from '../../machine/memory';
import { SymbolTable } from '../../machine/symbols';
import { ShadowStack } from '../../truth/shadow';
import { TaskTracing } from '../tracing';
import { fgraphPrepare, symbolCache, walkPoint } from '../machine-parts';
import { CPU_CONTEXT, FREGS, MAP, OTHER_CPU_CONTEXT, OTHER_PT_REGS, TASK_PT_REGS, USER_PC, USER_SP, type Image } from './image';

export interface RunConfig {
  /** Stop at WALK_POINT of this kind. */
  walkAt?: 'irq' | 'nmi' | 'brk' | 'page-fault' | 'kretprobe';
  /** Take an NMI just before the IRQ handler's walk point. */
  nestedNmi?: boolean;
  /** NEED_RESCHED answers yes: an IRQ return preempts the task. */
  preempt?: boolean;
}


export const symbolsOf = symbolCache<Image>();

/** The vector entry code each exception kind is taken to. */
const EXCEPTION_VECTOR = { irq: 'el1h_64_irq', nmi: 'el1h_64_nmi', brk: 'el1h_64_sync', 'page-fault': 'el1h_64_sync' } as const;

export class Arm64Machine implements Arm64Hooks {
  readonly mem = new Memory();
  readonly syms: SymbolTable;
  readonly shadow: ShadowStack;
  readonly tracing = new TaskTracing();
  readonly cpu: Arm64Cpu;
  cfg: RunConfig = {};
  nmiTaken = false;
  /** preempt_count(): non-zero where the task cannot be preempted. */
  preemptCount = 0;
  /** The other task's innermost frame record (target of frame-pointer-other-task corruption). */
  otherRecord = 0;

  constructor(readonly img: Image) {
    this.syms = symbolsOf(img);
    mapMachineRegions(
      this.mem,
      Object.values(MAP).map((r) => ({ name: r.name, kind: r.kind as RegionKind, base: r.base, size: r.size, ...('owner' in r ? { owner: r.owner } : {}) })),
    );
    this.shadow = new ShadowStack(this.syms);
    this.cpu = new Arm64Cpu(img.prog, this.mem, this.shadow, this);
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
    if (this.img.code.kthread) {
      // copy_thread(): zeroed pt_regs with the FINAL record; cpu_context.fp points at it.
      this.mem.write64(TASK_PT_REGS + A.S_STACKFRAME_TYPE, A.FRAME_META_TYPE_FINAL);
      cpu.pc = this.addr('ret_from_fork');
      cpu.sp = TASK_PT_REGS;
      cpu.x[29] = TASK_PT_REGS + A.S_STACKFRAME;
      cpu.x[19] = this.addr('kthread');
      cpu.x[20] = 0;
      cpu.pstate = PSR_EL1H;
      return;
    }
    // SVC from EL0: user registers, ELR = user pc, SPSR = EL0t, SP_EL1 = top of the task stack.
    for (let r = 0; r <= 30; r++) cpu.x[r] = 0x1000 + r;
    cpu.x[29] = USER_SP + 0x40;
    cpu.x[30] = USER_PC + 0x80;
    cpu.x[8] = this.addr(this.img.code.syscall!);
    cpu.spEl0 = USER_SP;
    cpu.elr = USER_PC;
    cpu.spsr = 0;
    cpu.pstate = 0x3c0 | PSR_EL1H;
    cpu.sp = top;
    cpu.pc = this.addr('el0t_64_sync');
  }

  /** Another task (pid 200), blocked in schedule() under worker_thread: real-looking frame records. */
  private setupOtherTask(): void {
    const m = this.mem;
    const final = OTHER_PT_REGS + A.S_STACKFRAME;
    m.write64(OTHER_PT_REGS + A.S_STACKFRAME_TYPE, A.FRAME_META_TYPE_FINAL);
    const chain = [
      ['ret_from_fork', 'BLR X19'],
      ['kthread', 'BLR X9'],
      ['worker_thread', 'BL <schedule>'],
      ['schedule', 'BL <__schedule>'],
    ] as const;
    let fp = final;
    let at = OTHER_PT_REGS - 16;
    for (const [fn, call] of chain) {
      m.write64(at, fp);
      m.write64(at + 8, this.returnAddress(fn, call));
      fp = at;
      at -= 32;
    }
    this.otherRecord = fp;
    m.write64(OTHER_CPU_CONTEXT + 80, fp);
    m.write64(OTHER_CPU_CONTEXT + 88, fp - 32);
    m.write64(OTHER_CPU_CONTEXT + 96, this.returnAddress('__schedule', 'BL <cpu_switch_to>'));
  }

  /** The address after the call instruction `call` in `fn`. */
  private returnAddress(fn: string, call: string): number {
    const s = this.syms.get(fn);
    for (let a = s.start; a < s.end; a += 4) if (this.img.prog.insnAt(a)?.text === call) return a + 4;
    throw new Error(`${fn} has no ${call}`);
  }

  taskStackHas(addr: number): boolean {
    return addr >= MAP.task.base && addr < MAP.task.base + MAP.task.size;
  }

  /** ESR_EL1's exception class of the last synchronous exception, as SYNC_CLASS reports it: 0 BRK, 1 data abort. */
  syncClass = 0;

  takeException(kind: keyof typeof EXCEPTION_VECTOR): void {
    if (kind === 'brk' || kind === 'page-fault') this.syncClass = kind === 'brk' ? 0 : 1;
    this.cpu.takeException(kind, this.addr(EXCEPTION_VECTOR[kind]));
  }

  pseudo(cpu: Arm64Cpu, i: Insn): StopReason | undefined {
    const x = cpu.x;
    switch (i.sys) {
      case 'CPU_SWITCH':
        return 'blocked';
      case 'WALK_POINT':
        return walkPoint(this, cpu, i);
      case 'NEED_RESCHED':
        // arm64_preempt_schedule_irq(): only when preempt_count is zero
        x[i.rd] = this.cfg.preempt && this.preemptCount === 0 ? 1 : 0;
        return undefined;
      case 'PREEMPT_DISABLE':
        this.preemptCount++;
        return undefined;
      case 'PREEMPT_ENABLE':
        this.preemptCount--;
        return undefined;
      case 'SYNC_CLASS':
        // el1h_64_sync_handler(): the exception class of ESR_EL1 chooses the handler.
        x[i.rd] = this.syncClass;
        return undefined;
      case 'ON_TASK_STACK':
        x[i.rd] = this.taskStackHas(cpu.sp) ? 1 : 0;
        return undefined;
      case 'FGRAPH_PREPARE': {
        // prepare_ftrace_return(ip, &fregs->lr, fregs->fp)
        const fregs = x[2]!;
        fgraphPrepare(this, x[0]!, fregs + FREGS.LR, () => this.mem.read64(fregs + FREGS.FP));
        return undefined;
      }
      case 'FGRAPH_RETURN':
        // ftrace_return_to_handler(fregs): pop ret_stack, return the original address
        x[0] = this.tracing.popGraph().ret;
        return undefined;
      case 'KPROBE_HIT': {
        // BRK at the probed function's entry -> kretprobe pre-handler (arch_prepare_kretprobe).
        // Simplified: the BRK exception is taken and returned from in one step (no walk ever
        // happens inside the kprobe handler), so the shadow sees no exception here.
        const fn = this.syms.lookup(i.addr)!;
        this.tracing.pushKretprobe({ ret: x[30]!, func: fn.start, retp: x[29]! });
        x[30] = this.addr('__kretprobe_trampoline');
        return undefined;
      }
      case 'KRETPROBE_HANDLERS':
        this.tracing.kretprobeHandlers(this.addr('__kretprobe_trampoline'));
        return undefined;
      case 'KRETPROBE_RETURN':
        x[0] = this.tracing.unlinkKretprobes();
        return undefined;
      default:
        throw new Error(`unknown pseudo-op ${i.sys}`);
    }
  }

  /** The blocked task's saved context (thread.cpu_context) as snapshot registers. */
  savedContext(): Record<string, number> {
    const r: Record<string, number> = {};
    for (let k = 0; k < 10; k++) r[`x${19 + k}`] = this.mem.read64(CPU_CONTEXT + 8 * k);
    r.x29 = this.mem.read64(CPU_CONTEXT + 80);
    r.sp = this.mem.read64(CPU_CONTEXT + 88);
    r.pc = this.mem.read64(CPU_CONTEXT + 96);
    r.pstate = PSR_EL1H;
    return r;
  }

  describe(addr: number): string {
    const i = this.img.prog.insnAt(addr);
    return `${this.syms.describe(addr)}${i ? ` (${i.text})` : ''}`;
  }

}

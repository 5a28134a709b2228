/**
 * One run of the simulated loongarch64 kernel: memory, CPU, ground truth and tracing state for one task
 * executing a workload. Pseudo-ops (effects of kernel C code and CPU actions) are implemented here.
 */
import { LOONGARCH64_ABI as A } from '../../isa/loongarch64/abi';
import { REG_NAMES, type Insn } from '../../isa/loongarch64/assembler';
import { Loongarch64Cpu, type Loongarch64Hooks, type StopReason } from '../../isa/loongarch64/interpreter';
import { Memory } from '../../machine/memory';
import { SymbolTable } from '../../machine/symbols';
import { ShadowStack } from '../../truth/shadow';
import { TaskTracing } from '../tracing';
import { fgraphPrepare, regionMapper, symbolCache } from '../machine-parts';
import { EENTRY, KERNELSP, MAP, OTHER_PT_REGS, OTHER_TASK, TASK, TASK_PT_REGS, TASK_THREAD, TIMER_INT, USER_PC, USER_SP, VECTORS, vectorAddr, type Image } from './image';

export interface RunConfig {
  walkAt?: 'irq' | 'brk' | 'page-fault';
  preempt?: boolean;
}

export const symbolsOf = symbolCache<Image>();
const mapRegions = regionMapper();

/** Exception code of each exception kind. */
const ECODE = { irq: TIMER_INT, brk: A.EXCCODE_BP, 'page-fault': A.EXCCODE_PIL } as const;

/**
 * The handler an address inside an exception vector is a copy of, at the same offset (what bt_address()
 * computes); undefined for any other address.
 */
export function vectorHandlerAddress(syms: SymbolTable, addr: number): number | undefined {
  if (addr < EENTRY || addr >= EENTRY + A.EXCCODE_INT_END * A.VECSIZE) return undefined;
  const ecode = Math.floor((addr - EENTRY) / A.VECSIZE);
  const v = VECTORS.find((x) => x.ecode === ecode);
  if (!v) return undefined;
  return syms.get(v.handler).start + ((addr - EENTRY) % A.VECSIZE);
}

export class Loongarch64Machine implements Loongarch64Hooks {
  readonly mem = new Memory();
  readonly syms: SymbolTable;
  readonly shadow: ShadowStack;
  readonly tracing = new TaskTracing();
  readonly cpu: Loongarch64Cpu;
  cfg: RunConfig = {};
  preemptCount = 0;
  /** The other task's innermost frame pointer (target of the other-task corruptions). */
  otherRecord = 0;

  constructor(readonly img: Image) {
    this.syms = symbolsOf(img);
    mapRegions(this.mem, MAP);
    this.shadow = new ShadowStack(this.syms);
    this.cpu = new Loongarch64Cpu(img.prog, this.mem, this.shadow, this);
    this.cpu.csr.eentry = EENTRY;
    this.tracing.fgraphEnabled = img.fgraph.size > 0;
    this.setupOtherTask();
    this.start();
  }

  addr(name: string): number {
    return this.syms.get(name).start;
  }

  private start(): void {
    const cpu = this.cpu;
    this.mem.write64(KERNELSP, MAP.task.base + MAP.task.size);
    if (this.img.code.kthread) {
      // copy_thread(): a zeroed pt_regs at the top (regs[1] and regs[3] zero), fn in s0, its argument in s1.
      cpu.pc = this.addr('ret_from_kernel_thread');
      cpu.sp = TASK_PT_REGS;
      cpu.r[23] = this.addr('kthread');
      cpu.r[24] = 0;
      cpu.r[2] = TASK;
      cpu.csr.crmd = A.CSR_CRMD_IE;
      return;
    }
    // syscall from user mode: user registers, a7 = the syscall (its handler's address here).
    for (let r = 1; r < 32; r++) cpu.r[r] = 0x1000 + r;
    cpu.r[3] = USER_SP;
    cpu.r[22] = USER_SP + 0x40;
    cpu.r[1] = USER_PC + 0x80;
    cpu.r[11] = this.addr(this.img.code.syscall!);
    cpu.csr.crmd = A.PLV_USER | A.CSR_CRMD_IE;
    cpu.pc = USER_PC;
    cpu.takeException('syscall', A.EXCCODE_SYS, vectorAddr(A.EXCCODE_SYS));
  }

  /** Another task (pid 200), blocked in schedule() under worker_thread: real-looking frame records. */
  private setupOtherTask(): void {
    const m = this.mem;
    const chain = [
      ['kthread', 'jirl $ra, $t1, 0'],
      ['worker_thread', 'bl schedule'],
      ['schedule', 'bl __schedule'],
    ] as const;
    let prev = 0;
    let fp = OTHER_PT_REGS;
    for (const [fn, call] of chain) {
      m.write64(fp - 16, prev);
      m.write64(fp - 8, this.returnAddress(fn, call));
      prev = fp;
      fp -= 16;
    }
    this.otherRecord = prev;
    const t = OTHER_TASK + TASK_THREAD;
    m.write64(t + A.THREAD_REG01, this.returnAddress('__schedule', 'bl __switch_to'));
    m.write64(t + A.THREAD_REG03, prev - 32);
    m.write64(t + A.THREAD_REG22, prev);
  }

  /** The address after the call instruction `call` in `fn`. */
  returnAddress(fn: string, call: string): number {
    const s = this.syms.get(fn);
    for (let a = s.start; a < s.end; a += 4) if (this.img.prog.insnAt(a)?.text === call) return a + 4;
    throw new Error(`${fn} has no ${call}`);
  }

  onIrqStack(addr: number): boolean {
    return addr >= MAP.irq.base && addr <= MAP.irq.base + MAP.irq.size;
  }

  /** Take an exception before the instruction at pc, through its vector. */
  takeException(kind: 'irq' | 'brk' | 'page-fault'): void {
    this.cpu.takeException(kind, ECODE[kind], vectorAddr(ECODE[kind]));
  }

  pseudo(cpu: Loongarch64Cpu, i: Insn): StopReason | undefined {
    const r = cpu.r;
    switch (i.sys) {
      case 'CPU_SWITCH':
        return 'blocked';
      case 'WALK_POINT':
        return i.args?.[0] === this.cfg.walkAt ? 'walk' : undefined;
      case 'NEED_RESCHED':
        r[i.rd] = this.cfg.preempt && this.preemptCount === 0 ? 1 : 0;
        return undefined;
      case 'PREEMPT_DISABLE':
        this.preemptCount++;
        return undefined;
      case 'PREEMPT_ENABLE':
        this.preemptCount--;
        return undefined;
      case 'ON_IRQ_STACK':
        r[i.rd] = this.onIrqStack(cpu.sp) ? 1 : 0;
        return undefined;
      case 'FGRAPH_PREPARE': {
        // prepare_ftrace_return(ip, &fregs->regs[1]): the parent's return address, keyed by its slot.
        const fregs = r[7]!;
        fgraphPrepare(this, r[4]!, fregs + A.PT_R1, () => fregs + A.PT_R1);
        return undefined;
      }
      case 'FGRAPH_RETURN':
        r[4] = this.tracing.popGraph().ret;
        return undefined;
      case 'KPROBE_HIT': {
        // The kprobe at the function's entry -> arch_rethook_prepare(): ra saved, keyed by the frame's
        // CFA (sp at entry), and ra pointed at the trampoline. Taken and returned from in one step.
        const fn = this.syms.lookup(i.addr)!;
        this.tracing.pushKretprobe({ ret: r[1]!, func: fn.start, retp: cpu.sp });
        r[1] = this.addr('arch_rethook_trampoline');
        return undefined;
      }
      case 'KRETPROBE_RETURN':
        r[4] = this.tracing.popKretprobes(this.addr('arch_rethook_trampoline'));
        return undefined;
      default:
        throw new Error(`unknown pseudo-op ${i.sys}`);
    }
  }

  /** The blocked task's saved context (task->thread: ra, sp, fp, s0..s8) as snapshot registers. */
  savedContext(): Record<string, number> {
    const t = TASK + TASK_THREAD;
    const out: Record<string, number> = {};
    out.ra = this.mem.read64(t + A.THREAD_REG01);
    out.sp = this.mem.read64(t + A.THREAD_REG03);
    out.fp = this.mem.read64(t + A.THREAD_REG22);
    for (let k = 0; k < 9; k++) out[`s${k}`] = this.mem.read64(t + A.THREAD_REG23 + 8 * k);
    out.pc = out.ra;
    return out;
  }

  regsRecord(): Record<string, number> {
    return this.cpu.regsRecord(REG_NAMES);
  }

  describe(addr: number): string {
    const i = this.img.prog.insnAt(addr);
    const h = vectorHandlerAddress(this.syms, addr);
    const where = h !== undefined ? `${this.syms.describe(h)} (vector copy)` : this.syms.describe(addr);
    return `${where}${i ? ` (${i.text})` : ''}`;
  }
}

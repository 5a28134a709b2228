/** Kernel symbols, with the kind of code each one is (spec 3.2 "Identifying unwindable code"). */
import { hex } from './addr';

export type SymbolKind =
  | 'func' // SYM_FUNC: normal C-like function
  | 'code' // SYM_CODE: entry code, exception vectors, other non-function asm
  | 'ftrace-trampoline' // ftrace entry trampoline (ftrace_caller, ftrace_regs_caller)
  | 'return-trampoline' // return_to_handler, __kretprobe_trampoline: return trampolines
  | 'kprobe-trampoline' // other kprobe trampolines
  | 'optprobe-trampoline' // x86_64 optprobe detour buffer
  | 'plt' // PLT entry or veneer
  | 'bpf' // BPF JIT program
  | 'foreign'; // EFI runtime service

export interface KSymbol {
  name: string;
  start: number;
  /** Exclusive end. */
  end: number;
  kind: SymbolKind;
  /** Name of the region holding the symbol. */
  region: string;
  /** Module name for module text. */
  module?: string;
  /** Marked STACK_FRAME_NON_STANDARD. */
  nonStandard?: boolean;
  /** A kernel entry point where a reliable walk may end (entry from user, ret_from_fork). */
  entry?: boolean;
}

export class SymbolTable {
  private readonly sorted: KSymbol[];
  private readonly byNameMap = new Map<string, KSymbol>();

  constructor(symbols: Iterable<KSymbol>) {
    this.sorted = [...symbols].sort((a, b) => a.start - b.start);
    for (const s of this.sorted) {
      if (this.byNameMap.has(s.name)) throw new Error(`duplicate symbol ${s.name}`);
      this.byNameMap.set(s.name, s);
    }
  }

  get all(): readonly KSymbol[] {
    return this.sorted;
  }

  /** The symbol whose [start, end) holds addr. */
  lookup(addr: number): KSymbol | undefined {
    let lo = 0;
    let hi = this.sorted.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = this.sorted[mid]!;
      if (addr < s.start) hi = mid - 1;
      else if (addr >= s.end) lo = mid + 1;
      else return s;
    }
    return undefined;
  }

  byName(name: string): KSymbol | undefined {
    return this.byNameMap.get(name);
  }

  get(name: string): KSymbol {
    const s = this.byNameMap.get(name);
    if (!s) throw new Error(`no symbol ${name}`);
    return s;
  }

  /** "fn+0x10" style, for reports. */
  describe(addr: number): string {
    const s = this.lookup(addr);
    if (!s) return hex(addr);
    const off = addr - s.start;
    return off ? `${s.name}+0x${off.toString(16)}` : s.name;
  }
}

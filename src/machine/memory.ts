/**
 * Byte-addressed, little-endian, 64-bit memory made of named mapped regions.
 * Addresses are internal numbers (src/machine/addr.ts): the low 48 bits of the canonical address.
 * Words in memory are real 64-bit values: writing a kernel address stores its sign-extended form,
 * and reading a canonical word gives the internal number back; a non-canonical word reads as a
 * number >= 2^48, which no region maps.
 */
import { fromU32Pair, isAddress, toU32Pair } from './addr';

export type RegionKind =
  | 'kernel-text'
  | 'module-text'
  | 'bpf-jit'
  | 'trampoline-text' // dynamically allocated trampolines (ftrace ops, optprobe)
  | 'foreign-text' // EFI runtime services
  | 'task-stack'
  | 'irq-stack'
  | 'nmi-stack'
  | 'overflow-stack' // arm64 per-CPU overflow stack
  | 'sdei-stack' // arm64 per-CPU SDEI stacks (normal, critical)
  | 'exception-stack' // x86_64 IST stacks in the cpu_entry_area other than the NMI's (#DF, #DB, #MC, #VC, #VC2)
  | 'entry-stack' // x86_64 entry (trampoline) stack in the cpu_entry_area
  | 'data';

export const TEXT_KINDS: ReadonlySet<RegionKind> = new Set<RegionKind>([
  'kernel-text',
  'module-text',
  'bpf-jit',
  'trampoline-text',
  'foreign-text',
]);
export const STACK_KINDS: ReadonlySet<RegionKind> = new Set<RegionKind>(['task-stack', 'irq-stack', 'nmi-stack', 'overflow-stack', 'sdei-stack', 'exception-stack', 'entry-stack']);

export interface RegionInfo {
  name: string;
  kind: RegionKind;
  base: number;
  size: number;
  /** Owning task (pid) for task stacks; CPU number for IRQ/NMI stacks. */
  owner?: string;
}

export interface Region extends RegionInfo {
  bytes: Uint8Array;
  view: DataView;
}

export interface Access {
  addr: number;
  size: number;
  write: boolean;
  /** Region hit, or null when the address is unmapped (a fault). */
  region: string | null;
}

/** Thrown by a memory whose read budget is spent: the walk is runaway. */
export class AccessBudgetExceeded extends Error {
  constructor(readonly budget: number) {
    super(`memory access budget of ${budget} reads exceeded`);
  }
}

export class Memory {
  readonly regions: Region[] = [];
  /** Faults recorded by reads or writes outside every mapped region. */
  readonly faults: Access[] = [];
  private last: Region | undefined;

  map(info: RegionInfo, bytes?: Uint8Array): Region {
    if (info.size <= 0 || !isAddress(info.base) || !isAddress(info.base + info.size - 1)) {
      throw new Error(`region ${info.name}: bad bounds`);
    }
    for (const r of this.regions) {
      if (info.base < r.base + r.size && r.base < info.base + info.size) {
        throw new Error(`region ${info.name} overlaps ${r.name}`);
      }
    }
    const data = bytes ?? new Uint8Array(info.size);
    if (data.length !== info.size) throw new Error(`region ${info.name}: ${data.length} bytes for size ${info.size}`);
    const region: Region = { ...info, bytes: data, view: new DataView(data.buffer, data.byteOffset, data.byteLength) };
    this.regions.push(region);
    this.regions.sort((a, b) => a.base - b.base);
    return region;
  }

  region(name: string): Region {
    const r = this.regions.find((x) => x.name === name);
    if (!r) throw new Error(`no region named ${name}`);
    return r;
  }

  /** The region holding [addr, addr+size), or undefined. */
  find(addr: number, size = 1): Region | undefined {
    const l = this.last;
    if (l && addr >= l.base && addr + size <= l.base + l.size) return l;
    for (const r of this.regions) {
      if (addr >= r.base && addr + size <= r.base + r.size) {
        this.last = r;
        return r;
      }
    }
    return undefined;
  }

  read64(addr: number): number {
    const r = this.find(addr, 8);
    if (!r) {
      this.faults.push({ addr, size: 8, write: false, region: null });
      return 0;
    }
    const off = addr - r.base;
    return fromU32Pair(r.view.getUint32(off, true), r.view.getUint32(off + 4, true));
  }

  write64(addr: number, value: number): void {
    const r = this.find(addr, 8);
    if (!r) {
      this.faults.push({ addr, size: 8, write: true, region: null });
      return;
    }
    const off = addr - r.base;
    // Kernel addresses are stored sign-extended; negative values as two's complement (pushq $-1).
    const [lo, hi] = toU32Pair(Math.trunc(value));
    r.view.setUint32(off, lo, true);
    r.view.setUint32(off + 4, hi, true);
  }

  /** A deep copy: snapshots must not change when the machine runs on. */
  clone(): Memory {
    const m = new Memory();
    for (const r of this.regions) m.map(r, r.bytes.slice());
    return m;
  }
}

/**
 * What an unwinder sees: read-only memory with every access logged and counted.
 * Reads outside mapped memory return 0 and are logged as faults (never a JS exception).
 */
export class MonitoredMemory {
  readonly accesses: Access[] = [];
  reads = 0;
  constructor(
    private readonly mem: Memory,
    readonly budget = 100_000,
  ) {}

  read64(addr: number): number {
    if (++this.reads > this.budget) throw new AccessBudgetExceeded(this.budget);
    const r = this.mem.find(addr, 8);
    this.accesses.push({ addr, size: 8, write: false, region: r ? r.name : null });
    return r ? this.mem.read64(addr) : 0;
  }

  regionOf(addr: number, size = 8): RegionInfo | undefined {
    return this.mem.find(addr, size);
  }

  get regions(): readonly RegionInfo[] {
    return this.mem.regions;
  }
}

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
const zeroes = new Map<number, Uint8Array>();

/** Zeroed bytes shared by every memory that never writes them (text regions: code lives in the Program). */
export function sharedZeroes(size: number): Uint8Array {
  let b = zeroes.get(size);
  if (!b) zeroes.set(size, (b = new Uint8Array(size)));
  return b;
}

/**
 * Map a machine's regions: text shares zeroed bytes (code lives in the Program and is never written),
 * the other regions get one fresh zeroed buffer between them (one allocation per machine).
 */
export function mapMachineRegions(mem: Memory, infos: readonly RegionInfo[]): void {
  const buf = new Uint8Array(infos.reduce((n, r) => n + (TEXT_KINDS.has(r.kind) ? 0 : r.size), 0));
  let at = 0;
  for (const r of infos) mem.map(r, TEXT_KINDS.has(r.kind) ? sharedZeroes(r.size) : buf.subarray(at, (at += r.size)));
}

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

  private readonly byName = new Map<string, Region>();

  /**
   * Map a region. `regions` stays sorted by base: the insertion point is found by binary search and only
   * its neighbours can overlap, so mapping N regions is O(N log N) (O(N) when they come in order).
   */
  map(info: RegionInfo, bytes?: Uint8Array): Region {
    if (!Number.isInteger(info.size) || info.size <= 0 || !isAddress(info.base) || !isAddress(info.base + info.size - 1)) {
      throw new Error(`region ${info.name}: bad bounds`);
    }
    const rs = this.regions;
    // First region whose base is above the new one's.
    let lo = 0;
    let hi = rs.length;
    if (hi && rs[hi - 1]!.base <= info.base) lo = hi;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (rs[mid]!.base <= info.base) lo = mid + 1;
      else hi = mid;
    }
    const overlaps = (r: Region | undefined) => r !== undefined && info.base < r.base + r.size && r.base < info.base + info.size;
    if (overlaps(rs[lo - 1])) throw new Error(`region ${info.name} overlaps ${rs[lo - 1]!.name}`);
    if (overlaps(rs[lo])) throw new Error(`region ${info.name} overlaps ${rs[lo]!.name}`);
    const data = bytes ?? new Uint8Array(info.size);
    if (data.length !== info.size) throw new Error(`region ${info.name}: ${data.length} bytes for size ${info.size}`);
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    // Built field by field (not spread from info): two fixed shapes keep region reads fast.
    const region: Region =
      info.owner !== undefined
        ? { name: info.name, kind: info.kind, base: info.base, size: info.size, owner: info.owner, bytes: data, view }
        : { name: info.name, kind: info.kind, base: info.base, size: info.size, bytes: data, view };
    if (lo === rs.length) rs.push(region);
    else rs.splice(lo, 0, region);
    if (!this.byName.has(info.name)) this.byName.set(info.name, region);
    return region;
  }

  region(name: string): Region {
    const r = this.byName.get(name);
    if (!r) throw new Error(`no region named ${name}`);
    return r;
  }

  /** The region holding [addr, addr+size), or undefined (binary search over the sorted regions). */
  find(addr: number, size = 1): Region | undefined {
    const l = this.last;
    if (l && addr >= l.base && addr + size <= l.base + l.size) return l;
    const rs = this.regions;
    let lo = 0;
    let hi = rs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = rs[mid]!;
      if (addr < r.base) hi = mid - 1;
      else if (addr >= r.base + r.size) lo = mid + 1;
      else {
        if (addr + size > r.base + r.size) return undefined;
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

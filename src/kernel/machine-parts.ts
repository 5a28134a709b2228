/**
 * Set-up the simulated machines repeat: one symbol table per kernel image, and an arch's regions mapped
 * as every machine maps them (text is never written: instructions are read from the assembled program);
 * and the pseudo-ops whose effect is the same on
 * every fixed-width machine but for the registers they use.
 */
import { mapMachineRegions, type Memory, type RegionKind } from '../machine/memory';
import { SymbolTable, type KSymbol } from '../machine/symbols';
import type { TaskTracing } from './tracing';

/** symbolsOf(img) for one arch: the image's symbol table, built once per image. */
export function symbolCache<I extends { prog: { symbols: Iterable<KSymbol> } }>(): (img: I) => SymbolTable {
  const cache = new WeakMap<I, SymbolTable>();
  return (img) => {
    let s = cache.get(img);
    if (!s) cache.set(img, (s = new SymbolTable(img.prog.symbols)));
    return s;
  };
}

interface RegionSpec {
  readonly name: string;
  readonly kind: string;
  readonly base: number;
  readonly size: number;
  readonly owner?: string;
}

/** mapRegions(mem, MAP) for one arch: its regions mapped by mapMachineRegions (text shares zeroed bytes, data one fresh buffer). */
export function regionMapper(): (mem: Memory, map: Record<string, RegionSpec>) => void {
  return (mem, map) =>
    mapMachineRegions(
      mem,
      Object.values(map).map((r) => ({ name: r.name, kind: r.kind as RegionKind, base: r.base, size: r.size, ...('owner' in r ? { owner: r.owner } : {}) })),
    );
}

/** What walkPoint() uses of a machine. */
interface WalkMachine {
  cfg: { walkAt?: string; nestedNmi?: boolean };
  nmiTaken: boolean;
  takeException(kind: 'nmi'): void;
}

/**
 * WALK_POINT: stop for the walk this run is set up for. At an IRQ's walk point with a nested NMI set up,
 * the NMI arrives first (once), just before the walk point instruction.
 */
export function walkPoint(m: WalkMachine, cpu: { pc: number; steps: number }, i: { addr: number; args?: string[] }): 'walk' | undefined {
  const kind = i.args?.[0];
  if (kind === 'irq' && m.cfg.nestedNmi && !m.nmiTaken) {
    m.nmiTaken = true;
    cpu.pc = i.addr;
    cpu.steps--;
    m.takeException('nmi');
    return undefined;
  }
  return kind === m.cfg.walkAt ? 'walk' : undefined;
}

/** What fgraphPrepare() uses of a machine. */
interface TracedMachine {
  readonly syms: SymbolTable;
  readonly img: { fgraph: ReadonlySet<string> };
  readonly tracing: TaskTracing;
  readonly mem: Memory;
  addr(name: string): number;
}

/**
 * prepare_ftrace_return(): when fgraph traces the function at ip, the return address in `slot` is recorded
 * (with the frame key `retp()` gives) and replaced by return_to_handler.
 */
export function fgraphPrepare(m: TracedMachine, ip: number, slot: number, retp: () => number): void {
  const fn = m.syms.lookup(ip);
  if (fn && m.img.fgraph.has(fn.name) && m.tracing.fgraphEnabled) {
    m.tracing.pushGraph({ ret: m.mem.read64(slot), func: fn.start, retp: retp() });
    m.mem.write64(slot, m.addr('return_to_handler'));
  }
}

/**
 * Set-up the simulated machines repeat: one symbol table per kernel image, and an arch's regions mapped
 * with its text regions sharing one zero-filled byte array per region name (text is never written;
 * instructions are read from the assembled program).
 */
import { Memory, TEXT_KINDS, type RegionKind } from '../machine/memory';
import { SymbolTable, type KSymbol } from '../machine/symbols';

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

/** mapRegions(mem, MAP) for one arch: text byte arrays are shared by name among that arch's machines. */
export function regionMapper(): (mem: Memory, map: Record<string, RegionSpec>) => void {
  const textBytes = new Map<string, Uint8Array>();
  const sharedText = (name: string, size: number): Uint8Array => {
    let b = textBytes.get(name);
    if (!b) textBytes.set(name, (b = new Uint8Array(size)));
    return b;
  };
  return (mem, map) => {
    for (const r of Object.values(map)) {
      const bytes = TEXT_KINDS.has(r.kind as RegionKind) ? sharedText(r.name, r.size) : undefined;
      mem.map({ name: r.name, kind: r.kind as RegionKind, base: r.base, size: r.size, ...('owner' in r ? { owner: r.owner } : {}) }, bytes);
    }
  };
}

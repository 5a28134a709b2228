/** Snapshot (de)serialisation: the JSON form travels to plugins; the loaded form feeds in-process unwinders. */
import { hex, unhex } from '../machine/addr';
import { Memory, sharedZeroes, type RegionInfo } from '../machine/memory';
import { SymbolTable, type KSymbol } from '../machine/symbols';
import { SchemaError, assertValid } from '../schema/validate';
import type { Arch, Snapshot, SnapshotContext, SnapshotRegion, SnapshotStack } from './types';
import { SNAPSHOT_VERSION } from './types';

// JSON carries full 64-bit words (kernel addresses canonical, sign-extended from bit 47); loading
// turns them back into internal numbers (src/machine/addr.ts).
export { hex, unhex } from '../machine/addr';

/** The in-memory view of a snapshot, given to in-process unwinders. */
export interface LoadedSnapshot {
  json: Snapshot;
  arch: Arch;
  mem: Memory;
  syms: SymbolTable;
  regs: Record<string, number>;
  stacks: SnapshotStack[];
  ptRegs: number;
  finalFrame: number;
  abi: Record<string, number>;
}

export interface SnapshotParts {
  id: string;
  arch: Arch;
  task: Snapshot['task'];
  /** The walk's context; kits always give it (hand-made snapshots may leave it out). */
  context?: SnapshotContext;
  /** x86_64 per-CPU variables by kernel name (Snapshot['percpu']). */
  percpu?: Record<string, number>;
  regs: Record<string, number>;
  mem: Memory;
  /** The caller hands `mem` over (its machine never runs on): its bytes are taken as they are, not copied. */
  owned?: boolean;
  syms: SymbolTable;
  stacks: SnapshotStack[];
  ptRegs: number;
  finalFrame: number;
  abi: Record<string, number>;
  unwind: Snapshot['unwind'];
  fgraph: Snapshot['fgraph'];
  kretprobes: Snapshot['kretprobes'];
}

const TEXT = new Set(['kernel-text', 'module-text', 'bpf-jit', 'trampoline-text', 'foreign-text']);

/** Loaded forms of the snapshots makeSnapshot built: loading one again needs no decoding and no validation. */
const BUILT = new WeakMap<object, LoadedSnapshot>();

/** Make `o[key]` computed on first read (then a plain property), keeping its place in the key order. */
function lazy<T extends object, K extends keyof T>(o: T, key: K, make: () => T[K]): void {
  const settle = (value: T[K]) => Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
  Object.defineProperty(o, key, {
    enumerable: true,
    configurable: true,
    get: () => (settle(make()), o[key]),
    set: settle,
  });
}

/**
 * Build the snapshot (memory is copied, so the machine may run on). Its loaded form is built at once
 * from the machine's own memory and symbols; the JSON's regions, symbols and registers are encoded
 * only when read (plugins, saved snapshots, JSON.stringify). test/snapshot-direct.test.ts checks that
 * both forms agree with loading the encoded JSON.
 */
export function makeSnapshot(p: SnapshotParts): Snapshot {
  const mem = new Memory();
  // One copy of every data region (none when handed over); text reads as zeroes, as when loaded from JSON (which has no text bytes).
  const copy = p.owned ? undefined : new Uint8Array(p.mem.regions.reduce((n, r) => n + (TEXT.has(r.kind) ? 0 : r.size), 0));
  let at = 0;
  for (const r of p.mem.regions) {
    const info: RegionInfo = { name: r.name, kind: r.kind, base: r.base, size: r.size, ...(r.owner !== undefined ? { owner: r.owner } : {}) };
    if (TEXT.has(r.kind)) mem.map(info, sharedZeroes(r.size));
    else if (!copy) mem.map(info, r.bytes);
    else {
      copy.set(r.bytes, at);
      mem.map(info, copy.subarray(at, (at += r.size)));
    }
  }
  const given = Object.entries(p.regs);
  const regs = Object.fromEntries(given.map(([k, v]) => [k, unhex(hex(v))]));
  const snap: Snapshot = {
    version: SNAPSHOT_VERSION,
    id: p.id,
    arch: p.arch,
    task: { ...p.task },
    ...(p.context ? { context: { ...p.context } } : {}),
    ...(p.percpu ? { percpu: Object.fromEntries(Object.entries(p.percpu).map(([k, v]) => [k, hex(v)])) } : {}),
    regs: {},
    regions: [],
    stacks: p.stacks.map((s) => ({ ...s })),
    ptRegs: hex(p.ptRegs),
    finalFrame: hex(p.finalFrame),
    symbols: [],
    abi: { ...p.abi },
    // Unwind tables are built once per image and never changed: shared, not copied.
    unwind: p.unwind,
    fgraph: p.fgraph ? { stack: p.fgraph.stack.map((e) => ({ ...e })) } : null,
    kretprobes: p.kretprobes.map((e) => ({ ...e })),
  };
  lazy(snap, 'regs', () => Object.fromEntries(given.map(([k, v]) => [k, hex(v)])));
  lazy(snap, 'regions', () =>
    mem.regions.map((r) => ({
      name: r.name,
      kind: r.kind,
      base: hex(r.base),
      size: r.size,
      ...(r.owner !== undefined ? { owner: r.owner } : {}),
      ...(TEXT.has(r.kind) ? {} : { data: Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength).toString('base64') }),
    })),
  );
  const symbols = p.syms.all;
  lazy(snap, 'symbols', () =>
    symbols.map((s) => ({
      name: s.name,
      start: hex(s.start),
      end: hex(s.end),
      kind: s.kind,
      region: s.region,
      ...(s.module ? { module: s.module } : {}),
      ...(s.nonStandard ? { nonStandard: true } : {}),
      ...(s.entry ? { entry: true } : {}),
    })),
  );
  BUILT.set(snap, {
    json: snap,
    arch: p.arch,
    mem,
    syms: p.syms,
    regs,
    stacks: snap.stacks,
    ptRegs: unhex(snap.ptRegs),
    finalFrame: unhex(snap.finalFrame),
    abi: snap.abi,
  });
  return snap;
}

/** The sparse-memory protocol extension: runs of non-zero bytes are sent, zero gaps this long or longer are not. */
const CHUNK_GAP = 64;

/** A region's bytes as its non-zero runs (8-byte aligned), for the sparse-memory protocol extension. */
export function chunksOf(bytes: Uint8Array): { offset: number; data: string }[] {
  const out: { offset: number; data: string }[] = [];
  const n = bytes.length;
  const v = new DataView(bytes.buffer, bytes.byteOffset, n);
  // Scanned a word (8 bytes) at a time; a last partial word counts as non-zero.
  const zero = (i: number) => i + 8 <= n && (v.getUint32(i, true) | v.getUint32(i + 4, true)) === 0;
  let i = 0;
  while (i < n) {
    while (i < n && zero(i)) i += 8;
    if (i >= n) break;
    const start = i;
    let end = i;
    for (let zeros = 0; i < n; i += 8) {
      if (!zero(i)) {
        end = Math.min(n, i + 8);
        zeros = 0;
      } else if ((zeros += 8) >= CHUNK_GAP) break;
    }
    out.push({ offset: start, data: Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('base64') });
  }
  return out;
}

/** A region's bytes from its chunks (zero elsewhere); chunks out of bounds or overlapping are problems. */
function unchunk(chunks: { offset: number; data: string }[], size: number, path: string, problems: { path: string; message: string }[]): Uint8Array {
  const bytes = new Uint8Array(size);
  let next = 0;
  chunks.forEach((c, k) => {
    const b = Buffer.from(c.data, 'base64');
    if (c.offset < next) problems.push({ path: `${path}.chunks[${k}]`, message: `chunk at offset ${c.offset} overlaps or precedes the one before it` });
    else if (c.offset + b.length > size) problems.push({ path: `${path}.chunks[${k}]`, message: `chunk of ${b.length} bytes at offset ${c.offset} runs past the region's ${size} bytes` });
    else bytes.set(b, c.offset);
    next = Math.max(next, c.offset + b.length);
  });
  return bytes;
}

const sparse = new WeakMap<Snapshot, Snapshot>();

/**
 * The snapshot as a walk request of the sparse-memory extension sends it: each region with data gets
 * chunks instead (from the loaded bytes; built once per snapshot). Nothing else is encoded again.
 */
export function sparseSnapshot(json: Snapshot, loaded: LoadedSnapshot): Snapshot {
  let s = sparse.get(json);
  if (s) return s;
  const built = BUILT.get(json) === loaded;
  const out: Record<string, unknown> = {};
  // Keys in the snapshot's order; a built snapshot's regions are never encoded as base64 here.
  for (const k of Object.keys(json) as (keyof Snapshot)[]) {
    if (k !== 'regions') {
      out[k] = json[k];
      continue;
    }
    const regions = built ? loaded.mem.regions : json.regions;
    out.regions = regions.map((r) => {
      const hasData = built ? !TEXT.has(r.kind) : (r as SnapshotRegion).data !== undefined || (r as SnapshotRegion).chunks !== undefined;
      const base = built ? hex(r.base as number) : (r.base as string);
      return {
        name: r.name,
        kind: r.kind,
        base,
        size: r.size,
        ...(r.owner !== undefined ? { owner: r.owner } : {}),
        ...(hasData ? { chunks: chunksOf(loaded.mem.region(r.name).bytes) } : {}),
      };
    });
  }
  sparse.set(json, (s = out as unknown as Snapshot));
  return s;
}

/**
 * Validate (against schemas/snapshot.schema.json) and load a JSON snapshot. A snapshot makeSnapshot
 * built (never one parsed from text) gives its loaded form back as it is.
 */
export function loadSnapshot(data: unknown, source = 'snapshot'): LoadedSnapshot {
  const built = typeof data === 'object' && data !== null ? BUILT.get(data) : undefined;
  if (built) return built;
  const json = assertValid<Snapshot>('snapshot', data, source);
  // What the schema cannot say: regions that fit together, and names that refer to them.
  const problems: { path: string; message: string }[] = [];
  const mem = new Memory();
  const kinds = new Map<string, string>();
  // Mapped in address order (each one appended): loading N regions is O(N log N).
  const order = json.regions.map((r, i) => ({ i, base: unhex(r.base) })).sort((a, b) => a.base - b.base || a.i - b.i);
  json.regions.forEach((r, i) => {
    if (kinds.has(r.name)) problems.push({ path: `$.regions[${i}].name`, message: `region name ${r.name} is used twice` });
    else kinds.set(r.name, r.kind);
  });
  order.forEach(({ i }) => {
    const r = json.regions[i]!;
    const info: RegionInfo = { name: r.name, kind: r.kind, base: unhex(r.base), size: r.size, ...(r.owner !== undefined ? { owner: r.owner } : {}) };
    try {
      mem.map(info, r.data !== undefined ? new Uint8Array(Buffer.from(r.data, 'base64')) : r.chunks ? unchunk(r.chunks, r.size, `$.regions[${i}]`, problems) : undefined);
    } catch (e) {
      problems.push({ path: `$.regions[${i}]`, message: (e as Error).message });
    }
  });
  json.stacks.forEach((st, i) => {
    const kind = kinds.get(st.region);
    if (kind === undefined) problems.push({ path: `$.stacks[${i}].region`, message: `no region named ${st.region}` });
    else if (kind !== `${st.type}-stack`) problems.push({ path: `$.stacks[${i}]`, message: `a ${st.type} stack in region ${st.region} of kind ${kind}` });
  });
  const regionByName = new Map<string, { base: number; size: number }>();
  json.regions.forEach((r) => {
    if (!regionByName.has(r.name)) regionByName.set(r.name, { base: unhex(r.base), size: r.size });
  });
  const names = new Map<string, number>();
  const spans: { i: number; start: number; end: number }[] = [];
  json.symbols.forEach((sym, i) => {
    const start = unhex(sym.start);
    const end = unhex(sym.end);
    const first = names.get(sym.name);
    if (first !== undefined) problems.push({ path: `$.symbols[${i}].name`, message: `symbol ${sym.name} is defined twice (first at $.symbols[${first}])` });
    else names.set(sym.name, i);
    if (!(start < end)) problems.push({ path: `$.symbols[${i}]`, message: `symbol ${sym.name}: start ${sym.start} is not below end ${sym.end}` });
    else spans.push({ i, start, end });
    if (!kinds.has(sym.region)) problems.push({ path: `$.symbols[${i}].region`, message: `no region named ${sym.region}` });
    else if (start < end) {
      const reg = regionByName.get(sym.region);
      if (reg && (start < reg.base || end > reg.base + reg.size)) {
        problems.push({ path: `$.symbols[${i}]`, message: `symbol ${sym.name} [${sym.start}, ${sym.end}) lies outside its region ${sym.region} [${hex(reg.base)}, ${hex(reg.base + reg.size)})` });
      }
    }
  });
  spans.sort((a, b) => a.start - b.start || a.i - b.i);
  for (let k = 1; k < spans.length; k++) {
    const a = spans[k - 1]!;
    const b = spans[k]!;
    if (b.start < a.end) {
      const [x, y] = a.i < b.i ? [a, b] : [b, a];
      problems.push({ path: `$.symbols[${y.i}]`, message: `symbol ${json.symbols[y.i]!.name} overlaps ${json.symbols[x.i]!.name} ($.symbols[${x.i}])` });
    }
  }
  if (problems.length) throw new SchemaError(source, problems);
  const syms = new SymbolTable(
    json.symbols.map(
      (s): KSymbol => ({
        name: s.name,
        start: unhex(s.start),
        end: unhex(s.end),
        kind: s.kind,
        region: s.region,
        ...(s.module ? { module: s.module } : {}),
        ...(s.nonStandard ? { nonStandard: true } : {}),
        ...(s.entry ? { entry: true } : {}),
      }),
    ),
  );
  return {
    json,
    arch: json.arch,
    mem,
    syms,
    regs: Object.fromEntries(Object.entries(json.regs).map(([k, v]) => [k, unhex(v)])),
    stacks: json.stacks,
    ptRegs: unhex(json.ptRegs),
    finalFrame: unhex(json.finalFrame),
    abi: json.abi,
  };
}

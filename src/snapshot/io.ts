/** Snapshot (de)serialisation: the JSON form travels to plugins; the loaded form feeds in-process unwinders. */
import { Memory, type RegionInfo } from '../machine/memory';
import { SymbolTable, type KSymbol } from '../machine/symbols';
import { assertValid } from '../schema/validate';
import type { Arch, Snapshot, SnapshotStack } from './types';
import { SNAPSHOT_VERSION } from './types';

export const hex = (n: number): string => '0x' + n.toString(16);
export const unhex = (s: string): number => {
  const n = Number(s);
  if (!Number.isFinite(n) || !/^0x[0-9a-fA-F]+$/.test(s)) throw new Error(`not a hex address: ${s}`);
  return n;
};

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
  regs: Record<string, number>;
  mem: Memory;
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

/** Build the JSON snapshot (memory is copied, so the machine may run on). */
export function makeSnapshot(p: SnapshotParts): Snapshot {
  return {
    version: SNAPSHOT_VERSION,
    id: p.id,
    arch: p.arch,
    task: { ...p.task },
    regs: Object.fromEntries(Object.entries(p.regs).map(([k, v]) => [k, hex(v)])),
    regions: p.mem.regions.map((r) => ({
      name: r.name,
      kind: r.kind,
      base: hex(r.base),
      size: r.size,
      ...(r.owner !== undefined ? { owner: r.owner } : {}),
      ...(TEXT.has(r.kind) ? {} : { data: Buffer.from(r.bytes).toString('base64') }),
    })),
    stacks: p.stacks.map((s) => ({ ...s })),
    ptRegs: hex(p.ptRegs),
    finalFrame: hex(p.finalFrame),
    symbols: p.syms.all.map((s) => ({
      name: s.name,
      start: hex(s.start),
      end: hex(s.end),
      kind: s.kind,
      region: s.region,
      ...(s.module ? { module: s.module } : {}),
      ...(s.nonStandard ? { nonStandard: true } : {}),
      ...(s.entry ? { entry: true } : {}),
    })),
    abi: { ...p.abi },
    unwind: JSON.parse(JSON.stringify(p.unwind)),
    fgraph: p.fgraph ? { stack: p.fgraph.stack.map((e) => ({ ...e })) } : null,
    kretprobes: p.kretprobes.map((e) => ({ ...e })),
  };
}

/** Validate (against schemas/snapshot.schema.json) and load a JSON snapshot. */
export function loadSnapshot(data: unknown, source = 'snapshot'): LoadedSnapshot {
  const json = assertValid<Snapshot>('snapshot', data, source);
  const mem = new Memory();
  for (const r of json.regions) {
    const info: RegionInfo = { name: r.name, kind: r.kind, base: unhex(r.base), size: r.size, ...(r.owner !== undefined ? { owner: r.owner } : {}) };
    mem.map(info, r.data !== undefined ? new Uint8Array(Buffer.from(r.data, 'base64')) : undefined);
  }
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

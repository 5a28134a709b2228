/**
 * The two-pass driver of a fixed-width (4-byte) assembler: lines -> directives (SYM_FUNC/SYM_CODE,
 * hints, annotations), labels and symbols, instructions from the arch's parser; then every symbol
 * reference resolved by the arch. Used by arm64, riscv64, loongarch64, s390x and powerpc64.
 */
import type { KSymbol, SymbolKind } from '../machine/symbols';
import { AsmError, Annotations, checkEnd, defineLabel, notClosed, parseDirective, resolveRef, splitLabel, type Fail } from './directives';

/** The unwind hints every fixed-width arch supports. */
export type FixedHintType = 'regs' | 'end_of_stack' | 'undefined' | 'func';
export interface FixedHint {
  addr: number;
  type: FixedHintType;
}
export const FIXED_HINT_TYPES: ReadonlySet<FixedHintType> = new Set<FixedHintType>(['regs', 'end_of_stack', 'undefined', 'func']);

export interface FixedUnit {
  /** Region the unit is placed in, and its base address. */
  region: string;
  base: number;
  text: string;
  module?: string;
  /** Kind for top-level labels (default 'func'). */
  defaultKind?: SymbolKind;
  /** A second copy of the same code: it defines no symbols, hints or annotations, only its local (.L) labels, renamed with this suffix. */
  labelSuffix?: string;
}

export interface FixedBlock<I> {
  region: string;
  base: number;
  end: number;
  insns: (I | undefined)[];
}

export interface FixedProgram<I, H extends string> {
  blocks: FixedBlock<I>[];
  symbols: KSymbol[];
  labels: Map<string, number>;
  hints: { addr: number; type: H }[];
  /** Symbols declared with SYM_FUNC_START / SYM_CODE_START (for the analyser). */
  declared: Map<string, 'func' | 'code'>;
  insnAt(addr: number): I | undefined;
}

export interface FixedIsa<I extends { addr: number; text: string; ref?: string }, H extends string> {
  arch: string;
  hintTypes: ReadonlySet<H>;
  /** An end-of-line comment (default `//` or `#`; arm64 uses `//`, `;` or `@`). */
  comment?: RegExp;
  /** A source line, comments stripped, before anything else reads it (macro-call forms). */
  preprocess?(line: string): string;
  parse(mnemonic: string, operands: string, addr: number, text: string, err: Fail): I[];
  /** Apply a resolved reference: `sameSymbol` says whether the target lies in the instruction's own symbol. */
  resolve(insn: I, target: number, sameSymbol: boolean): void;
}

/** Per ISA, instruction texts already decoded, without their address (only single instructions:
 * a BODY filler's address and text vary along the run, but one filler is the same at any address). */
const DECODED = new WeakMap<object, Map<string, unknown>>();

interface OpenSym {
  name: string;
  start: number;
  kind: SymbolKind;
  declared: 'func' | 'code' | 'label';
}

/** Assemble units (each placed at its own base) into one program; symbols resolve across units. */
export function assembleFixed<I extends { addr: number; text: string; ref?: string }, H extends string>(isa: FixedIsa<I, H>, units: FixedUnit[], externs: Record<string, number> = {}): FixedProgram<I, H> {
  const labels = new Map<string, number>(Object.entries(externs));
  const symbols: KSymbol[] = [];
  const hints: { addr: number; type: H }[] = [];
  const declared = new Map<string, 'func' | 'code'>();
  const notes = new Annotations();
  const blocks: FixedBlock<I>[] = [];
  const all: I[] = [];
  /** The label suffix of each instruction in a copy (its .L references are renamed too). */
  const suffixOf = new Map<I, string>();
  const comment = isa.comment ?? /(\/\/|#).*$/;
  let decoded = DECODED.get(isa) as Map<string, I> | undefined;
  if (!decoded) DECODED.set(isa, (decoded = new Map<string, I>()));
  const memo = decoded;

  for (const unit of units) {
    let pc = unit.base;
    let open: OpenSym | undefined;
    const insns: I[] = [];
    const suffix = unit.labelSuffix ?? '';
    const copy = suffix !== '';
    const close = (end: number) => {
      if (open) {
        symbols.push({ name: open.name, start: open.start, end, kind: open.kind, region: unit.region, ...(unit.module ? { module: unit.module } : {}) });
        open = undefined;
      }
    };
    unit.text.split('\n').forEach((raw, ln) => {
      const err = (m: string): never => {
        throw new AsmError(`${unit.region}:${ln + 1}: ${m}: ${raw.trim()}`);
      };
      const stripped = raw.replace(/\/\*.*?\*\//g, '').replace(comment, '').trim();
      let line = isa.preprocess ? isa.preprocess(stripped) : stripped;
      if (!line) return;
      const d = parseDirective(line, err);
      if (d) {
        if (d.d === 'unknown' || d.d === 'inner-label' || (d.d === 'non-standard' && d.fp)) err(`unknown directive ${d.macro}`);
        if (copy) return;
        if (notes.take(d, `${unit.region}:${ln + 1}`)) return;
        switch (d.d) {
          case 'start':
            if (open && open.declared !== 'label') err(`${open.name} is not closed`);
            close(pc);
            defineLabel(labels, d.name, pc, err, 'symbol');
            open = { name: d.name, start: pc, kind: d.form, declared: d.form };
            declared.set(d.name, d.form);
            return;
          case 'end':
            checkEnd(open?.name, d, err);
            close(pc);
            return;
          case 'hint':
            if (!isa.hintTypes.has(d.type as H) || d.args) err(`${d.macro}${d.args ? ' with arguments' : ''} is not supported on ${isa.arch}`);
            hints.push({ addr: pc, type: d.type as H });
            return;
        }
      }
      const lab = splitLabel(line);
      if (lab) {
        if (copy) {
          if (lab.name.startsWith('.L')) defineLabel(labels, lab.name + suffix, pc, err);
        } else {
          defineLabel(labels, lab.name, pc, err);
          if ((!open || open.declared === 'label') && !lab.name.startsWith('.L')) {
            close(pc);
            open = { name: lab.name, start: pc, kind: unit.defaultKind ?? 'func', declared: 'label' };
          }
        }
        line = lab.rest;
        if (!line) return;
      }
      // The same text always decodes to the same instruction (address aside): decode it once.
      const known = memo.get(line);
      let out: I[];
      if (known) out = [{ ...known, addr: pc }];
      else {
        const m = /^([A-Za-z_.][\w.]*)\s*(.*)$/.exec(line) ?? err('cannot parse');
        out = isa.parse(m[1]!, m[2]!, pc, line, err);
        if (out.length === 1) memo.set(line, { ...out[0]! });
      }
      for (const insn of out) {
        insns.push(insn);
        all.push(insn);
        if (copy) suffixOf.set(insn, suffix);
        pc += 4;
      }
    });
    if (open && (open as OpenSym).declared !== 'label') throw notClosed(unit.region, (open as OpenSym).name);
    close(pc);
    const arr: (I | undefined)[] = new Array((pc - unit.base) / 4);
    for (const i of insns) arr[(i.addr - unit.base) / 4] = i;
    blocks.push({ region: unit.region, base: unit.base, end: pc, insns: arr });
  }

  notes.apply(symbols);
  const symOf = (addr: number) => symbols.find((s) => addr >= s.start && addr < s.end);
  for (const i of all) {
    if (i.ref === undefined) continue;
    const suffix = suffixOf.get(i);
    const name = suffix && i.ref.startsWith('.L') ? i.ref + suffix : i.ref;
    const t = resolveRef(labels, name, i.text, symOf(i.addr)?.name);
    isa.resolve(i, t, symOf(i.addr) === symOf(t));
  }
  hints.sort((a, b) => a.addr - b.addr);
  let last: FixedBlock<I> | undefined;
  return {
    blocks,
    symbols,
    labels,
    hints,
    declared,
    insnAt(addr: number): I | undefined {
      const l = last;
      if ((addr & 3) !== 0) return undefined;
      if (l && addr >= l.base && addr < l.end) return l.insns[(addr - l.base) >>> 2];
      for (const b of blocks) {
        if (addr >= b.base && addr < b.end) {
          last = b;
          return b.insns[(addr - b.base) >>> 2];
        }
      }
      return undefined;
    },
  };
}

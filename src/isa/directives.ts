/**
 * Kernel assembler directives shared by both ISAs: symbol brackets (SYM_FUNC/SYM_CODE_START/END,
 * SYM_INNER_LABEL), annotations (SYM_KIND / `.kind`, SYM_ENTRY_POINT / `.entry`,
 * STACK_FRAME_NON_STANDARD(_FP)), UNWIND_HINT_*, labels and symbol references. What a directive
 * does to the address counter (alignment, implicit symbols) stays in each assembler.
 */
import type { KSymbol, SymbolKind } from '../machine/symbols';

export class AsmError extends Error {}

/** Reports bad input; each assembler's version names the region, line and source text. */
export type Fail = (msg: string) => never;

export const SYMBOL_KINDS: ReadonlySet<string> = new Set<SymbolKind>([
  'func',
  'code',
  'ftrace-trampoline',
  'return-trampoline',
  'kprobe-trampoline',
  'optprobe-trampoline',
  'plt',
  'bpf',
  'foreign',
]);

/** objtool's hint types; an ISA may model only some of them. */
export type HintKind = 'undefined' | 'end_of_stack' | 'regs' | 'regs_partial' | 'func' | 'empty' | 'entry';

const HINTS: Record<string, HintKind> = {
  UNWIND_HINT_EMPTY: 'empty',
  UNWIND_HINT_UNDEFINED: 'undefined',
  UNWIND_HINT_END_OF_STACK: 'end_of_stack',
  UNWIND_HINT_ENTRY: 'entry',
  UNWIND_HINT_REGS: 'regs',
  UNWIND_HINT_REGS_PARTIAL: 'regs_partial',
  UNWIND_HINT_IRET_REGS: 'regs_partial',
  UNWIND_HINT_FUNC: 'func',
};

export type Directive =
  | { d: 'start'; form: 'func' | 'code'; name: string }
  | { d: 'end'; form: 'func' | 'code'; name: string; macro: string }
  | { d: 'inner-label'; name: string; macro: string }
  | { d: 'kind'; name: string; kind: SymbolKind; macro: string }
  | { d: 'entry'; name: string; macro: string }
  | { d: 'non-standard'; name: string; fp: boolean; macro: string }
  | { d: 'hint'; macro: string; type: HintKind; args: string }
  /** `NAME(args)` that is no known directive. */
  | { d: 'unknown'; macro: string };

const NAME = /^[A-Za-z_.$][\w.$]*$/;

function symName(s: string | undefined, macro: string, fail: Fail): string {
  if (s === undefined || !NAME.test(s)) fail(`${macro} needs a symbol name`);
  return s;
}

function kindOf(k: string, fail: Fail): SymbolKind {
  if (!SYMBOL_KINDS.has(k)) fail(`unknown symbol kind ${k}`);
  return k as SymbolKind;
}

/** The directive on a (comment-free, label-free) line, or undefined for an instruction. */
export function parseDirective(line: string, fail: Fail): Directive | undefined {
  let m: RegExpExecArray | null;
  if ((line.charCodeAt(0) | 32) === 117 /* u */ && (m = /^(UNWIND_HINT_\w+)(?:\s+(.*))?$/i.exec(line))) {
    const macro = m[1]!.toUpperCase();
    const type = HINTS[macro] ?? fail('unknown hint');
    return { d: 'hint', macro, type, args: m[2] ?? '' };
  }
  if (line.charCodeAt(0) === 46 /* . */) {
    if ((m = /^\.kind\s+(\S+)\s+(\S+)$/.exec(line))) return { d: 'kind', name: m[1]!, kind: kindOf(m[2]!, fail), macro: '.kind' };
    if ((m = /^\.entry\s+(\S+)$/.exec(line))) return { d: 'entry', name: m[1]!, macro: '.entry' };
    return undefined;
  }
  // Macro calls `NAME(args)`: everything else is an instruction (or a label).
  if (line.charCodeAt(line.length - 1) !== 41 /* ) */ || !(m = /^([A-Z_][A-Z0-9_]*)\s*\(([^)]*)\)$/.exec(line))) return undefined;
  const macro = m[1]!;
  const args = m[2]!.split(',').map((a) => a.trim());
  const se = /^SYM_(FUNC|CODE)_(START|END)(_\w+)?$/.exec(macro);
  if (se && !(se[2] === 'END' && se[3])) {
    const form = se[1] === 'FUNC' ? 'func' : 'code';
    const name = symName(args[0], macro, fail);
    return se[2] === 'START' ? { d: 'start', form, name } : { d: 'end', form, name, macro };
  }
  switch (macro) {
    case 'SYM_INNER_LABEL':
    case 'SYM_INNER_LABEL_ALIGN':
      return { d: 'inner-label', name: symName(args[0], macro, fail), macro };
    case 'SYM_KIND':
      return { d: 'kind', name: symName(args[0], macro, fail), kind: kindOf(args[1] ?? fail('SYM_KIND(name, kind)'), fail), macro };
    case 'SYM_ENTRY_POINT':
      return { d: 'entry', name: symName(args[0], macro, fail), macro };
    case 'STACK_FRAME_NON_STANDARD':
    case 'STACK_FRAME_NON_STANDARD_FP':
      return { d: 'non-standard', name: symName(args[0], macro, fail), fp: macro.endsWith('_FP'), macro };
    default:
      return { d: 'unknown', macro };
  }
}

/** `name: rest` at the start of a line. */
export function splitLabel(line: string): { name: string; rest: string } | undefined {
  const m = /^([A-Za-z_.$][\w.$]*):\s*(.*)$/.exec(line);
  return m ? { name: m[1]!, rest: m[2]!.trim() } : undefined;
}

/** Bind `name` to `addr`; a name is defined once. */
export function defineLabel(labels: Map<string, number>, name: string, addr: number, fail: Fail, what = 'label'): void {
  if (labels.has(name)) fail(`duplicate ${what} ${name}`);
  labels.set(name, addr);
}

/** SYM_*_END must close the symbol its START opened. */
export function checkEnd(openName: string | undefined, d: { name: string; macro: string }, fail: Fail): void {
  if (openName !== d.name) fail(`${d.macro}(${d.name}) without a matching start`);
}

/** A SYM_*_START left open at the end of a unit. */
export function notClosed(region: string, name: string): AsmError {
  return new AsmError(`${region}: ${name} is not closed`);
}

/** Resolve a symbol reference made by the instruction `text` (in function `fn`, when known). */
export function resolveRef(labels: Map<string, number>, name: string, text: string, fn?: string, externals?: Record<string, number>): number {
  const v = labels.get(name) ?? externals?.[name];
  if (v === undefined) throw new AsmError(`${fn ? `${fn}: ` : ''}undefined symbol ${name} in "${text}"`);
  return v;
}

/** Symbol annotations collected over all units, applied once every symbol is known. */
export class Annotations {
  readonly kinds = new Map<string, SymbolKind>();
  readonly entries = new Set<string>();
  readonly nonStandard = new Set<string>();
  /** STACK_FRAME_NON_STANDARD_FP: frame-pointer checks skipped, stack state still tracked. */
  readonly fpNonStandard = new Set<string>();
  /** Where each annotation was written, to name it if its symbol never appears. */
  private readonly sites: { name: string; at: string }[] = [];

  /** Record `d` if it is an annotation (`at` is "region:line"); false otherwise. */
  take(d: Directive, at: string): boolean {
    if (d.d === 'kind') this.kinds.set(d.name, d.kind);
    else if (d.d === 'entry') this.entries.add(d.name);
    else if (d.d === 'non-standard') (d.fp ? this.fpNonStandard : this.nonStandard).add(d.name);
    else return false;
    this.sites.push({ name: d.name, at: `${at}: ${d.macro}` });
    return true;
  }

  /** Set kinds and flags on `symbols`; an annotation naming no symbol is an error. */
  apply(symbols: KSymbol[]): void {
    const byName = new Map<string, KSymbol>();
    for (const s of symbols) {
      byName.set(s.name, s);
      const k = this.kinds.get(s.name);
      if (k) s.kind = k;
      if (this.entries.has(s.name)) s.entry = true;
      if (this.nonStandard.has(s.name)) s.nonStandard = true;
    }
    for (const { name, at } of this.sites) {
      if (!byName.has(name)) throw new AsmError(`${at} names unknown symbol ${name}`);
    }
  }
}

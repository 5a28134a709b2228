/**
 * objtool for loongarch64, as far as the simulated kernel needs it: generates the ORC table
 * (arch/loongarch/include/asm/orc_types.h) by following each function's stack state instruction by
 * instruction, and reports what objtool warns about.
 *
 * SYM_FUNC code is tracked from its entry (CFA = sp, ra and fp in their registers): `addi.d $sp` moves the
 * CFA offset, `st.d $ra / $fp, $sp, off` saves them, `addi.d $fp, $sp, <CFA offset>` makes fp the CFA base,
 * their reloads put them back in registers. SYM_CODE follows its UNWIND_HINT_*s (a FUNC hint starts
 * tracking like a function entry). Whatever the tracking cannot follow (sp set from an unknown value, a call
 * made while ra is only in its register) is ORC_TYPE_UNDEFINED and reported. BPF, EFI and
 * STACK_FRAME_NON_STANDARD code get no entries. Exception vectors are copies of the handlers and get no
 * entries of their own (the unwinder maps their addresses back, like bt_address()).
 */
import { Op, REG_FP, REG_RA, REG_SP, type Program } from '../isa/loongarch64/assembler';
import { hex } from '../machine/addr';
import type { KSymbol } from '../machine/symbols';
import type { Finding } from '../scene/types';
import type { LoongarchOrcEntry } from '../snapshot/types';

export interface Loongarch64Analysis {
  orc: LoongarchOrcEntry[];
  findings: Finding[];
}

/** Where a register's value for the caller is: still in the register, saved at CFA + offset, or lost. */
type Loc = { at: 'reg' } | { at: 'cfa'; off: number } | { at: 'lost' } | { at: 'copy'; reg: number };

interface State {
  /** CFA base: sp (CFA = sp + spOff) or fp (CFA = fp). */
  base: 'sp' | 'fp';
  /** CFA - sp, when known. */
  spOff: number | null;
  ra: Loc;
  fp: Loc;
  /** A register holding a copy of ra while ra is still in its register (`move $t0, $ra`), if any. */
  raCopy?: number;
  type: LoongarchOrcEntry['type'];
}

const entryState = (): State => ({ base: 'sp', spOff: 0, ra: { at: 'reg' }, fp: { at: 'reg' }, type: 'call' });
const undefinedState = (): State => ({ base: 'sp', spOff: null, ra: { at: 'lost' }, fp: { at: 'reg' }, type: 'undefined' });
const regsState = (): State => ({ base: 'sp', spOff: 0, ra: { at: 'reg' }, fp: { at: 'reg' }, type: 'regs' });

function row(ip: number, s: State): LoongarchOrcEntry {
  const bad = s.type === 'undefined' || (s.type === 'call' && (s.ra.at === 'lost' || s.ra.at === 'copy' || s.fp.at === 'lost' || (s.base === 'sp' && s.spOff === null)));
  if (bad) return { ip: hex(ip), spReg: 'undefined', spOffset: 0, fpReg: 'undefined', fpOffset: 0, raReg: 'undefined', raOffset: 0, type: 'undefined' };
  if (s.type === 'end_of_stack') return { ip: hex(ip), spReg: 'undefined', spOffset: 0, fpReg: 'undefined', fpOffset: 0, raReg: 'undefined', raOffset: 0, type: 'end_of_stack' };
  return {
    ip: hex(ip),
    spReg: s.base,
    spOffset: s.base === 'sp' ? s.spOff! : 0,
    fpReg: s.fp.at === 'cfa' ? 'prev_sp' : 'undefined',
    fpOffset: s.fp.at === 'cfa' ? s.fp.off : 0,
    raReg: s.ra.at === 'cfa' ? 'prev_sp' : 'undefined',
    raOffset: s.ra.at === 'cfa' ? s.ra.off : 0,
    type: s.type,
  };
}

const same = (a: LoongarchOrcEntry, b: LoongarchOrcEntry): boolean =>
  a.spReg === b.spReg && a.spOffset === b.spOffset && a.fpReg === b.fpReg && a.fpOffset === b.fpOffset && a.raReg === b.raReg && a.raOffset === b.raOffset && a.type === b.type;

export function analyseLoongarch64(prog: Program, ftraceCaller?: number): Loongarch64Analysis {
  const orc: LoongarchOrcEntry[] = [];
  const findings: Finding[] = [];
  const warn = (kind: Finding['kind'], s: KSymbol, addr: number, message: string) => {
    if (!findings.some((f) => f.kind === kind && f.fn === s.name)) findings.push({ severity: 'warning', kind, fn: s.name, addr, message: `${s.name}+0x${(addr - s.start).toString(16)}: ${message}` });
  };
  const reached = new Set<number>();
  for (const b of prog.blocks) for (const i of b.insns) if (i && (i.op === Op.BL || i.op === Op.B || i.op === Op.BEQ || i.op === Op.BNE || i.op === Op.LI)) reached.add(i.target);

  for (const s of [...prog.symbols].sort((a, b) => a.start - b.start)) {
    if (s.nonStandard) {
      findings.push({ severity: 'warning', kind: 'non-standard-skipped', fn: s.name, addr: s.start, message: `${s.name}: skipped, marked STACK_FRAME_NON_STANDARD` });
      continue;
    }
    if (s.kind === 'bpf' || s.kind === 'foreign') continue;
    const form = prog.declared.get(s.name) ?? 'func';
    const hints = prog.hints.filter((h) => h.addr >= s.start && h.addr < s.end);
    if (form === 'code' && !hints.length) {
      if (!reached.has(s.start) && !s.entry) findings.push({ severity: 'warning', kind: 'unreachable-instruction', fn: s.name, addr: s.start, message: `${s.name}+0x0: unreachable instruction` });
      continue;
    }
    let st: State = form === 'code' ? undefinedState() : entryState();
    let last: LoongarchOrcEntry | undefined;
    for (let a = s.start; a < s.end; a += 4) {
      for (const h of hints) {
        if (h.addr !== a) continue;
        st = h.type === 'undefined' ? undefinedState() : h.type === 'regs' ? regsState() : h.type === 'func' ? entryState() : { ...undefinedState(), type: 'end_of_stack' };
      }
      const i = prog.insnAt(a);
      // A call's own row is what a return address (ra - 4) looks up: the state after the call returns,
      // when a call that links in ra has overwritten it. Where ra was only in its register, that state
      // is undefined (an exception exactly at the call is rejected with it: sound).
      const r = row(a, i && st.type === 'call' && linksRa(i, ftraceCaller) && st.ra.at === 'reg' ? { ...st, ra: { at: 'lost' } } : st);
      if (!last || !same(last, r)) orc.push((last = r));
      if (!i) continue;
      if (st.type !== 'call') {
        // Inside pt_regs or undefined state: only a write of sp matters (it leaves what the hint described).
        if (st.type === 'regs' && writesReg(i, REG_SP)) st = undefinedState();
        continue;
      }
      st = step(st, i, s, a, ftraceCaller, warn);
    }
  }
  orc.sort((x, y) => (x.ip < y.ip ? -1 : x.ip > y.ip ? 1 : 0));
  return { orc, findings };
}

function linksRa(i: { op: Op; rd: number; target: number }, ftraceCaller: number | undefined): boolean {
  return (i.op === Op.BL && i.target !== ftraceCaller) || (i.op === Op.JIRL && i.rd === REG_RA);
}

function writesReg(i: { op: Op; rd: number }, reg: number): boolean {
  switch (i.op) {
    case Op.ADDI:
    case Op.ANDI:
    case Op.ADD:
    case Op.SUB:
    case Op.AND:
    case Op.OR:
    case Op.LI:
    case Op.LD:
    case Op.CSRRD:
    case Op.CSRWR:
    case Op.CSRXCHG:
    case Op.JIRL:
      return i.rd === reg;
    case Op.BL:
      return reg === REG_RA;
    case Op.PSEUDO:
      return i.rd === reg;
  }
  return false;
}

function step(
  st0: State,
  i: Parameters<typeof writesReg>[0] & { rj: number; rk: number; imm: number; target: number; text: string },
  s: KSymbol,
  a: number,
  ftraceCaller: number | undefined,
  warn: (kind: Finding['kind'], s: KSymbol, addr: number, message: string) => void,
): State {
  const st: State = { ...st0 };
  const isCall = i.op === Op.BL || (i.op === Op.JIRL && i.rd === REG_RA);
  if (isCall) {
    if (i.op === Op.BL && i.target === ftraceCaller) return st; // the trampoline gives ra back
    if (st.ra.at !== 'cfa' || st.base !== 'fp') warn('fp-protocol', s, a, 'call without frame pointer save/setup');
    if (st.ra.at === 'reg') st.ra = st.raCopy !== undefined ? { at: 'copy', reg: st.raCopy } : { at: 'lost' };
    delete st.raCopy;
    return st;
  }
  // sp
  if (i.op === Op.ADDI && i.rd === REG_SP && i.rj === REG_SP) {
    if (st.spOff !== null) st.spOff -= i.imm;
  } else if (i.op === Op.ADDI && i.rd === REG_SP && i.rj === REG_FP && st.base === 'fp') {
    st.spOff = -i.imm;
  } else if (writesReg(i, REG_SP)) {
    st.spOff = null;
    if (st.base === 'sp') warn('undefined-stack-state', s, a, 'undefined stack state: sp set from an unknown value');
  }
  // saves and reloads
  if (i.op === Op.ST && i.rj === REG_SP && st.spOff !== null) {
    const off = i.imm - st.spOff;
    if (i.rd === REG_RA && st.ra.at === 'reg') st.ra = { at: 'cfa', off };
    if (i.rd === REG_FP && st.fp.at === 'reg') st.fp = { at: 'cfa', off };
  }
  if (i.op === Op.LD && i.rj === REG_SP && st.spOff !== null) {
    const off = i.imm - st.spOff;
    if (i.rd === REG_RA && st.ra.at === 'cfa' && st.ra.off === off) st.ra = { at: 'reg' };
    if (i.rd === REG_FP && st.fp.at === 'cfa' && st.fp.off === off) {
      st.fp = { at: 'reg' };
      if (st.base === 'fp') st.base = 'sp';
    }
  }
  // fp as the CFA base
  if (i.op === Op.ADDI && i.rd === REG_FP && i.rj === REG_SP && st.spOff !== null && i.imm === st.spOff && st.fp.at === 'cfa') st.base = 'fp';
  else if (i.op !== Op.LD && writesReg(i, REG_FP) && st.fp.at === 'reg') st.fp = { at: 'lost' };
  // ra copies (inline asm keeping ra in another register around a call)
  if (st.raCopy !== undefined && writesReg(i, st.raCopy)) delete st.raCopy;
  if (i.op === Op.OR && i.rj === REG_RA && i.rk === 0 && st.ra.at === 'reg') st.raCopy = i.rd;
  else if (i.op === Op.OR && i.rd === REG_RA && st.ra.at === 'copy' && i.rj === st.ra.reg) st.ra = { at: 'reg' };
  else if (writesReg(i, REG_RA) && st.ra.at === 'reg' && !(i.op === Op.LD && i.rj === REG_SP)) st.ra = st.raCopy !== undefined ? { at: 'copy', reg: st.raCopy } : { at: 'lost' };
  return st;
}

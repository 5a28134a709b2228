/**
 * Build-time checks of riscv64 code for the frame-pointer unwinder. riscv's reliable unwinder reads
 * frame records only, so no unwind table is generated; what the build must catch is code that breaks
 * the frame-pointer protocol (a call made before the function's record is set up: the callee's
 * record would name the caller's caller, silently skipping the function), as objtool does for arm64
 * and x86_64. Also reported: STACK_FRAME_NON_STANDARD functions (skipped) and SYM_CODE that no jump,
 * call, address load or hint reaches.
 */
import { Op, REG_RA, REG_S0, REG_SP, type Program } from '../isa/riscv64/assembler';
import type { Finding } from '../scene/types';

export interface Riscv64Analysis {
  findings: Finding[];
}

export function analyseRiscv64(prog: Program): Riscv64Analysis {
  const findings: Finding[] = [];
  const reached = new Set<number>();
  for (const b of prog.blocks) for (const i of b.insns) if (i && (i.op === Op.JAL || i.op === Op.BEQ || i.op === Op.BNE || i.op === Op.LA)) reached.add(i.target);
  for (const s of prog.symbols) {
    if (s.nonStandard) {
      findings.push({ severity: 'warning', kind: 'non-standard-skipped', fn: s.name, addr: s.start, message: `${s.name}: skipped, marked STACK_FRAME_NON_STANDARD` });
      continue;
    }
    const form = prog.declared.get(s.name);
    if (form === 'code') {
      const hinted = prog.hints.some((h) => h.addr >= s.start && h.addr < s.end);
      if (!hinted && !reached.has(s.start) && !s.entry) findings.push({ severity: 'warning', kind: 'unreachable-instruction', fn: s.name, addr: s.start, message: `${s.name}+0x0: unreachable instruction` });
      continue;
    }
    if (form !== 'func') continue;
    // Linear scan of a C-like function: ra saved, then s0 set from sp, before any call that links in ra.
    let raSaved = false;
    let frame = false;
    for (let a = s.start; a < s.end; a += 4) {
      const i = prog.insnAt(a);
      if (!i) continue;
      if (i.op === Op.SD && i.rs2 === REG_RA && i.rs1 === REG_SP) raSaved = true;
      if (i.op === Op.ADDI && i.rd === REG_S0 && i.rs1 === REG_SP && raSaved) frame = true;
      const call = (i.op === Op.JAL || i.op === Op.JALR) && i.rd === REG_RA;
      if (call && !frame) {
        findings.push({ severity: 'warning', kind: 'fp-protocol', fn: s.name, addr: a, message: `${s.name}+0x${(a - s.start).toString(16)}: call without frame pointer save/setup` });
        break;
      }
    }
  }
  return { findings };
}

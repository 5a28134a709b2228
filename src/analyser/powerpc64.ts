/**
 * Build-time checks of powerpc64 code for the back-chain unwinder (a modelling assumption: upstream
 * powerpc runs objtool for mcount and noinstr only). The walk reads each frame's back chain and LR save
 * slot, so what the build must catch is a call made before the function saved LR in its caller's frame
 * and made its own frame: the callee would save its return address over the caller's slot, silently
 * skipping the caller. The ftrace call site (`mflr r0; bl ftrace_caller` before the prologue) is the one
 * call allowed there. Also reported: STACK_FRAME_NON_STANDARD functions (skipped) and SYM_CODE that no
 * branch, address load or hint reaches.
 */
import { Op, REG_SP, type Program } from '../isa/powerpc64/assembler';
import type { Finding } from '../scene/types';

export interface Powerpc64Analysis {
  findings: Finding[];
}

export function analysePowerpc64(prog: Program): Powerpc64Analysis {
  const findings: Finding[] = [];
  const reached = new Set<number>();
  for (const b of prog.blocks) for (const i of b.insns) if (i && (i.op === Op.B || i.op === Op.BL || i.op === Op.BC || i.op === Op.LA)) reached.add(i.target);
  const ftrace = prog.symbols.find((s) => s.kind === 'ftrace-trampoline')?.start;
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
    // Linear scan of a C-like function: mflr r0, std r0 into the caller's LR slot, stdu r1 (the back chain), then calls.
    let lrInR0 = false;
    let lrSaved = false;
    let frame = false;
    for (let a = s.start; a < s.end; a += 4) {
      const i = prog.insnAt(a);
      if (!i) continue;
      if (i.op === Op.MFLR && i.rd === 0) lrInR0 = true;
      if (i.op === Op.STD && i.rd === 0 && i.ra === REG_SP && i.imm === 16 && lrInR0) lrSaved = true;
      if (i.op === Op.STDU && i.rd === REG_SP && lrSaved) frame = true;
      const call = i.op === Op.BL || i.op === Op.BCTRL;
      if (call && !frame && !(i.op === Op.BL && i.target === ftrace)) {
        findings.push({ severity: 'warning', kind: 'fp-protocol', fn: s.name, addr: a, message: `${s.name}+0x${(a - s.start).toString(16)}: call before LR is saved and the frame is made` });
        break;
      }
    }
  }
  return { findings };
}

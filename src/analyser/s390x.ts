/**
 * Build-time checks of s390x code for the back-chain unwinder. Nothing is generated (the unwinder
 * reads back chains only); what the build must catch is code that breaks the back-chain protocol: a
 * call made before the function has saved %r14 into its caller's frame and stored its own frame's
 * back chain (the callee would save its return address where the function's own belongs, silently
 * skipping the function's caller). s390 has no objtool stack validation upstream: this analyser is
 * the suite's modelling assumption, as for riscv64. Also reported: STACK_FRAME_NON_STANDARD
 * functions (skipped) and SYM_CODE that no jump, call or address load reaches.
 */
import { Op, REG_R14, REG_SP, type Program } from '../isa/s390x/assembler';
import { S390X_ABI as A } from '../isa/s390x/abi';
import type { Finding } from '../scene/types';

export interface S390xAnalysis {
  findings: Finding[];
}

export function analyseS390x(prog: Program): S390xAnalysis {
  const findings: Finding[] = [];
  const reached = new Set<number>();
  for (const b of prog.blocks) for (const i of b.insns) if (i && (i.op === Op.J || i.op === Op.BRC || i.op === Op.BRASL || i.op === Op.LARL)) reached.add(i.target);
  for (const s of prog.symbols) {
    if (s.nonStandard) {
      findings.push({ severity: 'warning', kind: 'non-standard-skipped', fn: s.name, addr: s.start, message: `${s.name}: skipped, marked STACK_FRAME_NON_STANDARD` });
      continue;
    }
    const form = prog.declared.get(s.name);
    if (form === 'code') {
      if (!reached.has(s.start) && !s.entry) findings.push({ severity: 'warning', kind: 'unreachable-instruction', fn: s.name, addr: s.start, message: `${s.name}+0x0: unreachable instruction` });
      continue;
    }
    if (form !== 'func') continue;
    // Linear scan of a C-like function: %r14 saved by stmg into the caller's frame, then a back chain stored, before any call linking in %r14.
    let saved = false;
    let frame = false;
    for (let a = s.start; a < s.end; a += 4) {
      const i = prog.insnAt(a);
      if (!i) continue;
      if (i.op === Op.STMG && i.base === REG_SP && i.r1 <= REG_R14 && i.r3 >= REG_R14) saved = true;
      if (i.op === Op.STG && i.base === REG_SP && i.imm === A.SF_BACKCHAIN && saved) frame = true;
      const call = (i.op === Op.BRASL || i.op === Op.BASR) && i.r1 === REG_R14;
      if (call && !frame) {
        findings.push({ severity: 'warning', kind: 'fp-protocol', fn: s.name, addr: a, message: `${s.name}+0x${(a - s.start).toString(16)}: call without %r14 save / back chain setup` });
        break;
      }
    }
  }
  return { findings };
}

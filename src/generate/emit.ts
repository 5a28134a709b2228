/**
 * Generated programs as each arch's assembly: arm64 (compiled C with a frame record: STP X29, X30 /
 * MOV X29, SP ... LDP / RET, as cfunc() in src/kernel/arm64/image.ts) and x86_64 (fentry site, push %rbp /
 * mov %rsp, %rbp ... pop %rbp / ret, as cfn() in src/kernel/x86_64/source.ts). Tail calls tear the frame
 * down and jump (B / jmp); frameless functions keep the return address in the LR (arm64) or on the stack
 * top (x86_64).
 */
import type { WorkloadCode } from '../kernel/arm64/image';
import type { WorkloadSource } from '../kernel/x86_64/source';
import type { GenFunction, GenProgram, Step } from './program';

const arm64Step = (s: Step): string => (s.op === 'body' ? `  BODY ${s.n}` : `  BL <${s.fn}>`);
const x86Step = (s: Step): string => (s.op === 'body' ? `\tBODY ${s.n}` : `\tcall ${s.fn}`);

function arm64Fn(f: GenFunction): string {
  const out = [`SYM_FUNC_START(${f.name})`];
  if (f.frame) out.push('  STP X29, X30, [SP, #-16]!', '  MOV X29, SP');
  out.push(...f.steps.map(arm64Step));
  if (f.frame) out.push('  LDP X29, X30, [SP], #16');
  out.push(f.tail ? `  B <${f.tail}>` : '  RET', `SYM_FUNC_END(${f.name})`);
  return out.join('\n');
}

function x86Fn(f: GenFunction): string {
  const out = [`SYM_FUNC_START(${f.name})`, '\tcall __fentry__'];
  if (f.frame) out.push('\tpushq %rbp', '\tmovq %rsp, %rbp');
  out.push(...f.steps.map(x86Step));
  if (f.frame) out.push('\tpopq %rbp');
  out.push(f.tail ? `\tjmp ${f.tail}` : '\tret', `SYM_FUNC_END(${f.name})`);
  return out.join('\n');
}

export function arm64Code(p: GenProgram): WorkloadCode {
  return { syscall: p.entry, kernel: p.functions.map(arm64Fn).join('\n') };
}

export function x86_64Source(p: GenProgram): WorkloadSource {
  return { kernel: p.functions.map(x86Fn).join('\n') + '\n', sys: p.entry, blocks: true };
}

/**
 * Generated programs as each arch's assembly (riscv64 too, below): arm64 (compiled C with a frame record: STP X29, X30 /
 * MOV X29, SP ... LDP / RET, as cfunc() in src/kernel/arm64/image.ts) and x86_64 (fentry site, push %rbp /
 * mov %rsp, %rbp ... pop %rbp / ret, as cfn() in src/kernel/x86_64/source.ts). Tail calls tear the frame
 * down and jump (B / jmp); frameless functions keep the return address in the LR (arm64) or on the stack
 * top (x86_64).
 */
import { MAP, type WorkloadCode } from '../kernel/arm64/image';
import { LAYOUT } from '../kernel/x86_64/image';
import { MAP as RISCV64_MAP, prologue as riscv64Prologue, epilogue as riscv64Epilogue, type WorkloadCode as Riscv64Code } from '../kernel/riscv64/image';
import type { WorkloadSource } from '../kernel/x86_64/source';
import type { GenFunction, GenProgram, Step } from './program';

/** Depth counters of recursive functions: 8-byte slots in kernel data, zero at boot (functions: image.ts imports this module). */
export const arm64RecursionCounters = (): number => MAP.data.base + 0x800;
export const x86_64RecursionCounters = (): number => LAYOUT.TASKS + 0x800;
export const riscv64RecursionCounters = (): number => RISCV64_MAP.data.base + 0x800;

function arm64Step(f: GenFunction, s: Step): string {
  if (s.op === 'body') return `  BODY ${s.n}`;
  if (s.op === 'call') return `  BL <${s.fn}>`;
  const base = `.L${f.name}_base`;
  const after = `.L${f.name}_after`;
  return [
    `  MOV X10, #${arm64RecursionCounters() + 8 * s.slot}`,
    '  LDR X11, [X10]',
    '  ADD X11, X11, #1',
    '  STR X11, [X10]',
    `  SUB X12, X11, #${s.times + 1}`,
    `  CBZ X12, <${base}>`,
    `  BL <${f.name}>`,
    `  B <${after}>`,
    `${base}:`,
    `  BL <${s.next}>`,
    `${after}:`,
  ].join('\n');
}

function x86Step(f: GenFunction, s: Step): string {
  if (s.op === 'body') return `\tBODY ${s.n}`;
  if (s.op === 'call') return `\tcall ${s.fn}`;
  const base = `.L${f.name}_base`;
  const after = `.L${f.name}_after`;
  return [
    `\tmovq $${x86_64RecursionCounters() + 8 * s.slot}, %r10`,
    '\tmovq (%r10), %r11',
    '\taddq $1, %r11',
    '\tmovq %r11, (%r10)',
    `\tcmpq $${s.times + 1}, %r11`,
    `\tjz ${base}`,
    `\tcall ${f.name}`,
    `\tjmp ${after}`,
    `${base}:`,
    `\tcall ${s.next}`,
    `${after}:`,
  ].join('\n');
}

function riscv64Step(f: GenFunction, s: Step): string {
  if (s.op === 'body') return `  BODY ${s.n}`;
  if (s.op === 'call') return `  call ${s.fn}`;
  const base = `.L${f.name}_base`;
  const after = `.L${f.name}_after`;
  return [
    `  li t1, ${riscv64RecursionCounters() + 8 * s.slot}`,
    '  ld t2, 0(t1)',
    '  addi t2, t2, 1',
    '  sd t2, 0(t1)',
    `  li t1, ${s.times + 1}`,
    `  beq t2, t1, ${base}`,
    `  call ${f.name}`,
    `  j ${after}`,
    `${base}:`,
    `  call ${s.next}`,
    `${after}:`,
  ].join('\n');
}

/** riscv64: compiled C with a frame record below s0 (prologue / epilogue as cfunc() in src/kernel/riscv64/image.ts). */
function riscv64Fn(f: GenFunction): string {
  const out = [`SYM_FUNC_START(${f.name})`];
  if (f.frame) out.push(...riscv64Prologue().map((l) => '  ' + l));
  out.push(...f.steps.map((s) => riscv64Step(f, s)));
  if (f.frame) out.push(...riscv64Epilogue().slice(0, 3).map((l) => '  ' + l));
  out.push(f.tail ? `  tail ${f.tail}` : '  ret', `SYM_FUNC_END(${f.name})`);
  return out.join('\n');
}

export function riscv64Code(p: GenProgram): Riscv64Code {
  return { syscall: p.entry, kernel: p.functions.map(riscv64Fn).join('\n') };
}

function arm64Fn(f: GenFunction): string {
  const out = [`SYM_FUNC_START(${f.name})`];
  if (f.frame) out.push('  STP X29, X30, [SP, #-16]!', '  MOV X29, SP');
  out.push(...f.steps.map((s) => arm64Step(f, s)));
  if (f.frame) out.push('  LDP X29, X30, [SP], #16');
  out.push(f.tail ? `  B <${f.tail}>` : '  RET', `SYM_FUNC_END(${f.name})`);
  return out.join('\n');
}

function x86Fn(f: GenFunction): string {
  const out = [`SYM_FUNC_START(${f.name})`, '\tcall __fentry__'];
  if (f.frame) out.push('\tpushq %rbp', '\tmovq %rsp, %rbp');
  out.push(...f.steps.map((s) => x86Step(f, s)));
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

/**
 * The objtool-like x86_64 analyser: ORC entries (CFA and saved rbp) written by hand from the
 * instruction semantics, and the warnings objtool gives for the same code.
 */
import { unhex } from '../src/machine/addr';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { analyse } from '../src/analyser/x86_64';
import { assemble } from '../src/isa/x86_64/assembler';
import { baseImage, LAYOUT } from '../src/kernel/x86_64/image';
import { kit } from '../src/kernel/x86_64/kit';
import type { OrcEntry } from '../src/snapshot/types';
import type { Workload } from '../src/scene/types';

/** The ORC entry covering addr (the last one at or below it), as the kernel's orc_find() does. */
function orcAt(orc: OrcEntry[], addr: number): OrcEntry {
  let best: OrcEntry | undefined;
  for (const e of orc) if (unhex(e.ip) <= addr) best = e;
  assert.ok(best, `no ORC entry at 0x${addr.toString(16)}`);
  return best;
}
const cfa = (e: OrcEntry): string => (e.type === 'call' || e.type === 'regs' || e.type === 'regs_partial' ? `${e.type} ${e.spReg}+${e.spOffset}` : e.type);
const bp = (e: OrcEntry): string => (e.bpReg === 'prev_sp' ? `prev_sp${e.bpOffset}` : e.bpReg);

function insns(w: Workload, fn: string) {
  const b = baseImage(w);
  return { b, list: b.prog.bySym.get(fn)! };
}

test('ORC for a plain function: sp+8 at entry, sp+16 after push %rbp, bp+16 after mov %rsp,%rbp, sp+8 at ret', () => {
  const { b, list } = insns('work-chain', 'work_c');
  // call __fentry__ / push %rbp / movq %rsp, %rbp / BODY x3 / popq %rbp / ret
  assert.deepEqual(list.map((i) => i.text), ['call __fentry__', 'pushq %rbp', 'movq %rsp, %rbp', 'BODY 1/3', 'BODY 2/3', 'BODY 3/3', 'popq %rbp', 'ret']);
  const orc = b.analysis.orc;
  const at = (k: number): string => `${cfa(orcAt(orc, list[k]!.addr))} ${bp(orcAt(orc, list[k]!.addr))}`;
  assert.equal(at(0), 'call sp+8 undefined');
  assert.equal(at(1), 'call sp+8 undefined'); // before the push executes
  assert.equal(at(2), 'call sp+16 prev_sp-16'); // after push %rbp
  assert.equal(at(3), 'call bp+16 prev_sp-16'); // after mov %rsp, %rbp
  assert.equal(at(5), 'call bp+16 prev_sp-16');
  assert.equal(at(6), 'call bp+16 prev_sp-16'); // before pop %rbp
  assert.equal(at(7), 'call sp+8 undefined'); // ret
  // Past the end of the function: undefined.
  const sym = b.prog.symbols.find((s) => s.name === 'work_c')!;
  assert.equal(orcAt(orc, sym.end).type, 'undefined');
});

test('the ORC table is sorted, covers kernel and module text only, and follows hints', () => {
  const b = baseImage('bpf-sleep');
  const orc = b.analysis.orc;
  for (let k = 1; k < orc.length; k++) assert.ok(unhex(orc[k]!.ip) > unhex(orc[k - 1]!.ip));
  assert.ok(orc.every((e) => unhex(e.ip) < LAYOUT.BPF), 'no ORC for BPF JIT code');
  const first = (fn: string): number => b.prog.bySym.get(fn)![0]!.addr;
  assert.equal(orcAt(orc, first('entry_SYSCALL_64')).type, 'end_of_stack'); // UNWIND_HINT_EMPTY at an entry point
  assert.equal(orcAt(orc, first('ret_from_fork_asm')).type, 'end_of_stack');
  assert.equal(cfa(orcAt(orc, first('ret_from_fork'))), 'call sp+8'); // the C ret_from_fork is an ordinary function
  // Today's return_to_handler: UNDEFINED at its entry (the RET consumed the slot), then
  // UNWIND_HINT_FUNC once it has stepped back over that slot, tracked through the ftrace_regs frame.
  const rth = b.prog.bySym.get('return_to_handler')!;
  assert.equal(orcAt(orc, rth[0]!.addr).type, 'undefined');
  assert.equal(cfa(orcAt(orc, rth[1]!.addr)), 'call sp+8');
  assert.equal(cfa(orcAt(orc, rth.find((i) => i.text === 'call ftrace_return_to_handler')!.addr)), `call sp+${8 + 168}`);
  assert.equal(cfa(orcAt(orc, rth.find((i) => i.text === 'call .Ldo_rop')!.addr)), 'call sp+0');
  assert.equal(cfa(orcAt(orc, rth.find((i) => i.text === 'movq %rdi, (%rsp)')!.addr)), 'call sp+8'); // after the intra-function call
  assert.ok(!kit.analyse('bpf-sleep').some((f) => f.fn === 'return_to_handler'), 'the int3 after the intra-function call is not unreachable code');
  const irq = b.prog.bySym.get('asm_common_interrupt')!;
  assert.deepEqual(orcAt(orc, irq[0]!.addr), { ip: orcAt(orc, irq[0]!.addr).ip, spReg: 'sp', spOffset: 0, bpReg: 'undefined', bpOffset: 0, type: 'regs_partial', signal: true });
  assert.equal(cfa(orcAt(orc, irq[1]!.addr)), 'regs_partial sp+8'); // after pushq $-1
  const call = irq.find((i) => i.text === 'call common_interrupt')!;
  assert.equal(cfa(orcAt(orc, call.addr)), 'regs sp+0'); // pt_regs at rsp
  // arch_rethook_trampoline is an @function: function-entry ORC at its first instruction (the
  // unwinder recovers pt_regs->ip == the trampoline through rethook instead), then UNWIND_HINT_FUNC
  // after the fake return address, tracked through the pt_regs it builds.
  const kret = b.prog.bySym.get('arch_rethook_trampoline')!;
  assert.equal(cfa(orcAt(orc, kret[0]!.addr)), 'call sp+8');
  assert.equal(cfa(orcAt(orc, kret[1]!.addr)), 'call sp+8'); // UNWIND_HINT_FUNC after the fake return address
  assert.equal(cfa(orcAt(orc, kret.find((i) => i.text === 'call arch_rethook_trampoline_callback')!.addr)), 'call sp+168');
  // common_interrupt's inline call_on_irq_stack switches rsp (a stack swizzle) but its CFA stays
  // rbp-based, and `popq %rsp` gives the analyser its rsp back: the epilogue checks out.
  const ci = b.prog.bySym.get('common_interrupt')!;
  assert.equal(cfa(orcAt(orc, ci.find((i) => i.text === 'call __common_interrupt')!.addr)), 'call bp+16');
  assert.equal(cfa(orcAt(orc, ci[ci.length - 1]!.addr)), 'call sp+8');
  assert.ok(!kit.analyse('bpf-sleep').some((f) => f.fn === 'common_interrupt'), 'no finding in common_interrupt');
  const m = baseImage('module-sleep');
  assert.equal(cfa(orcAt(m.analysis.orc, m.prog.bySym.get('mod_fn')![3]!.addr)), 'call bp+16');
});

test('fp-violation: objtool-style "call without frame pointer save/setup", while the ORC CFA stays right', () => {
  const f = kit.analyse('fp-violation');
  const fp = f.filter((x) => x.kind === 'fp-protocol');
  assert.equal(fp.length, 1);
  assert.equal(fp[0]!.fn, 'fpviol_fn');
  assert.match(fp[0]!.message, /call without frame pointer save\/setup/);
  const { b, list } = insns('fp-violation', 'fpviol_fn');
  const call = list.find((i) => i.text === 'call fpviol_leaf')!;
  assert.equal(fp[0]!.addr, call.addr);
  assert.equal(`${cfa(orcAt(b.analysis.orc, call.addr))} ${bp(orcAt(b.analysis.orc, call.addr))}`, 'call sp+8 undefined');
});

test('unreachable SYM_CODE is reported; the rest of the kernel is clean', () => {
  const f = kit.analyse('unreachable-code');
  assert.deepEqual(f.map((x) => [x.kind, x.fn]), [['unreachable-instruction', 'orphan_stub']]);
  for (const w of ['syscall-sleep', 'kthread-sleep', 'work-chain', 'module-sleep', 'bpf-sleep', 'efi-call', 'tail-call', 'hint-undefined'] as Workload[]) {
    assert.deepEqual(kit.analyse(w), [], w);
  }
});

test('STACK_FRAME_NON_STANDARD: skipped with a finding, and UNDEFINED in ORC', () => {
  const f = kit.analyse('nonstandard-sleep');
  assert.deepEqual(f.map((x) => [x.kind, x.fn]), [['non-standard-skipped', 'nonstd_fn']]);
  const { b, list } = insns('nonstandard-sleep', 'nonstd_fn');
  for (const i of list) assert.equal(orcAt(b.analysis.orc, i.addr).type, 'undefined');
});

test('UNWIND_HINT_UNDEFINED makes the region UNDEFINED until the next hint', () => {
  const { b, list } = insns('hint-undefined', 'hint_undef_code');
  const orc = b.analysis.orc;
  assert.equal(cfa(orcAt(orc, list[0]!.addr)), 'call sp+8');
  assert.equal(cfa(orcAt(orc, list[2]!.addr)), 'call bp+16');
  assert.equal(orcAt(orc, list.find((i) => i.text === 'call schedule')!.addr).type, 'undefined');
  assert.equal(cfa(orcAt(orc, list[list.length - 1]!.addr)), 'call sp+8'); // UNWIND_HINT_FUNC on ret
});

test('two paths reaching an instruction with different CFA: stack-state-mismatch (findings are data)', () => {
  const p = assemble([
    {
      region: 'kernel-text',
      base: 0xffff81000000,
      source: `SYM_FUNC_START(mm)
        testq %rax, %rax
        jz mm_skip
        pushq %rbx
mm_skip:
        BODY 1
        ret
SYM_FUNC_END(mm)`,
    },
  ]);
  const r = analyse(p, { regions: new Set(['kernel-text']) });
  const kinds = r.findings.map((x) => x.kind);
  assert.ok(kinds.includes('stack-state-mismatch'), JSON.stringify(r.findings));
  assert.equal(r.findings.find((x) => x.kind === 'stack-state-mismatch')!.addr, p.labels.get('mm_skip'));
});

test('a call is not followed into SYM_CODE: without a hint, called SYM_CODE has no ORC and is unreachable (objtool)', () => {
  const p = assemble([
    {
      region: 'kernel-text',
      base: 0xffff81000000,
      source: `SYM_FUNC_START(caller_fn)
        pushq %rbp
        movq %rsp, %rbp
        call code_stub
        popq %rbp
        ret
SYM_FUNC_END(caller_fn)
SYM_CODE_START(code_stub)
        BODY 1
        ret
SYM_CODE_END(code_stub)`,
    },
  ]);
  const r = analyse(p, { regions: new Set(['kernel-text']) });
  assert.deepEqual(r.findings.map((x) => [x.kind, x.fn]), [['unreachable-instruction', 'code_stub']]);
  const stub = p.bySym.get('code_stub')!;
  for (const i of stub) assert.equal(orcAt(r.orc, i.addr).type, 'undefined');
});

test('entry_SYSCALL_64: END_OF_STACK on entry and again once rsp is the user stack (sysret path), REGS in between', () => {
  const b = baseImage('syscall-sleep');
  const list = b.prog.bySym.get('entry_SYSCALL_64')!;
  const at = (text: string): string => cfa(orcAt(b.analysis.orc, list.find((i) => i.text === text)!.addr));
  assert.equal(at('swapgs'), 'end_of_stack'); // the first swapgs, at the entry point
  assert.equal(at('call do_syscall_64'), 'regs sp+0');
  assert.equal(at('movq 24(%rsp), %rsp'), 'regs_partial sp+0');
  assert.equal(at('sysretq'), 'end_of_stack');
});

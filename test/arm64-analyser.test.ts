import { unhex } from '../src/machine/addr';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyseArm64 } from '../src/analyser/arm64';
import { assemble } from '../src/isa/arm64/assembler';
import { imageFor, kit } from '../src/kernel/arm64/kit';
import { SPEC_CALLER, SPEC_FUNCTION } from '../src/kernel/arm64/image';
import type { Arm64MetaEntry } from '../src/snapshot/types';

/** The table entry covering `addr` (the last entry at or below it). */
function entryAt(table: Arm64MetaEntry[], addr: number): Arm64MetaEntry {
  let e: Arm64MetaEntry | undefined;
  for (const x of table) {
    if (unhex(x.ip) <= addr) e = x;
    else break;
  }
  assert.ok(e, `no entry covers 0x${addr.toString(16)}`);
  return e;
}

function analyseText(text: string) {
  const prog = assemble([{ region: 'kernel-text', base: 0x10000, text }]);
  return { prog, ...analyseArm64(prog) };
}

test('spec `function:` table: lr before the prologue MOV, frame after it, lr after the epilogue LDP', () => {
  const { prog, table, findings } = analyseText(`${SPEC_FUNCTION}\nother_function:\n  RET`);
  const f = prog.labels.get('function')!;
  const ra = [0, 1, 2, 3, 4].map((k) => entryAt(table, f + 4 * k).ra);
  // STP (entry), MOV (after STP, before MOV), BL (after MOV), LDP (after the call), RET (after LDP)
  assert.deepEqual(ra, ['lr', 'lr', 'frame', 'frame', 'lr']);
  assert.deepEqual([0, 1, 2, 3, 4].map((k) => entryAt(table, f + 4 * k).fp), ['caller', 'caller', 'own', 'own', 'caller']);
  assert.equal(entryAt(table, f).cfaSpOffset, 0);
  assert.equal(entryAt(table, f + 4).cfaSpOffset, 16, 'after STP the CFA is SP+16');
  assert.equal(entryAt(table, f + 16).cfaSpOffset, 0);
  assert.deepEqual(findings, []);
});

test('spec `caller:` table: ADR LR / BLR LR after the frame is set up keep the return address in the frame', () => {
  const { prog, table, findings } = analyseText(`${SPEC_CALLER}\ncallee:\n  RET`);
  const c = prog.labels.get('caller')!;
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((k) => entryAt(table, c + 4 * k).ra), ['lr', 'lr', 'frame', 'frame', 'frame', 'lr']);
  assert.deepEqual(findings, []);
});

test('a leaf that clobbers LR without a frame has an unknown return address', () => {
  const { prog, table } = analyseText('leafy:\n  ADR LR, <other>\n  NOP\n  RET\nother:\n  RET');
  const l = prog.labels.get('leafy')!;
  assert.equal(entryAt(table, l).ra, 'lr');
  assert.equal(entryAt(table, l + 4).ra, 'unknown');
});

test('analyser warns on the fp-violation workload, at the call made before the frame record', () => {
  const f = kit.analyse('fp-violation');
  const v = f.filter((x) => x.kind === 'fp-protocol');
  assert.equal(v.length, 1);
  assert.equal(v[0]!.fn, 'fpviol_fn');
  assert.equal(v[0]!.severity, 'warning');
  const { img, analysis } = imageFor('fp-violation');
  assert.equal(v[0]!.addr, img.prog.labels.get('fpviol_fn')! + 4);
  // The return address into fpviol_fn (after that call) is not described as reliable.
  assert.equal(entryAt(analysis.table, v[0]!.addr + 4).ra, 'unknown');
});

test('analyser reports unreachable SYM_CODE, and nothing for clean images', () => {
  const f = kit.analyse('unreachable-code');
  const u = f.filter((x) => x.kind === 'unreachable-instruction');
  assert.equal(u.length, 1);
  assert.equal(u[0]!.fn, 'orphan_stub');
  for (const w of ['syscall-sleep', 'kthread-sleep', 'work-chain', 'module-sleep', 'bpf-sleep', 'efi-call', 'spec-function', 'spec-caller', 'tail-call', 'hint-undefined'] as const) {
    assert.deepEqual(kit.analyse(w), [], w);
  }
  // ftrace call sites (MOV X9, X30 / BL <ftrace_caller>) and kprobes are not fp violations.
  assert.deepEqual(imageFor('syscall-sleep', { fgraph: ['sys_sleep'], ftraceRegs: ['do_nanosleep'], kretprobe: ['schedule'] }).analysis.findings, []);
});

test('a SYM_CODE block reached by a jump or a hint is not unreachable; one reached by neither is', () => {
  const { findings } = analyseText(
    [
      'SYM_FUNC_START(f)',
      '  B <tail_code>',
      'SYM_FUNC_END(f)',
      'SYM_CODE_START(tail_code)',
      '  RET',
      'SYM_CODE_END(tail_code)',
      'SYM_CODE_START(hinted)',
      '  UNWIND_HINT_UNDEFINED',
      '  RET',
      'SYM_CODE_END(hinted)',
      'SYM_CODE_START(lost)',
      '  NOP',
      '  RET',
      'SYM_CODE_END(lost)',
    ].join('\n'),
  );
  assert.deepEqual(findings.map((f) => [f.kind, f.fn]), [['unreachable-instruction', 'lost']]);
});

test('STACK_FRAME_NON_STANDARD: skipped with a finding, no usable metadata', () => {
  const f = kit.analyse('nonstandard-sleep');
  assert.deepEqual(f.map((x) => [x.kind, x.fn]), [['non-standard-skipped', 'nonstd_fn']]);
  const { img, analysis } = imageFor('nonstandard-sleep');
  const s = img.prog.symbols.find((x) => x.name === 'nonstd_fn')!;
  for (let a = s.start; a < s.end; a += 4) assert.equal(entryAt(analysis.table, a).ra, 'unknown');
});

test('hints: pt_regs frames are type regs, the entry frame end_of_stack, UNWIND_HINT_UNDEFINED undefined', () => {
  const { img, analysis } = imageFor('hint-undefined');
  const t = analysis.table;
  const after = (fn: string, target: string) => {
    const s = img.prog.symbols.find((x) => x.name === fn)!;
    for (let a = s.start; a < s.end; a += 4) if (img.prog.insnAt(a)!.target === img.prog.labels.get(target) && img.prog.insnAt(a)!.text.startsWith('BL')) return a + 4;
    throw new Error(`no call to ${target} in ${fn}`);
  };
  assert.equal(entryAt(t, after('el1h_64_irq', 'el1h_64_irq_handler')).type, 'regs');
  assert.equal(entryAt(t, after('el1h_64_nmi', 'el1h_64_nmi_handler')).type, 'regs');
  assert.equal(entryAt(t, after('el0t_64_sync', 'el0t_64_sync_handler')).type, 'end_of_stack');
  assert.equal(entryAt(t, after('ret_from_fork', 'schedule_tail')).type, 'end_of_stack');
  assert.equal(entryAt(t, img.prog.labels.get('el1h_64_irq')!).type, 'undefined');
  assert.equal(entryAt(t, img.prog.labels.get('return_to_handler')!).type, 'undefined');
  // hint_undef_code: a function-like part (UNWIND_HINT_FUNC) then an UNWIND_HINT_UNDEFINED region.
  const h = img.prog.labels.get('hint_undef_code')!;
  assert.equal(entryAt(t, h).ra, 'lr');
  assert.equal(entryAt(t, h + 2 * 4).ra, 'frame'); // after the prologue
  assert.equal(entryAt(t, h + 3 * 4).type, 'undefined'); // UNWIND_HINT_UNDEFINED
  assert.equal(entryAt(t, after('hint_undef_code', 'schedule')).type, 'undefined'); // the task sleeps in the undefined region
  assert.equal(entryAt(t, h + 7 * 4).ra, 'lr'); // UNWIND_HINT_FUNC before RET
  // The table is sorted by ip and ends every text block with an unknown entry.
  const ips = t.map((e) => unhex(e.ip));
  assert.deepEqual(ips, [...ips].sort((a, b) => a - b));
  assert.equal(new Set(ips).size, ips.length);
});

test('BPF JIT, EFI and PLT code get no usable metadata', () => {
  for (const [w, fn] of [['bpf-sleep', 'bpf_prog_6deef7357e7b4530'], ['efi-call', 'efi_get_time'], ['module-sleep', '__plt_mod_helper_target']] as const) {
    const { img, analysis } = imageFor(w);
    const s = img.prog.symbols.find((x) => x.name === fn)!;
    for (let a = s.start; a < s.end; a += 4) assert.equal(entryAt(analysis.table, a).ra, 'unknown', `${fn}`);
  }
  // module text functions are analysed
  const { img, analysis } = imageFor('module-sleep');
  assert.equal(entryAt(analysis.table, img.prog.labels.get('mod_fn')! + 8).ra, 'frame');
});

test('return or sibling call with a modified stack frame is reported', () => {
  const { findings } = analyseText(
    [
      'SYM_FUNC_START(leaky)',
      '  STP X29, X30, [SP, #-16]!',
      '  MOV X29, SP',
      '  RET',
      'SYM_FUNC_END(leaky)',
      'SYM_FUNC_START(sib)',
      '  SUB SP, SP, #16',
      '  B <leaky>',
      'SYM_FUNC_END(sib)',
    ].join('\n'),
  );
  assert.deepEqual(findings.map((f) => [f.kind, f.fn]), [['stack-state-mismatch', 'leaky'], ['stack-state-mismatch', 'sib']]);
});

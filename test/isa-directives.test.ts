import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AsmError, parseDirective, type Fail } from '../src/isa/directives';
import { assemble as asmArm64 } from '../src/isa/arm64/assembler';
import { assemble as asmX86 } from '../src/isa/x86_64/assembler';

const fail: Fail = (m) => {
  throw new AsmError(m);
};

/** Assemble `lines` on one ISA; the same directive text works on both. */
const ISAS = {
  arm64: { body: '  RET', run: (text: string) => asmArm64([{ region: 'k', base: 0x1000, text }]) },
  x86_64: { body: '  ret', run: (text: string) => asmX86([{ region: 'k', base: 0x1000, source: text }]) },
} as const;

test('parseDirective recognises both spellings of each annotation', () => {
  assert.deepEqual(parseDirective('SYM_KIND(f, plt)', fail), { d: 'kind', name: 'f', kind: 'plt', macro: 'SYM_KIND' });
  assert.deepEqual(parseDirective('.kind f plt', fail), { d: 'kind', name: 'f', kind: 'plt', macro: '.kind' });
  assert.deepEqual(parseDirective('SYM_ENTRY_POINT(f)', fail), { d: 'entry', name: 'f', macro: 'SYM_ENTRY_POINT' });
  assert.deepEqual(parseDirective('.entry f', fail), { d: 'entry', name: 'f', macro: '.entry' });
  assert.deepEqual(parseDirective('STACK_FRAME_NON_STANDARD_FP(f)', fail), { d: 'non-standard', name: 'f', fp: true, macro: 'STACK_FRAME_NON_STANDARD_FP' });
  assert.deepEqual(parseDirective('SYM_CODE_START_LOCAL(x)', fail), { d: 'start', form: 'code', name: 'x' });
  assert.deepEqual(parseDirective('SYM_FUNC_END(x)', fail), { d: 'end', form: 'func', name: 'x', macro: 'SYM_FUNC_END' });
  assert.deepEqual(parseDirective('UNWIND_HINT_IRET_REGS offset=8', fail), { d: 'hint', macro: 'UNWIND_HINT_IRET_REGS', type: 'regs_partial', args: 'offset=8' });
  assert.deepEqual(parseDirective('FROB(x)', fail), { d: 'unknown', macro: 'FROB' });
  // Instructions and labels are not directives.
  for (const s of ['movq %rsp, %rbp', 'STP X29, X30, [SP, #-16]!', 'BODY 3', 'ENCODE_FRAME_POINTER', 'f:', '.Lout:']) assert.equal(parseDirective(s, fail), undefined, s);
  assert.throws(() => parseDirective('UNWIND_HINT_BOGUS', fail), /unknown hint/);
  assert.throws(() => parseDirective('SYM_FUNC_START()', fail), /SYM_FUNC_START needs a symbol name/);
  assert.throws(() => parseDirective('SYM_KIND(f)', fail), /SYM_KIND\(name, kind\)/);
});

for (const [arch, isa] of Object.entries(ISAS)) {
  const fn = (name: string) => [`SYM_FUNC_START(${name})`, isa.body, `SYM_FUNC_END(${name})`];

  test(`${arch}: shared annotations set kind and flags on the symbol`, () => {
    const p = isa.run([...fn('f'), ...fn('g'), 'SYM_KIND(f, plt)', 'SYM_ENTRY_POINT(g)', 'STACK_FRAME_NON_STANDARD(f)'].join('\n'));
    const f = p.symbols.find((s) => s.name === 'f')!;
    const g = p.symbols.find((s) => s.name === 'g')!;
    assert.equal(f.kind, 'plt');
    assert.equal(f.nonStandard, true);
    assert.equal(f.entry, undefined);
    assert.equal(g.kind, 'func');
    assert.equal(g.entry, true);
  });

  test(`${arch}: an unknown SYM_KIND names its line`, () => {
    assert.throws(
      () => isa.run([...fn('f'), 'SYM_KIND(f, weird)'].join('\n')),
      (e: Error) => e instanceof AsmError && /^k:4: unknown symbol kind weird: SYM_KIND\(f, weird\)$/.test(e.message),
    );
  });

  test(`${arch}: an unmatched SYM_FUNC_END names its line`, () => {
    assert.throws(
      () => isa.run([...fn('f'), 'SYM_FUNC_END(f)'].join('\n')),
      (e: Error) => e instanceof AsmError && /^k:4: SYM_FUNC_END\(f\) without a matching start: SYM_FUNC_END\(f\)$/.test(e.message),
    );
    assert.throws(() => isa.run(['SYM_FUNC_START(f)', isa.body, 'SYM_CODE_END(g)'].join('\n')), /^Error: k:3: SYM_CODE_END\(g\) without a matching start/);
  });

  test(`${arch}: other shared directive errors`, () => {
    assert.throws(() => isa.run(['SYM_FUNC_START(f)', isa.body, 'SYM_FUNC_START(g)'].join('\n')), /k:3: f is not closed/);
    assert.throws(() => isa.run(['SYM_FUNC_START(f)', isa.body].join('\n')), /^Error: k: f is not closed$/);
    assert.throws(() => isa.run([...fn('f'), 'FROB(f)'].join('\n')), /k:4: unknown directive FROB/);
    assert.throws(() => isa.run([...fn('f'), ...fn('f')].join('\n')), /k:4: duplicate symbol f/);
    assert.throws(() => isa.run([...fn('f'), 'STACK_FRAME_NON_STANDARD(nosuch)'].join('\n')), /k:4: STACK_FRAME_NON_STANDARD names unknown symbol nosuch/);
  });
}

test('arm64 refuses the x86_64-only directive forms', () => {
  const run = ISAS.arm64.run;
  assert.throws(() => run('SYM_FUNC_START(f)\n  RET\nSYM_FUNC_END(f)\nSTACK_FRAME_NON_STANDARD_FP(f)'), /k:4: unknown directive STACK_FRAME_NON_STANDARD_FP/);
  assert.throws(() => run('SYM_CODE_START(f)\n  UNWIND_HINT_IRET_REGS\n  RET\nSYM_CODE_END(f)'), /k:2: UNWIND_HINT_IRET_REGS is not supported on arm64/);
});

test('x86_64 keeps STACK_FRAME_NON_STANDARD_FP apart and attaches hints to the next instruction', () => {
  const p = asmX86([{ region: 'k', base: 0x1000, source: 'SYM_CODE_START(f)\n  UNWIND_HINT_REGS offset=8\n  ret\nSYM_CODE_END(f)\nSTACK_FRAME_NON_STANDARD_FP(f)' }]);
  assert.deepEqual([...p.fpNonStandard], ['f']);
  assert.equal(p.symbols[0]!.nonStandard, undefined);
  assert.deepEqual(p.hints.get(0x1000), { type: 'regs', spOffset: 8, text: 'UNWIND_HINT_REGS offset=8' });
});

test('assembler modules export data properties only (a re-export getter slows the interpreters\' Op/OP loads)', () => {
  for (const mod of [require('../src/isa/arm64/assembler'), require('../src/isa/x86_64/assembler')] as object[]) {
    for (const [k, desc] of Object.entries(Object.getOwnPropertyDescriptors(mod))) assert.equal(desc.get, undefined, `export ${k} is a getter`);
  }
});

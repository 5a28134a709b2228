/**
 * Generated programs (src/generate, issue 13): determinism of the seeded generator, the analyser's
 * acceptance of the generated code, every reference profile conformant on generated scenes of two seeds,
 * faulty mutants caught by them, and shrinking of a mutant's failure to a minimal case that still fails.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyRule } from '../src/conformance/expect';
import { Prng } from '../src/generate/prng';
import { generateProgram } from '../src/generate/program';
import { ALL_GENERATED_CORRUPTIONS, buildCase, caseResults, generatedCase, judgeCase, specOf } from '../src/generate/run';
import { failureOf, shrink } from '../src/generate/shrink';
import { assertFindingsAsDeclared, assertShrunkStillFails } from './generate-helpers';
import { mutantById, mutantProfile } from '../src/mutants/index';
import { builtinProfiles } from '../src/unwinders/profiles';
import { referenceUnwinder } from '../src/unwinders/registry';
import * as arm64Kit from '../src/kernel/arm64/kit';
import * as x86Kit from '../src/kernel/x86_64/kit';

const ARCHES = ['arm64', 'x86_64'] as const;
const PER_SEED = 8;
const SEEDS = [1, 20261201];

test('the PRNG is mulberry32: fixed outputs for a fixed seed on every machine', () => {
  const r = new Prng(42);
  assert.deepEqual([r.u32(), r.u32(), r.u32()], [2581720956, 1925393290, 3661312704]);
});

test('same seed, same program, same moments and same ground truth', () => {
  for (const arch of ARCHES) {
    for (const n of [0, 7]) {
      const a = generatedCase(arch, 5, n);
      const b = generatedCase(arch, 5, n);
      assert.deepEqual(a.program, b.program);
      assert.deepEqual(a.moments, b.moments);
      assert.deepEqual(
        a.scenes.map((s) => [s.scene.snapshot.id, s.scene.truth.frames]),
        b.scenes.map((s) => [s.scene.snapshot.id, s.scene.truth.frames]),
      );
    }
  }
  assert.notDeepEqual(generateProgram(5, 0), generateProgram(6, 0));
  assert.notDeepEqual(generateProgram(5, 0), generateProgram(5, 1));
});

test('generated programs have what the issue asks for, and the analyser flags exactly what the program says it does', () => {
  let tails = 0, frameless = 0, fgraph = 0, kret = 0, deep = 0, recursive = 0;
  const seen = new Set<string>();
  for (let n = 0; n < 60; n++) {
    const q = generateProgram(SEEDS[0]!, n);
    if (q.kthread) seen.add('kthread');
    if (q.functions.length > 30) seen.add('deep spine');
    if (q.functions.some((f) => f.name === 'regscopy_fn')) seen.add('local pt_regs');
    for (const f of q.functions) {
      if (f.placement) seen.add(f.placement);
      if (f.noreturn) seen.add('noreturn');
      if (f.pre) seen.add('shrink-wrapped');
      if (f.lrReg) seen.add('LR in X9');
    }
  }
  assert.deepEqual([...seen].sort(), ['LR in X9', 'bpf', 'deep spine', 'efi', 'kthread', 'local pt_regs', 'module', 'noreturn', 'shrink-wrapped']);
  for (let n = 0; n < PER_SEED; n++) {
    const p = generateProgram(SEEDS[0]!, n);
    tails += p.functions.filter((f) => f.tail).length;
    frameless += p.functions.filter((f) => !f.frame).length;
    fgraph += p.instrument.fgraph.length;
    kret += p.instrument.kretprobe.length;
    if (p.functions.filter((f) => f.name.startsWith('gen_f')).length >= 8) deep++;
    if (p.functions.some((f) => f.steps.some((x) => x.op === 'recurse'))) recursive++;
    for (const arch of ARCHES) assertFindingsAsDeclared(p, arch);
  }
  assert.ok(tails > 0 && frameless > 0 && fgraph > 0 && kret > 0 && deep > 0 && recursive > 0, JSON.stringify({ tails, frameless, fgraph, kret, deep, recursive }));
});

test(`every reference profile is conformant on ${PER_SEED} generated programs per arch, seeds ${SEEDS.join(' and ')}`, () => {
  const lines: string[] = [];
  for (const arch of ARCHES) {
    const profiles = builtinProfiles().filter((p) => p.arch === arch && p.reference);
    assert.ok(profiles.length >= 2, `${arch}: reference profiles`);
    const unwinders = profiles.map((p) => [p, referenceUnwinder(p)] as const);
    const walks: Record<string, { all: number; sound: number }> = {};
    const t0 = performance.now();
    let n0 = 0;
    for (const seed of SEEDS) {
      for (let n = 0; n < PER_SEED; n++) {
        const c = generatedCase(arch, seed, n);
        for (const [p, u] of unwinders) {
          const cj = judgeCase(c, u);
          const w = (walks[p.name] ??= { all: 0, sound: 0 });
          w.all += cj.judgements.length;
          w.sound += cj.judgements.filter((j) => j.outcome === 'sound-reliable').length;
          n0 += cj.judgements.length;
          for (const r of caseResults(p.name, c, cj, 0)) {
            assert.equal(r.status, 'passed', `${p.name} ${r.id} ${r.requirement}: ${r.message}`);
            assert.equal(r.id, `generated-${seed}-${n}`);
          }
        }
      }
    }
    const ms = performance.now() - t0;
    lines.push(`${arch}: ${n0} walks in ${ms.toFixed(0)} ms (${((100 * ms) / n0).toFixed(0)} ms per 100 walks, scene building included); ` + Object.entries(walks).map(([k, v]) => `${k} reliable ${v.sound}/${v.all}`).join(', '));
    // A profile that unwinds nothing generated tests nothing: the metadata unwinders must unwind many walks.
    const useful = arch === 'arm64' ? walks['arm64-meta']! : walks['x86_64-orc']!;
    assert.ok(useful.sound > useful.all / 3, `${arch}: the metadata unwinder is rarely reliable on generated scenes`);
  }
  console.log(lines.join('\n'));
});

test('faulty mutants are caught by generated scenes, and shrinking keeps the failure', async () => {
  for (const [id, arch] of [['arm64-truncate', 'arm64'], ['x86_64-orc-skips-first-frame', 'x86_64'], ['arm64-zero-fp-ends-walk', 'arm64']] as const) {
    const u = referenceUnwinder(mutantProfile(mutantById(id)));
    let caught = 0;
    let first: { c: ReturnType<typeof generatedCase>; f: NonNullable<Awaited<ReturnType<typeof failureOf>>> } | undefined;
    for (let n = 0; n < 10; n++) {
      const c = generatedCase(arch, SEEDS[0]!, n);
      const f = await failureOf(c, u, 'complete-or-unreliable');
      if (f) {
        caught++;
        first ??= { c, f };
      }
    }
    assert.ok(caught > 0 && first, `${id}: no generated scene caught it`);
    const s = await shrink(first.c, u, first.f);
    assertShrunkStillFails(s, u, id);
  }
});

test('an exception moment is a real boundary of the generated code, walked from the handler or preempted', () => {
  const c = generatedCase('arm64', SEEDS[0]!, 3);
  assert.equal(c.moments[0]!.step, undefined, 'the first moment is the task blocked in schedule()');
  const exc = (ms: typeof c.moments) => ms.filter((m) => !m.corrupt).slice(1);
  assert.ok(exc(c.moments).length > 0 && exc(c.moments).every((m) => m.step !== undefined));
  assert.ok(c.scenes.some((s) => /IRQ|NMI/.test(s.scene.moment)));
  // The kits' sweeps visit the same boundaries (the generator samples them).
  const spec = specOf(c.program, {});
  const steps = new Set(arm64Kit.boundaries(spec.workload, spec.instrument).map((b) => b.step));
  assert.ok(exc(c.moments).every((m) => steps.has(m.step!)));
  const x = generatedCase('x86_64', SEEDS[0]!, 3);
  const xs = specOf(x.program, {});
  const xsteps = new Set(x86Kit.boundaries(xs.workload, xs.instrument).map((b) => b.step));
  assert.ok(exc(x.moments).every((m) => xsteps.has(m.step!)));
  // Corruptions are of the blocked task or of the task at one of the exception moments, at depth 1 or more.
  const corrupt = [...c.moments, ...x.moments].filter((m) => m.corrupt);
  assert.ok(corrupt.every((m) => (m.step === undefined || steps.has(m.step) || xsteps.has(m.step)) && (m.corruptDepth ?? 1) >= 1));
});

test('a recursive function is on the blocked task\'s stack once per level, on both arches', () => {
  let checked = 0;
  for (let n = 0; n < 20 && checked < 3; n++) {
    const p = generateProgram(SEEDS[0]!, n);
    const f = p.functions.find((x) => x.steps.some((s) => s.op === 'recurse'));
    if (!f) continue;
    const times = (f.steps.find((s) => s.op === 'recurse') as { times: number }).times;
    for (const arch of ARCHES) {
      const c = buildCase(arch, p, [{}]);
      assert.equal(c.scenes[0]!.scene.truth.frames.filter((x) => x.fn === f.name).length, times + 1, `${arch} ${p.id} ${f.name}`);
    }
    checked++;
  }
  assert.ok(checked > 0);
});

test('conformance --generate N --seed S: options, and the rows a profile gets (ids with the seed, both requirements)', async () => {
  const { parseOptions } = await import('../cli/options');
  const { generateCount, generateSeed, timeBudget } = await import('../cli/generate-options');
  const { generatedResults } = await import('../cli/generated');
  const { builtinProfile } = await import('../src/unwinders/profiles');
  const o = parseOptions(['--generate', '3', '--seed', '9']);
  assert.equal(o.generate, 3);
  assert.equal(o.seed, 9);
  assert.equal(parseOptions([]).generate, undefined);
  assert.throws(() => generateCount('0'));
  assert.throws(() => generateSeed('-1'));
  assert.throws(() => generateSeed('4294967296'));
  const g = await generatedResults(builtinProfile('x86_64-orc'), undefined, 9, 3);
  const core = new Set(['trace-complete-or-nonzero', 'reliable-trace-in-true-order']);
  assert.deepEqual(
    g.results.filter((r) => core.has(r.requirement)).map((r) => `${r.id} ${r.requirement} ${r.level} ${r.status}`),
    [0, 1, 2].flatMap((n) => [`generated-9-${n} trace-complete-or-nonzero must passed`, `generated-9-${n} reliable-trace-in-true-order should passed`]),
  );
  // The same walks, filed under the requirements their scenes are about (corruption, exceptions, tracing).
  const scoped = g.results.filter((r) => !core.has(r.requirement));
  assert.ok(scoped.length > 0 && scoped.every((r) => r.status === 'passed' && (r.level === 'must' || r.requirement === 'corruption-detected-nonzero') && /^generated-9-[012]$/.test(r.id)));
  assert.ok(scoped.some((r) => r.requirement === 'exception-walks-sound' && r.topic === 'interrupts-and-exceptions'));
  assert.ok(g.walks >= 15 && g.walks <= 40, `${g.walks} walks`);
  assert.deepEqual(g.shrunk, []);
  assert.equal(g.programs, 3);
  const only = await generatedResults(builtinProfile('x86_64-orc'), undefined, 9, 3, { requirement: ['trace-complete-or-nonzero'] });
  assert.equal(only.results.length, 3);
  // --time-budget: a prefix of the seed's programs, the same ones whatever the budget.
  assert.equal(parseOptions(['--generate', '5', '--time-budget', '2m']).timeBudget, 120_000);
  assert.equal(parseOptions(['--time-budget', '90s']).generate, 100_000);
  assert.throws(() => timeBudget('soon'));
  const tight = await generatedResults(builtinProfile('x86_64-orc'), undefined, 9, 50, undefined, { budgetMs: 1 });
  assert.ok(tight.budgetSpent && tight.programs < 50 && tight.programs >= 1, `${tight.programs} programs`);
  const noTime = (rs: typeof g.results) => rs.filter((r) => r.id === 'generated-9-0').map(({ durationMs: _d, ...r }) => r);
  assert.deepEqual(noTime(tight.results), noTime(g.results));
});

test('a shrunk failure of a faulty mutant: saved as a replayable snapshot with its seed, printed as a Gherkin example that parses and runs through the generic step', async () => {
  const { GherkinClassicTokenMatcher, Parser, AstBuilder } = await import('@cucumber/gherkin');
  const { IdGenerator } = await import('@cucumber/messages');
  const { ConformanceSession } = await import('../src/conformance/session');
  const { gherkinFeature, saveShrunk, parseSceneDoc } = await import('../src/generate/artifacts');
  const { loadSnapshot } = await import('../src/snapshot/io');
  const { mkdtempSync, readFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  // x86_64-orc-fp-guess unwinds an ip with no ORC data (a BPF program in the chain) by a frame-pointer guess.
  const m = mutantById('x86_64-orc-fp-guess');
  const u = referenceUnwinder(mutantProfile(m));
  const c = generatedCase('x86_64', SEEDS[0]!, 0);
  const f = await failureOf(c, u, 'complete-or-unreliable');
  assert.ok(f, 'seed 1 program 0 catches x86_64-orc-fp-guess');
  const s = await shrink(c, u, f);
  assert.ok(s.to < s.from && s.program.functions.some((x) => x.placement === 'bpf'), JSON.stringify(s.program.functions));
  const dir = mkdtempSync(join(tmpdir(), 'gen-shrunk-'));
  const saved = await saveShrunk(dir, s, mutantProfile(m).name, u);
  assert.equal(saved.judgement.outcome, s.failure.outcome);
  // The snapshot loads as any report snapshot does, its truth file beside it, the spec carries the seed.
  loadSnapshot(JSON.parse(readFileSync(saved.snapshot, 'utf8')), saved.snapshot);
  assert.equal(JSON.parse(readFileSync(saved.truth, 'utf8')).judgement.outcome, s.failure.outcome);
  assert.equal(JSON.parse(readFileSync(saved.spec, 'utf8')).seed, SEEDS[0]);
  // The Gherkin parses, and its one example holds the generic step with the program as a JSON docstring.
  const text = gherkinFeature(s, mutantProfile(m).name);
  assert.equal(readFileSync(saved.feature, 'utf8'), text);
  const doc = new Parser(new AstBuilder(IdGenerator.uuid()), new GherkinClassicTokenMatcher()).parse(text);
  const rule = doc.feature!.children[0]!.rule!;
  assert.deepEqual(rule.tags.map((t) => t.name), ['@req:trace-complete-or-nonzero', '@must']);
  const ex = rule.children[0]!.scenario!;
  // A moment at an instruction step is tied to the arch's image; a blocked task is not.
  const fromHandler = s.moment.step !== undefined && s.moment.walk !== 'preempted';
  assert.deepEqual(ex.tags.map((t) => t.name), [`@id:generated-${s.program.id.replace(/[^\w-]+/g, '-')}`, ...(s.moment.step !== undefined ? ['@arch:x86_64'] : [])]);
  assert.deepEqual(ex.steps.map((x) => x.text), ['the generated kernel program:', fromHandler ? 'a reliable stacktrace is requested from the interrupt handler' : 'a reliable stacktrace is requested for the task', 'the trace is complete or reported unreliable']);
  const docstring = ex.steps[0]!.docString!.content;
  assert.deepEqual(parseSceneDoc(docstring).program, s.program);
  // Run as the steps run it: the mutant fails the example, the reference passes it.
  const run = async (profile: ReturnType<typeof mutantProfile>) => {
    const session = new ConformanceSession({ profile }, { name: ex.name, uri: 'generated.feature', tags: [...rule.tags, ...ex.tags].map((t) => t.name) });
    assert.equal(session.notApplicableReason(), undefined);
    session.useGenerated(docstring);
    await (fromHandler ? session.requestFromHandler() : session.requestForTask());
    try {
      session.expect('complete-or-unreliable');
      return 'passed';
    } catch {
      return 'failed';
    }
  };
  assert.equal(await run(mutantProfile(m)), 'failed');
  assert.equal(await run(builtinProfiles().find((p) => p.name === 'x86_64-orc')!), 'passed');
});

test('every corruption kind of src/kernel/corrupt.ts, module / BPF / EFI frames mid-chain and nested NMIs at IRQ steps appear in generated scenes', () => {
  const kinds = new Set<string>();
  const extra = new Set<string>();
  let cases = 0;
  for (let n = 0; n < 300 && (kinds.size < ALL_GENERATED_CORRUPTIONS.length || extra.size < 5); n++, cases++) {
    const c = generatedCase(n % 2 ? 'x86_64' : 'arm64', 3, n);
    for (const [i, mo] of c.moments.entries()) {
      if (mo.corrupt) kinds.add(mo.corrupt);
      if (mo.nestedAfter) extra.add('nmi at a step of the IRQ');
      if (mo.corrupt && mo.step !== undefined) extra.add('corruption under an exception');
      const frames = c.scenes[i]!.scene.truth.frames;
      for (const f of frames.slice(1)) {
        const fn = c.program.functions.find((x) => x.name === f.fn);
        if (fn?.placement) extra.add(`${fn.placement} frame mid-chain`);
      }
    }
  }
  assert.deepEqual([...ALL_GENERATED_CORRUPTIONS].filter((k) => !kinds.has(k)), [], `after ${cases} cases`);
  assert.deepEqual([...extra].sort(), ['bpf frame mid-chain', 'corruption under an exception', 'efi frame mid-chain', 'module frame mid-chain', 'nmi at a step of the IRQ']);
});

test('an external plugin is judged on generated scenes through the protocol, and its failure is shrunk through it', async () => {
  const { generatedResults } = await import('../cli/generated');
  const { startExternalWalker } = await import('../src/protocol/external-walker');
  const { buildCase, judgeCaseWith } = await import('../src/generate/run');
  const { resolve } = await import('node:path');
  const w = await startExternalWalker(`node ${resolve(__dirname, '..', 'examples', 'faulty-trusts-lr', 'unwinder.js')}`, { validate: true });
  try {
    const g = await generatedResults(w.profile, w, 3, 12);
    assert.ok(g.walks > 60, `${g.walks} walks`);
    assert.ok(g.results.some((r) => r.status === 'failed' && r.profile === 'faulty-trusts-lr'), 'the faulty plugin fails some generated scene');
    assert.ok(g.shrunk.length >= 1, 'its first failure is shrunk');
    // The shrunk program, rebuilt from its spec, still fails the same way when the plugin walks it.
    const spec = JSON.parse(g.shrunk[0]!) as { arch: 'arm64'; program: Parameters<typeof buildCase>[1]; moment: Parameters<typeof buildCase>[2][0]; fails: { rule: Parameters<typeof applyRule>[0]; outcome: string } };
    const j = (await judgeCaseWith(buildCase(spec.arch, spec.program, [spec.moment]), w)).judgements[0]!;
    assert.equal(applyRule(spec.fails.rule, j).pass, false);
    assert.equal(j.outcome, spec.fails.outcome);
  } finally {
    await w.close();
  }
});

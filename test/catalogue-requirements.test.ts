import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { applicability, byId, CATALOGUE_FILE, loadCatalogue } from '../src/catalogue/catalogue';
import { ConditionError, evaluateCondition, parseCondition } from '../src/catalogue/condition';
import { TOPICS } from '../src/catalogue/types';
import { isSpecQuote } from '../src/conformance/spec-text';
import { SchemaError } from '../src/schema/validate';
import { builtinProfile, builtinProfiles } from '../src/unwinders/profiles';

test('the catalogue validates and holds about 35-45 requirements (at most 50) with unique slugs over every topic', () => {
  const reqs = loadCatalogue();
  assert.ok(reqs.length >= 35 && reqs.length <= 50, `${reqs.length} requirements`);
  assert.equal(new Set(reqs.map((r) => r.id)).size, reqs.length);
  for (const t of TOPICS) assert.ok(reqs.some((r) => r.topic === t), `no requirement in topic ${t}`);
  for (const r of reqs) if (r.testability === 'review-only') assert.ok(r.reviewOnlyReason, r.id);
});

test('levels follow the wording of the text we test against (must after review)', () => {
  assert.equal(byId('robust-to-corrupt-unwind-state')!.level, 'must');
  assert.equal(byId('reject-exceptions-when-unidentifiable')!.level, 'must');
  assert.equal(byId('obscured-return-unwound-or-rejected')!.level, 'must');
  assert.equal(byId('termination-verified')!.level, 'should');
  assert.equal(byId('return-to-handler-middle-optional')!.level, 'may');
  assert.match(byId('robust-to-corrupt-unwind-state')!.levelRationale, /Petr Mladek/);
  const sources = new Set(loadCatalogue().map((r) => r.source));
  assert.deepEqual([...sources].sort(), ['cover-letter', 'review-thread', 'spec']);
});

test("quotes of the spec are verbatim (pieces joined by ' [...] ' or ' / ')", () => {
  for (const r of loadCatalogue().filter((q) => q.source === 'spec')) {
    for (const piece of r.quote.split(/ \[\.\.\.\] | \/ /)) assert.ok(isSpecQuote(piece), `${r.id}: "${piece}" is not in the spec`);
  }
});

test('a catalogue that breaks the schema is rejected naming the file and JSON path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cat-'));
  const bad = join(dir, 'requirements.yaml');
  writeFileSync(bad, readFileSync(CATALOGUE_FILE, 'utf8').replace('level: must', 'level: shall'));
  assert.throws(() => loadCatalogue(bad), (e: unknown) => e instanceof SchemaError && e.message.includes(bad) && /\$\[\d+\]\.level/.test(e.message));
  const noReason = join(dir, 'r2.yaml');
  writeFileSync(noReason, readFileSync(CATALOGUE_FILE, 'utf8').replace(/  reviewOnlyReason: >-\n(    .*\n)+/, ''));
  assert.throws(() => loadCatalogue(noReason), /reviewOnlyReason/);
});

test('conditions: claims, arch facts, profile.arch, ! && || and parentheses', () => {
  const fp = builtinProfile('arm64-fp');
  const orc = builtinProfile('x86_64-orc');
  assert.equal(evaluateCondition(undefined, fp), true);
  assert.equal(evaluateCondition('claims.usesCompileTimeAnalysis', fp), true);
  assert.equal(evaluateCondition('!claims.identifiesReliableExceptionUnwind', fp), true);
  assert.equal(evaluateCondition('!claims.identifiesReliableExceptionUnwind', orc), false);
  assert.equal(evaluateCondition('arch.hasLinkRegister && !claims.identifiesReliableExceptionUnwind', fp), true);
  assert.equal(evaluateCondition('arch.hasLinkRegister && !claims.identifiesReliableExceptionUnwind', orc), false);
  assert.equal(evaluateCondition("profile.arch == 'x86_64' || (claims.unwindsAcrossNmi && false)", orc), true);
  assert.equal(evaluateCondition("profile.arch != 'x86_64'", orc), false);
  assert.equal(evaluateCondition('!(claims.unwindsAcrossIrq || claims.unwindsAcrossNmi)', fp), true);
});

test('a profile is not excused from a SHOULD by not claiming the behaviour it asks for', () => {
  const base = builtinProfile('arm64-meta');
  const p = { ...base, name: 'dodger', claims: { ...base.claims, unwindsAcrossIrq: false, checksTermination: false, recoversFgraphReturns: false } };
  for (const id of ['unwind-exceptions-when-identifiable', 'unwind-through-exceptions-if-able', 'termination-verified', 'unwind-before-return-to-handler', 'unwind-hint-end-of-stack-terminates']) {
    assert.equal(applicability(byId(id)!, p).applies, true, id);
  }
  // Ability, not the claimed behaviour, decides: an unwinder that cannot identify reliable exception unwinds is not asked to.
  const fp = builtinProfile('arm64-fp');
  assert.equal(applicability(byId('unwind-exceptions-when-identifiable')!, fp).applies, false);
  assert.equal(applicability(byId('unwind-through-exceptions-if-able')!, fp).applies, false);
});

test('condition parse errors name the requirement', () => {
  assert.throws(() => parseCondition('claims.flies', 'requirement x'), (e: unknown) => e instanceof ConditionError && /requirement x/.test(e.message) && /unknown claim "flies"/.test(e.message));
  assert.throws(() => parseCondition('claims.unwindsAcrossIrq &&', 'req-y'), /req-y.*unexpected end/);
  assert.throws(() => parseCondition('(arch.hasLinkRegister', 'req-z'), /req-z.*missing "\)"/);
  assert.throws(() => parseCondition('process.exit()', 'req-w'), /req-w/);
  assert.throws(() => parseCondition("profile.arch == 'mips'", 'req-v'), /unknown arch 'mips'/);
});

test('every catalogue condition evaluates for every built-in profile, and applicability explains itself', () => {
  for (const p of builtinProfiles()) {
    for (const r of loadCatalogue()) {
      const a = applicability(r, p);
      if (!a.applies) assert.match(a.reason, new RegExp(r.id));
    }
  }
  const lr = byId('lr-reject-unless-identifiable')!;
  assert.equal(applicability(lr, builtinProfile('arm64-fp')).applies, true);
  // A claim of identification selects the exact rule; it no longer switches the MUST off (issue 9).
  assert.equal(applicability(lr, builtinProfile('arm64-meta')).applies, true);
  assert.equal(applicability(lr, builtinProfile('x86_64-fp')).applies, false);
});

const THREAD = join(__dirname, '..', '..', 'shared', 'spec', 'review-thread.txt');
test('quotes of the cover letter and review thread are verbatim (when the thread is at hand)', { skip: !existsSync(THREAD) }, () => {
  // Strip mail quoting ("> ", "+") and the diff/pipe prefixes, then compare whitespace-insensitively.
  const text = readFileSync(THREAD, 'utf8')
    .split('\n')
    .map((l) => l.replace(/^[>+ ]*\s?/, '').replace(/^\| ?/, ''))
    .join(' ')
    .replace(/\s+/g, ' ');
  for (const r of loadCatalogue().filter((q) => q.source !== 'spec')) {
    for (const piece of r.quote.split(/ \[\.\.\.\] | \/ /)) assert.ok(text.includes(piece.replace(/\s+/g, ' ').trim()), `${r.id}: "${piece}" is not in the thread`);
  }
});

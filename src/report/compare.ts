/**
 * Comparing runs: expectations (known failures, WPT-style) against this run, and one run against
 * another (port v2 vs v3). Both work on conformance records, per profile, by requirement and scenario.
 */
import { readdirSync, existsSync, readFileSync } from 'fs';
import { join } from 'path';
import { assertValid, SchemaError } from '../schema/validate';
import { esc, htmlTable, page } from './html';
import { validateConformance } from './write';
import type { Conformance } from './verdict';

/** Known failures: per profile, the failing requirement and scenario ids. */
export interface Expectations {
  version: 1;
  profiles: Record<string, { requirements: string[]; scenarios: string[] }>;
}

const isBad = (o: string) => o === 'failed' || o === 'errored';

export function failuresOf(c: Conformance): { requirements: string[]; scenarios: string[] } {
  return {
    requirements: c.requirements.filter((r) => isBad(r.outcome)).map((r) => r.id).sort(),
    scenarios: c.scenarios.filter((s) => isBad(s.status)).map((s) => s.id).sort(),
  };
}

export function expectationsFrom(cs: readonly Conformance[]): Expectations {
  return { version: 1, profiles: Object.fromEntries(cs.map((c) => [c.profile.name, failuresOf(c)])) };
}

export function loadExpectations(file: string): Expectations {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new SchemaError(file, [{ path: '$', message: (e as Error).message }]);
  }
  return assertValid<Expectations>('expectations', data, file);
}

export interface ExpectationCheck {
  profile: string;
  /** Failing now, not expected: regressions. */
  newFailures: string[];
  /** Expected to fail, passing (or no longer failing) now. */
  fixed: string[];
  /** Expected to fail and still failing. */
  unchanged: string[];
}

/** Each profile's failures against the expectations ("requirement X" / "scenario Y"). */
export function checkExpectations(cs: readonly Conformance[], e: Expectations): ExpectationCheck[] {
  return cs.map((c) => {
    const now = failuresOf(c);
    const want = e.profiles[c.profile.name] ?? { requirements: [], scenarios: [] };
    const tag = (kind: string, ids: string[]) => ids.map((i) => `${kind} ${i}`);
    const cur = new Set([...tag('requirement', now.requirements), ...tag('scenario', now.scenarios)]);
    const exp = new Set([...tag('requirement', want.requirements), ...tag('scenario', want.scenarios)]);
    return {
      profile: c.profile.name,
      newFailures: [...cur].filter((x) => !exp.has(x)),
      fixed: [...exp].filter((x) => !cur.has(x)),
      unchanged: [...cur].filter((x) => exp.has(x)),
    };
  });
}

export const regressed = (checks: readonly ExpectationCheck[]): boolean => checks.some((c) => c.newFailures.length > 0);

export function expectationsText(checks: readonly ExpectationCheck[]): string {
  return checks
    .map((c) => {
      const list = (what: string, xs: string[]) => (xs.length ? `\n  ${what} (${xs.length}):\n${xs.map((x) => `    ${x}`).join('\n')}` : '');
      return `${c.profile}: ${c.newFailures.length} new failure(s), ${c.fixed.length} fixed, ${c.unchanged.length} unchanged` + list('NEW', c.newFailures) + list('fixed', c.fixed);
    })
    .join('\n');
}

/** Every conformance record under a run's output folder, by profile name. */
export function readRun(dir: string): Map<string, Conformance> {
  if (!existsSync(dir)) throw new Error(`${dir}: no such run folder`);
  const out = new Map<string, Conformance>();
  for (const name of readdirSync(dir)) {
    const f = join(dir, name, 'conformance.json');
    if (!existsSync(f)) continue;
    const c = validateConformance(JSON.parse(readFileSync(f, 'utf8')), f);
    out.set(c.profile.name, c);
  }
  if (!out.size) throw new Error(`${dir}: no <profile>/conformance.json in it (is it an --out folder of npm run conformance?)`);
  return out;
}

export interface Change {
  profile: string;
  kind: 'verdict' | 'requirement' | 'scenario' | 'profile';
  id: string;
  before: string;
  after: string;
  /** Better, worse, or just different (e.g. not-applicable after a claim changed). */
  direction: 'better' | 'worse' | 'changed';
}

const RANK: Record<string, number> = {
  conformant: 0, 'conformant-with-warnings': 1, incomplete: 2, 'not-conformant': 3,
  passed: 0, 'not-run': 1, skipped: 1, undefined: 2, errored: 3, failed: 3,
};
const direction = (a: string, b: string): Change['direction'] => {
  const x = RANK[a];
  const y = RANK[b];
  return x === undefined || y === undefined ? 'changed' : y < x ? 'better' : y > x ? 'worse' : 'changed';
};

/** What changed from run A to run B, profile by profile. */
export function diffRuns(a: Map<string, Conformance>, b: Map<string, Conformance>): Change[] {
  const out: Change[] = [];
  for (const name of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(name);
    const y = b.get(name);
    if (!x || !y) {
      out.push({ profile: name, kind: 'profile', id: name, before: x ? 'present' : 'absent', after: y ? 'present' : 'absent', direction: 'changed' });
      continue;
    }
    if (x.verdict !== y.verdict) out.push({ profile: name, kind: 'verdict', id: name, before: x.verdict, after: y.verdict, direction: direction(x.verdict, y.verdict) });
    const pairs = <T extends { id: string }>(xs: T[], ys: T[], val: (t: T) => string, kind: Change['kind']) => {
      const ym = new Map(ys.map((t) => [t.id, t]));
      const xm = new Map(xs.map((t) => [t.id, t]));
      for (const id of new Set([...xm.keys(), ...ym.keys()])) {
        const before = xm.has(id) ? val(xm.get(id)!) : 'absent';
        const after = ym.has(id) ? val(ym.get(id)!) : 'absent';
        if (before !== after) out.push({ profile: name, kind, id, before, after, direction: direction(before, after) });
      }
    };
    pairs(x.requirements, y.requirements, (r) => r.outcome, 'requirement');
    pairs(x.scenarios, y.scenarios, (s) => s.status, 'scenario');
  }
  return out;
}

export function diffText(changes: readonly Change[]): string {
  if (!changes.length) return 'no differences';
  const mark = { better: '+', worse: '-', changed: '~' } as const;
  return changes.map((c) => `${mark[c.direction]} ${c.profile}: ${c.kind} ${c.id}: ${c.before} -> ${c.after}`).join('\n');
}

export function diffHtml(a: string, b: string, changes: readonly Change[]): string {
  const body =
    `<h1>Changes from ${esc(a)} to ${esc(b)}</h1>` +
    `<p>${changes.filter((c) => c.direction === 'worse').length} worse, ${changes.filter((c) => c.direction === 'better').length} better, ${changes.filter((c) => c.direction === 'changed').length} otherwise changed.</p>` +
    htmlTable(
      ['profile', 'what', 'id', 'before', 'after'],
      changes.map((c) => [esc(c.profile), esc(c.kind), `<code>${esc(c.id)}</code>`, esc(c.before), esc(c.after)]),
      (r) => (changes[r]!.direction === 'worse' ? 'o-failed' : changes[r]!.direction === 'better' ? 'o-passed' : undefined),
    );
  return page(`Changes from ${a} to ${b}`, body);
}

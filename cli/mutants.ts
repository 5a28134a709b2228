/**
 * `npm run mutants`: run the whole suite once per mutant of src/mutants (in process, through the
 * same runProfile() as `npm run conformance`), and check the suite catches every faulty mutant on
 * the requirement it names and fails no MUST of a correct one.
 *
 *   npm run mutants                       # every mutant, one after the other
 *   npm run mutants -- --jobs 2           # two worker processes, each running half of them
 *   npm run mutants -- --only arm64-loop x86_64-overclaim
 *   npm run mutants -- --json out.json    # the table as JSON too
 *
 * Exits 0 only when every faulty mutant is caught on its named requirement and no correct one
 * fails a MUST.
 */
import { spawn } from 'child_process';
import { SingleBar, Presets } from 'cli-progress';
import { Command, InvalidArgumentError, Option } from 'commander';
import { mkdirSync, writeFileSync } from 'fs';
import { join, resolve } from 'path';
import { createInterface } from 'readline';
import type { ISupportCodeLibrary } from '@cucumber/cucumber/api';
import { buildConformance, type Conformance } from '../src/report/verdict';
import { loadCatalogueView } from '../src/report/catalogue-view';
import { CATALOGUE, mutantProfile, type MutantEntry } from '../src/mutants';
import { closeAllWalkers } from '../src/conformance/session';
import { ROOT, runProfile } from './conformance';
import type { CliOptions } from './options';
import { setSceneSharing } from '../src/scene';
import type { Arch } from '../src/snapshot/types';

/** What one mutant's run came to. */
export interface MutantOutcome {
  id: string;
  arch: string;
  base: string;
  kind: 'faulty' | 'correct';
  requirement?: string;
  commit?: string;
  verdict: Conformance['verdict'];
  /** Requirements whose outcome is failed / errored, worst level first ("MUST x"), and section-2 MUSTs broken in other scenarios. */
  caughtBy: string[];
  /** Faulty: the named requirement failed (or, for a section-2 MUST, was broken in a scenario filed elsewhere). */
  caughtOnNamed: boolean;
  /** Correct: MUST requirements that failed, and section-2 breaches. */
  mustFailures: string[];
  /** The expectation holds: faulty caught on its named requirement, or correct with no MUST failure. */
  ok: boolean;
  /** The named requirement's note (why it failed, or why it passed / was not applicable). */
  namedNote?: string;
  namedOutcome?: string;
  /** The catalogue's explanation of why this faulty mutant is not caught today, if it says so. */
  knownGap?: string;
  seconds: number;
}

const BAD = new Set(['failed', 'errored']);

/** Judge one mutant's conformance against its catalogue entry. */
export function judgeMutant(m: MutantEntry, c: Conformance, seconds: number): MutantOutcome {
  const failed = c.requirements.filter((r) => BAD.has(r.outcome));
  const order = { must: 0, should: 1, may: 2 } as const;
  failed.sort((a, b) => order[a.level] - order[b.level]);
  const breachIds = new Set<string>();
  for (const line of c.reasons) {
    const b = /^MUST (\S+) broken in /.exec(line);
    if (b) breachIds.add(b[1]!);
  }
  const caughtBy = [...failed.map((r) => `${r.level.toUpperCase()} ${r.id}`), ...[...breachIds].filter((id) => !failed.some((r) => r.id === id)).map((id) => `MUST ${id} (breach)`)];
  const named = m.requirement ? c.requirements.find((r) => r.id === m.requirement) : undefined;
  const caughtOnNamed = !!m.requirement && ((named !== undefined && BAD.has(named.outcome)) || breachIds.has(m.requirement));
  const mustFailures = [...failed.filter((r) => r.level === 'must').map((r) => r.id), ...[...breachIds].filter((id) => !failed.some((r) => r.id === id))];
  const ok = m.kind === 'faulty' ? caughtOnNamed : mustFailures.length === 0 && c.verdict !== 'not-conformant';
  return {
    id: m.id,
    arch: m.arch,
    base: m.base,
    kind: m.kind,
    ...(m.requirement ? { requirement: m.requirement } : {}),
    ...(m.commit ? { commit: m.commit } : {}),
    verdict: c.verdict,
    caughtBy,
    caughtOnNamed,
    mustFailures,
    ok,
    ...(named ? { namedOutcome: named.outcome } : {}),
    ...(named?.note ? { namedNote: named.note.split('\n')[0] } : {}),
    ...(m.knownGap ? { knownGap: m.knownGap } : {}),
    seconds,
  };
}

const pad = (s: string, n: number) => s + ' '.repeat(Math.max(0, n - s.length));

export function outcomeTable(rows: readonly MutantOutcome[]): string {
  const head = ['mutant', 'expected', 'verdict', 'caught by', 'named requirement', 'ok'];
  const body = rows.map((r) => [
    r.id,
    r.kind,
    r.verdict,
    r.caughtBy.length ? r.caughtBy.slice(0, 4).join(', ') + (r.caughtBy.length > 4 ? `, +${r.caughtBy.length - 4}` : '') : '-',
    r.kind === 'faulty' ? `${r.requirement}: ${r.caughtOnNamed ? 'CAUGHT' : `ESCAPED (${r.namedOutcome ?? '?'}${r.knownGap ? ', known gap' : ''})`}` : r.mustFailures.length ? `MUST failures: ${r.mustFailures.join(', ')}` : 'no MUST failure',
    r.ok ? 'yes' : 'NO',
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => pad(x, w[i]!)).join('  ').trimEnd();
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...body.map(line)].join('\n');
}

/** The catalogue table of docs/mutants.md, with what this run caught. */
export function markdownTable(rows: readonly MutantOutcome[]): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const lines = ['| id | arch | base | kind | what it does | named requirement | kernel fix modelled | caught |', '|---|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    const m = CATALOGUE.find((x) => x.id === r.id)!;
    const fix = m.commit ? `\`${m.commit.split(' ')[0]}\` ${m.commit.slice(m.commit.indexOf(' ') + 1)}` : '';
    const others = r.caughtBy.filter((c) => !c.endsWith(` ${r.requirement}`) && !c.includes(` ${r.requirement} `));
    const caught =
      r.kind === 'faulty'
        ? `${r.caughtOnNamed ? 'yes' : '**no** on the named requirement'}${others.length ? `; also ${others.slice(0, 3).join(', ')}${others.length > 3 ? ', ...' : ''}` : ''}`
        : r.mustFailures.length
          ? `**MUST failures**: ${r.mustFailures.join(', ')}`
          : `no MUST failure (${r.verdict})`;
    lines.push(`| \`${r.id}\` | ${r.arch} | ${r.base} | ${r.kind} | ${cell(m.description)} | ${r.requirement ? `\`${r.requirement}\`` : '-'} | ${cell(fix)} | ${cell(caught)} |`);
  }
  return lines.join('\n') + '\n\n' + scoreLine(rows).text + '\n';
}

export function scoreLine(rows: readonly MutantOutcome[]): { text: string; perfect: boolean } {
  const faulty = rows.filter((r) => r.kind === 'faulty');
  const correct = rows.filter((r) => r.kind === 'correct');
  const fc = faulty.filter((r) => r.ok).length;
  const cc = correct.filter((r) => r.ok).length;
  const pct = (a: number, b: number) => (b ? `${((100 * a) / b).toFixed(0)}%` : 'n/a');
  return {
    text: `score: faulty caught on named requirement: ${fc}/${faulty.length} (${pct(fc, faulty.length)}); correct with 0 MUST failures: ${cc}/${correct.length} (${pct(cc, correct.length)})`,
    perfect: fc === faulty.length && cc === correct.length,
  };
}

interface MutantsOptions {
  only?: string[];
  jobs: number;
  out: string;
  json?: string;
  markdown?: string;
  shard?: string;
  quiet: boolean;
  fullReports: boolean;
  namedOnly: boolean;
}

function program(): Command {
  const jobs = (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive whole number');
    return n;
  };
  return new Command('mutants')
    .description('Run the conformance suite once per mutant unwinder (src/mutants) and score the verdicts: every faulty mutant must be caught on its named requirement, no correct one may fail a MUST.')
    .option('--only <id...>', 'run only these mutants')
    .option('--jobs <n>', 'worker processes (each runs a share of the mutants in process)', jobs, 1)
    .option('--out <dir>', 'report folder (one sub-folder per mutant profile)', '/tmp/mutants-reports')
    .option('--json <file>', 'also write the outcomes as JSON')
    .option('--markdown <file>', 'also write the catalogue table with this run\'s catches (as in docs/mutants.md)')
    .option('--quiet', 'no progress display', false)
    .option('--full-reports', 'keep snapshots, stack dumps and Cucumber message files of failing walks in each mutant\'s report (default: verdicts only)', false)
    .option('--named-only', 'run each faulty mutant on the scenarios of its named requirement first, and on everything only when that does not catch it (the same score; "caught by" then lists less)', false)
    .addOption(new Option('--shard <i/n>', 'worker: run every n-th mutant from i (internal)').hideHelp())
    .showHelpAfterError();
}

/** Run mutants in this process, one after the other, calling `done` after each. */
export async function runMutants(list: readonly MutantEntry[], out: string, done: (r: MutantOutcome) => void, how: Pick<MutantsOptions, 'fullReports' | 'namedOnly'> = { fullReports: false, namedOnly: false }): Promise<MutantOutcome[]> {
  const cat = loadCatalogueView();
  const base: CliOptions = { out, html: false, quiet: true, validateProtocol: false, lean: !how.fullReports };
  // Mutants of one arch share one build of each scene.
  const perArch = new Map<string, number>();
  for (const m of list) perArch.set(mutantProfile(m).arch, (perArch.get(mutantProfile(m).arch) ?? 0) + 1);
  setSceneSharing([...perArch].filter(([, n]) => n > 1).map(([a]) => a as Arch));
  let support: ISupportCodeLibrary | undefined;
  const rows: MutantOutcome[] = [];
  // One arch after another: the scene cache keeps only the arch in use.
  for (const m of archGroups(list).flat()) {
    const t0 = Date.now();
    const profile = mutantProfile(m);
    const dir = join(out, profile.name);
    const judge = async (o: CliOptions): Promise<MutantOutcome> => {
      const r = await runProfile({ profile }, dir, out, o, cat, support, undefined);
      support = r.support;
      const c = buildConformance({ profile, requirements: cat.requirements, results: r.results, ...(cat.applies ? { applies: cat.applies } : {}) });
      writeFileSync(join(dir, 'conformance.json'), JSON.stringify(c, null, 1));
      return judgeMutant(m, c, (Date.now() - t0) / 1000);
    };
    // Named only: a requirement failed on its own scenarios is failed whatever else runs; one that is not
    // (a section-2 MUST can also be broken by other scenarios' walks) is judged again on everything.
    let row = how.namedOnly && m.requirement ? await judge({ ...base, requirement: [m.requirement] }) : undefined;
    if (!row?.caughtOnNamed) row = await judge(base);
    rows.push(row);
    done(row);
  }
  await closeAllWalkers();
  return rows;
}

/** `list` by arch, in the order arches first appear (each group in list order). */
function archGroups(list: readonly MutantEntry[]): MutantEntry[][] {
  const groups = new Map<Arch, MutantEntry[]>();
  for (const m of list) {
    const a = mutantProfile(m).arch;
    groups.set(a, [...(groups.get(a) ?? []), m]);
  }
  return [...groups.values()];
}

/** Shard `i` of `n`: whole arches (each builds its scenes once), the largest first to the least loaded shard. */
export function shardOf(list: readonly MutantEntry[], i: number, n: number): MutantEntry[] {
  const shards: MutantEntry[][] = Array.from({ length: n }, () => []);
  const groups = archGroups(list).sort((a, b) => b.length - a.length);
  for (const g of groups) shards.reduce((least, s) => (s.length < least.length ? s : least)).push(...g);
  return shards[i] ?? [];
}

/** Run the mutants in `jobs` worker processes (each a `--shard`), collecting their NDJSON lines. */
async function runSharded(list: readonly MutantEntry[], o: MutantsOptions, done: (r: MutantOutcome) => void): Promise<MutantOutcome[]> {
  const rows: MutantOutcome[] = [];
  const only = list.map((m) => m.id);
  await Promise.all(
    Array.from({ length: o.jobs }, (_, i) =>
      new Promise<void>((res, rej) => {
        // A shard runs with this process's V8 flags (the young generation size of package.json).
        const child = spawn(process.execPath, [...process.execArgv.filter((a) => a.startsWith('--max-semi-space-size')), '-r', join(ROOT, 'scripts', 'ts-register.js'), join(ROOT, 'cli', 'mutants.ts'), '--shard', `${i}/${o.jobs}`, '--out', o.out, '--quiet', ...(o.fullReports ? ['--full-reports'] : []), ...(o.namedOnly ? ['--named-only'] : []), '--only', ...only], {
          cwd: ROOT,
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        createInterface({ input: child.stdout }).on('line', (l) => {
          if (!l.startsWith('{')) return;
          const r = JSON.parse(l) as MutantOutcome;
          rows.push(r);
          done(r);
        });
        child.on('error', rej);
        child.on('close', (code) => (code === 0 ? res() : rej(new Error(`mutants worker ${i} exited with ${code}`))));
      }),
    ),
  );
  return rows;
}

export async function main(argv: readonly string[]): Promise<number> {
  const p = program();
  p.parse([...argv], { from: 'user' });
  const o = p.opts<MutantsOptions>();
  o.out = resolve(o.out);
  mkdirSync(o.out, { recursive: true });
  let list = o.only?.length ? o.only.map((id) => CATALOGUE.find((m) => m.id === id) ?? (() => { throw new Error(`no mutant ${id}`); })()) : [...CATALOGUE];

  if (o.shard) {
    // Worker: one JSON line per mutant on stdout, read by the parent.
    const [i, n] = o.shard.split('/').map(Number) as [number, number];
    list = shardOf(list, i, n);
    await runMutants(list, o.out, (r) => process.stdout.write(JSON.stringify(r) + '\n'), o);
    return 0;
  }

  const t0 = Date.now();
  const tty = !o.quiet && process.stdout.isTTY;
  const bar = tty ? new SingleBar({ format: 'mutants {bar} {value}/{total} {last}', hideCursor: true, clearOnComplete: true, stream: process.stdout }, Presets.shades_classic) : undefined;
  bar?.start(list.length, 0, { last: '' });
  let n = 0;
  const done = (r: MutantOutcome) => {
    n++;
    if (bar) bar.update(n, { last: `${r.id}: ${r.ok ? 'ok' : 'NOT OK'}` });
    else if (!o.quiet) process.stderr.write(`[${n}/${list.length}] ${r.id}: ${r.verdict}${r.ok ? '' : ' (NOT OK)'} ${r.seconds.toFixed(1)} s\n`);
  };
  const rows = o.jobs > 1 ? await runSharded(list, o, done) : await runMutants(list, o.out, done, o);
  bar?.stop();
  const byId = new Map(rows.map((r) => [r.id, r]));
  const ordered = list.map((m) => byId.get(m.id)!).filter(Boolean);
  const score = scoreLine(ordered);
  process.stdout.write(outcomeTable(ordered) + '\n');
  const escapes = ordered.filter((r) => r.kind === 'faulty' && !r.ok);
  if (escapes.length) {
    process.stdout.write('\nfaulty mutants not caught on their named requirement:\n');
    for (const r of escapes) process.stdout.write(`- ${r.id} (${r.requirement}: ${r.namedOutcome ?? '?'}): ${r.knownGap ?? 'NOT a known gap: a regression of the suite, or a new mutant'}\n`);
  }
  const wrong = ordered.filter((r) => r.kind === 'correct' && !r.ok);
  for (const r of wrong) process.stdout.write(`- correct mutant ${r.id} fails MUST ${r.mustFailures.join(', ')}\n`);
  process.stdout.write('\n' + score.text + '\n');
  process.stdout.write(`${ordered.length} mutants in ${((Date.now() - t0) / 1000).toFixed(0)} s; reports in ${o.out}/mutant-<id>/\n`);
  if (o.json) writeFileSync(resolve(o.json), JSON.stringify({ score: score.text, outcomes: ordered }, null, 1));
  if (o.markdown) writeFileSync(resolve(o.markdown), markdownTable(ordered));
  return score.perfect ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`mutants: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(2);
    },
  );
}

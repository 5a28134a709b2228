/** Command-line options of `npm run conformance` (commander), and the Cucumber tag expression they select. */
import parseTagExpression from '@cucumber/tag-expressions';
import { Command, InvalidArgumentError, Option } from 'commander';
import { generateCount, generateSeed, timeBudget } from './generate-options';
import { availableParallelism } from 'os';

export interface CliOptions {
  profile?: string[];
  profileFile?: string[];
  requirement?: string[];
  topic?: string[];
  tags?: string;
  out: string;
  unwinder?: string;
  /** A Linux checkout whose own unwinder is built against kernel-shim/ and judged as an external unwinder. */
  kernelTree?: string;
  kernelArch?: string;
  validateProtocol: boolean;
  walkTimeout?: number;
  html: boolean;
  quiet: boolean;
  /** Mutant scoring: verdicts only, no snapshots, stack dumps or Cucumber message files. */
  lean?: boolean;
  /** Known failures: the run fails only on new ones. */
  expectations?: string;
  /** Write this run's failures as an expectations file. */
  writeExpectations?: string;
  /** Generated programs per arch (src/generate), judged after the features; with `seed`. */
  generate?: number;
  seed?: number;
  /** Worker threads judging profiles in parallel (1: all in the main thread). */
  jobs?: number;
  /** --time-budget in ms: generated programs stop being built when it is spent (split evenly between the arches run). */
  timeBudget?: number;
  /** Set by the run: how many arches its profiles have (--time-budget is split between them). */
  runArches?: number;
  /** Hidden, for tests: a Cucumber configuration file other than ./cucumber.js. */
  cucumberConfig?: string;
}

/** The longest delay a Node timer keeps (2^31-1 ms, about 24.8 days): a larger one fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A whole number of milliseconds in 1 … 2^31-1 (every numeric option is range-checked: a usage error, exit 2). */
export const positiveMs = (v: string): number => {
  const n = /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n <= 0 || n > MAX_TIMER_MS) throw new InvalidArgumentError(`expected a whole number of milliseconds from 1 to ${MAX_TIMER_MS}`);
  return n;
};

const jobCount = (v: string): number => {
  const n = /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError('expected a whole number from 1 to 64');
  return n;
};

export function buildProgram(): Command {
  return new Command('conformance')
    .description(
      'Judge reliable stack unwinders (arch_stack_walk_reliable) against the reliable-stacktrace spec on the simulated machine.\n' +
        'Without options: every profile in profiles/, all features; reports in reports/.\n' +
          'Exit status: 0 when every judged profile is conformant (warnings allowed) or, with --expectations, when nothing\n' +
          'regressed; 1 otherwise; 2 for a usage error.',
    )
    .option('--profile <name...>', 'run only these built-in profiles (names of files in profiles/, e.g. arm64-fp x86_64-orc)')
    .option('--profile-file <path...>', 'run a profile JSON of your own (validated against schemas/profile.schema.json); may be repeated')
    .option('--requirement <id...>', 'run only the scenarios of these requirements (catalogue slugs, matched against @req: tags)')
    .option('--topic <topic...>', 'run only these topics (e.g. interrupts-and-exceptions; matched against @topic: tags)')
    .option('--tags <expr>', 'a Cucumber tag expression, and-ed with the filters above (e.g. "@req:x and not @sweep")')
    .option('--out <dir>', 'report folder: one sub-folder per profile, cross-profile reports at the top', 'reports')
    .option('--unwinder <command line>', 'judge an external unwinder through the NDJSON plugin protocol; its profile comes from its start answer, and reports go under its name')
    .option('--kernel-tree <linux checkout>', "build the checkout's own unwinder (arm64: arch/arm64/kernel/stacktrace.c; x86_64: unwind_orc.c, stacktrace.c, dumpstack_64.c) unmodified against kernel-shim/ and judge it (see docs/maintainers.md, \"Judge your kernel tree\")")
    .addOption(new Option('--kernel-arch <arch>', 'with --kernel-tree: which arch to build when the checkout has both').choices(['arm64', 'x86_64']))
    .option('--validate-protocol', 'check every plugin protocol message against its schema while running (with --unwinder)', false)
    .addOption(new Option('--walk-timeout <ms>', 'time allowed for one walk of an external unwinder before it is judged runaway').argParser(positiveMs))
    .addOption(new Option('--generate <n>', 'also judge N generated programs per arch (random call chains with tail calls, recursion, frameless leaves, fgraph/kretprobes; blocked, IRQ/NMI and corrupted-stack moments), filed as generated-<seed>-<n> under trace-complete-or-nonzero and reliable-trace-in-true-order (docs/generate.md)').argParser(generateCount))
    .addOption(new Option('--time-budget <duration>', 'with --generate: stop building generated programs when this much time is spent (60s, 10m, 1h; split between the arches run); the programs judged are the first ones of the seed, the same on any machine; alone, it implies --generate 100000').argParser(timeBudget))
    .addOption(new Option('--seed <s>', 'seed of --generate: the same seed gives the same programs on any machine').argParser(generateSeed).default(1))
    .addOption(new Option('--jobs <n>', 'judge profiles in parallel in this many worker threads (profiles of one arch stay together, sharing scene builds); 1 runs all in one thread').argParser(jobCount).default(Math.min(availableParallelism(), 8)))
    .option('--no-html', 'skip the HTML reports and the Allure report (JSON, Markdown, JUnit and messages are still written)')
    .option('--quiet', 'no progress bar and no Cucumber output; only the summary table', false)
    .option('--expectations <file>', 'known failures (schemas/expectations.schema.json): report new, fixed and unchanged failures; exit 1 only on new ones')
    .option('--write-expectations <file>', "write this run's failures as an expectations file")
    .addOption(new Option('--cucumber-config <file>', 'Cucumber configuration file (tests only)').hideHelp())
    .showHelpAfterError();
}

/** Parse the command line; a bad one exits 2 (commander prints the error and the help). */
export function parseOptions(argv: readonly string[]): CliOptions {
  const p = buildProgram().exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : 2));
  p.parse([...argv], { from: 'user' });
  const o = p.opts<CliOptions>();
  // A time budget alone: as many generated programs as it allows.
  if (o.timeBudget !== undefined && o.generate === undefined) o.generate = 100_000;
  return o;
}

/** A command line that cannot run: `npm run conformance` exits 2 with this message. */
export class UsageError extends Error {}

/**
 * Check the filters against what exists before anything runs: every requirement and topic named is
 * known, the tag expression parses, and together they select at least one scenario.
 */
export function checkFilters(o: Pick<CliOptions, 'requirement' | 'topic' | 'tags'>, known: { requirements: string[]; topics: string[] }, scenarioTags: string[][] | (() => string[][])): void {
  const unknown = (what: string, asked: string[] | undefined, have: string[]) => {
    const bad = (asked ?? []).filter((a) => !have.includes(a));
    if (bad.length) throw new UsageError(`unknown ${what} ${bad.join(', ')}; known ${what}s:\n  ${[...have].sort().join('\n  ')}`);
  };
  unknown('requirement', o.requirement, known.requirements);
  unknown('topic', o.topic, known.topics);
  const expr = tagExpression(o);
  if (!expr) return;
  let node: { evaluate(tags: string[]): boolean };
  try {
    node = parseTagExpression(expr);
  } catch (e) {
    throw new UsageError(`--tags: ${(e as Error).message.replace(/^Tag expression "(.*)" could not be parsed because of syntax error: /, 'cannot parse "$1": ')}`);
  }
  // The features are parsed only when a filter needs checking.
  const tags = typeof scenarioTags === 'function' ? scenarioTags() : scenarioTags;
  if (!tags.some((t) => node.evaluate(t))) {
    const used = [...new Set(tags.flat())].filter((t) => !/^@(id|req|topic):/.test(t)).sort();
    throw new UsageError(`the filter ${expr} selects no scenario (other tags in use: ${used.join(' ')})`);
  }
}

/** The filters as one Cucumber tag expression over @req: / @topic: tags ('' = everything). */
export function tagExpression(o: Pick<CliOptions, 'requirement' | 'topic' | 'tags'>): string {
  const any = (key: string, vals?: string[]) => (vals?.length ? `(${vals.map((v) => `@${key}:${v}`).join(' or ')})` : undefined);
  return [any('req', o.requirement), any('topic', o.topic), o.tags ? `(${o.tags})` : undefined].filter(Boolean).join(' and ');
}

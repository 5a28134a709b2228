/** Command-line options of `npm run conformance` (commander), and the Cucumber tag expression they select. */
import { Command, InvalidArgumentError, Option } from 'commander';

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
  /** Hidden, for tests: a Cucumber configuration file other than ./cucumber.js. */
  cucumberConfig?: string;
}

const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive whole number of milliseconds');
  return n;
};

export function buildProgram(): Command {
  return new Command('conformance')
    .description(
      'Judge reliable stack unwinders (arch_stack_walk_reliable) against the reliable-stacktrace spec on the simulated machine.\n' +
        'Without options: every profile in profiles/, all features; reports in reports/. Exits non-zero when a reference profile is not conformant.',
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
    .addOption(new Option('--walk-timeout <ms>', 'time allowed for one walk of an external unwinder before it is judged runaway').argParser(positiveInt))
    .option('--no-html', 'skip the HTML reports and the Allure report (JSON, Markdown, JUnit and messages are still written)')
    .option('--quiet', 'no progress bar and no Cucumber output; only the summary table', false)
    .addOption(new Option('--cucumber-config <file>', 'Cucumber configuration file (tests only)').hideHelp())
    .showHelpAfterError();
}

export function parseOptions(argv: readonly string[]): CliOptions {
  const p = buildProgram();
  p.parse([...argv], { from: 'user' });
  return p.opts<CliOptions>();
}

/** The filters as one Cucumber tag expression over @req: / @topic: tags ('' = everything). */
export function tagExpression(o: Pick<CliOptions, 'requirement' | 'topic' | 'tags'>): string {
  const any = (key: string, vals?: string[]) => (vals?.length ? `(${vals.map((v) => `@${key}:${v}`).join(' or ')})` : undefined);
  return [any('req', o.requirement), any('topic', o.topic), o.tags ? `(${o.tags})` : undefined].filter(Boolean).join(' and ');
}

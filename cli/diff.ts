/** `npm run diff -- RUN_A RUN_B`: what changed between two report folders, per requirement and scenario. */
import { Command } from 'commander';
import { writeFileSync } from 'fs';
import { resolve } from 'path';
import { diffHtml, diffRuns, diffText, readRun } from '../src/report/compare';

export function main(argv: readonly string[]): number {
  const p = new Command('diff')
    .description('Compare two --out folders of npm run conformance (e.g. port v2 and v3): verdicts, requirements and scenarios that changed.\nExit status: 0 when nothing got worse, 1 when something did, 2 for a usage error.')
    .argument('<run-a>', 'the earlier report folder')
    .argument('<run-b>', 'the later report folder')
    .option('--html <file>', 'also write the changes as an HTML page')
    .exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : 2))
    .showHelpAfterError();
  p.parse([...argv], { from: 'user' });
  const [a, b] = p.args as [string, string];
  const o = p.opts<{ html?: string }>();
  let changes;
  try {
    changes = diffRuns(readRun(resolve(a)), readRun(resolve(b)));
  } catch (e) {
    process.stderr.write(`diff: ${(e as Error).message}\n`);
    return 2;
  }
  process.stdout.write(diffText(changes) + '\n');
  if (o.html) writeFileSync(resolve(o.html), diffHtml(a, b, changes));
  return changes.some((c) => c.direction === 'worse') ? 1 : 0;
}

if (require.main === module) process.exit(main(process.argv.slice(2)));

/** `npm run lint:trace`: the traceability lint over features/, steps/ and the catalogue. Exit 1 on any problem. */
import { join } from 'path';
import { formatProblems, lintTraceability } from './lint';

function main(): number {
  const root = process.argv[2] ?? join(__dirname, '..', '..');
  const r = lintTraceability({ root });
  if (r.problems.length) {
    console.error(formatProblems(r.problems));
    console.error(`\ntraceability lint: ${r.problems.length} problem(s)`);
    return 1;
  }
  const covered = new Set(r.scenarios.map((s) => s.requirement));
  const reviewOnly = r.requirements.filter((q) => q.testability === 'review-only').length;
  console.log(
    `traceability lint: OK — ${r.requirements.length} requirements (${r.requirements.filter((q) => covered.has(q.id)).length} with scenarios, ${reviewOnly} review-only), ` +
      `${r.scenarios.length} scenarios, ${r.stepDefinitions.length} step definitions`,
  );
  return 0;
}

process.exitCode = main();

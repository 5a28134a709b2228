/**
 * KTAP (the kernel's test output format, read by KernelCI and LKFT) for one profile: one test per
 * requirement that ran or could not, with its scenarios as subtests. A requirement not applicable,
 * not run, not selected or review-only is an ok test with a SKIP directive, so nothing is dropped.
 */
import { neutral } from '../oracle/neutral';
import type { ScenarioStatus } from './results';
import type { Conformance, RequirementOutcome } from './verdict';

/** KTAP names and directives are one line, without '#' (which starts a directive). */
const line = (s: string): string => neutral(s).replace(/\s+/g, ' ').replace(/#/g, '').trim();

const SKIPPED_REQ: ReadonlySet<RequirementOutcome> = new Set(['not-applicable', 'not-run', 'not-selected', 'review-only', 'skipped', 'undefined']);
const SKIPPED_SCENARIO: ReadonlySet<ScenarioStatus> = new Set(['not-applicable', 'not-run', 'skipped', 'undefined']);

export function ktap(c: Conformance): string {
  const out = ['KTAP version 1', `# reliable-stacktrace conformance: ${line(c.profile.name)} (${c.profile.arch}): ${c.verdict}`, `1..${c.requirements.length}`];
  c.requirements.forEach((r, i) => {
    // A MUST breached by a scenario filed elsewhere lists that scenario too.
    const scenarios = c.scenarios.filter((s) => r.scenarios.includes(s.id));
    if (scenarios.length) {
      out.push('    KTAP version 1', `    # Subtest: ${line(r.id)}`, `    1..${scenarios.length}`);
      scenarios.forEach((s, j) => {
        const skip = SKIPPED_SCENARIO.has(s.status) ? ` # SKIP ${line(s.status)}${s.message ? `: ${line(s.message).slice(0, 200)}` : ''}` : '';
        if (s.status === 'failed' || s.status === 'errored') out.push(`    # ${line((s.message ?? s.status).split('\n')[0]!).slice(0, 300)}`);
        out.push(`    ${s.status === 'failed' || s.status === 'errored' ? 'not ok' : 'ok'} ${j + 1} ${line(s.id)}${skip}`);
      });
    }
    const bad = r.outcome === 'failed' || r.outcome === 'errored';
    const skip = SKIPPED_REQ.has(r.outcome) ? ` # SKIP ${r.outcome}${r.note ? `: ${line(r.note).slice(0, 200)}` : ''}` : '';
    out.push(`${bad ? 'not ok' : 'ok'} ${i + 1} ${line(r.id)}${skip}`);
  });
  return out.join('\n') + '\n';
}

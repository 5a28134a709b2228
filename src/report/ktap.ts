/**
 * KTAP (the kernel's test output format, read by KernelCI and LKFT) for one profile: one test per
 * requirement that ran or could not, with its scenarios as subtests. A requirement not applicable,
 * not run, not selected or review-only is an ok test with a SKIP directive, so nothing is dropped.
 */
import { neutral } from '../oracle/neutral';
import type { ScenarioStatus } from './results';
import type { Conformance, RequirementOutcome } from './verdict';
import { scenariosFor } from './views';

/** KTAP names and directives are one line, without '#' (which starts a directive). */
const line = (s: string): string => neutral(s).replace(/\s+/g, ' ').replace(/#/g, '').trim();

const SKIPPED_REQ: ReadonlySet<RequirementOutcome> = new Set(['not-applicable', 'not-run', 'not-selected', 'review-only', 'skipped', 'undefined']);
const SKIPPED_SCENARIO: ReadonlySet<ScenarioStatus> = new Set(['not-applicable', 'not-run', 'skipped', 'undefined']);

export function ktap(c: Conformance): string {
  const out = ['KTAP version 1', `# reliable-stacktrace conformance: ${line(c.profile.name)} (${c.profile.arch}): ${c.verdict}`, `1..${c.requirements.length}`];
  c.requirements.forEach((r, i) => {
    // A MUST breached by a scenario filed elsewhere lists that scenario too.
    // (Its status there is failed, whatever the rule it is filed under said.)
    const scenarios = scenariosFor(c, r.id);
    if (scenarios.length) {
      out.push('    KTAP version 1', `    # Subtest: ${line(r.id)}`, `    1..${scenarios.length}`);
      scenarios.forEach(({ scenario: s, status, breach }, j) => {
        const skip = SKIPPED_SCENARIO.has(status) ? ` # SKIP ${line(status)}${s.message ? `: ${line(s.message).slice(0, 200)}` : ''}` : '';
        const bad = status === 'failed' || status === 'errored';
        if (breach) out.push(`    # filed under ${s.level.toUpperCase()} ${line(s.requirement)}, its walks break MUST ${line(r.id)}`);
        if (bad) out.push(`    # ${line((s.message ?? status).split('\n')[0]!).slice(0, 300)}`);
        out.push(`    ${bad ? 'not ok' : 'ok'} ${j + 1} ${line(s.id)}${skip}`);
      });
    }
    const failedReq = r.outcome === 'failed' || r.outcome === 'errored';
    const skip = SKIPPED_REQ.has(r.outcome) ? ` # SKIP ${r.outcome}${r.note ? `: ${line(r.note).slice(0, 200)}` : ''}` : '';
    // The level, for consumers that tell a MUST failure from a SHOULD one (KTAP names carry no level).
    if (failedReq) out.push(`# ${r.level.toUpperCase()} ${line(r.id)} ${r.outcome}${r.note ? `: ${line(r.note.split('\n')[0]!).slice(0, 240)}` : ''}`);
    out.push(`${failedReq ? 'not ok' : 'ok'} ${i + 1} ${line(r.id)}${skip}`);
  });
  return out.join('\n') + '\n';
}

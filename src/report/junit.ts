/**
 * junit.xml for one profile, from the conformance record (the one source of truth), so CI dashboards
 * show what the verdict says: one suite of requirements (a MUST breached in a scenario filed under a
 * SHOULD or MAY fails there) and one suite of scenarios. Every test case carries its level in its
 * name ("[MUST] ...") and class name ("<profile>.MUST.<requirement>"), and as properties; not applicable,
 * not run and skipped ones are <skipped/> with the reason. Cucumber's own JUnit is kept as cucumber-junit.xml.
 */
import { neutral } from '../oracle/neutral';
import { rerunCommand } from './conformance-render';
import { breachedMusts, effectiveLevel, worstOutcome } from './views';
import type { Conformance, RequirementOutcome } from './verdict';
import type { ScenarioStatus } from './results';

/** XML text: escaped, with characters XML 1.0 forbids dropped. */
const x = (s: unknown): string =>
  neutral(String(s))
    .replace(/[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd]/gu, '')
    .replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);

const SKIP_REQ = new Set<RequirementOutcome>(['not-applicable', 'not-run', 'not-selected', 'review-only', 'skipped', 'undefined']);
const SKIP_SC = new Set<ScenarioStatus>(['not-applicable', 'not-run', 'skipped', 'undefined']);

const props = (p: Record<string, string | undefined>): string =>
  `<properties>${Object.entries(p)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `<property name="${x(k)}" value="${x(v)}"/>`)
    .join('')}</properties>`;

/** The JUnit XML text. */
export function junit(c: Conformance): string {
  const p = c.profile.name;
  const reqCases: string[] = [];
  let rf = 0, re = 0, rs = 0;
  for (const r of c.requirements) {
    const L = r.level.toUpperCase();
    const head = `<testcase classname="${x(`${p}.${L}`)}" name="${x(`[${L}] ${r.id}: ${r.title}`)}" time="0">`;
    const pr = props({ level: r.level, requirement: r.id, outcome: r.outcome, section: `${r.section.original} / ${r.section.upstream} ${r.section.title}`, scenarios: r.scenarios.join(' ') });
    let body = '';
    if (r.outcome === 'failed') (rf++, (body = `<failure type="${x(`${L} failed`)}" message="${x(`${L} ${r.id} failed: ${(r.note ?? '').split('\n')[0]}`)}">${x(r.note ?? '')}</failure>`));
    else if (r.outcome === 'errored') (re++, (body = `<error type="${x(`${L} errored`)}" message="${x((r.note ?? '').split('\n')[0])}">${x(r.note ?? '')}</error>`));
    else if (SKIP_REQ.has(r.outcome)) (rs++, (body = `<skipped message="${x(`${r.outcome}${r.note ? `: ${r.note.split('\n')[0]}` : ''}`)}"/>`));
    reqCases.push(`    ${head}${pr}${body}</testcase>`);
  }
  const scCases: string[] = [];
  let sf = 0, se = 0, ss = 0, time = 0;
  for (const s of c.scenarios) {
    const lv = effectiveLevel(s);
    const L = lv.toUpperCase();
    const breaches = breachedMusts(s);
    const t = (s.durationMs ?? 0) / 1000;
    time += t;
    const head = `<testcase classname="${x(`${p}.${L}.${s.requirement}`)}" name="${x(`[${L}] ${s.id}: ${s.name}`)}" time="${t.toFixed(3)}">`;
    const worst = worstOutcome(s);
    const pr = props({
      level: lv,
      'filed-level': s.level,
      requirement: s.requirement,
      'breaches-must': breaches.join(' ') || undefined,
      status: s.status,
      'worst-walk': worst,
      feature: s.uri,
      rerun: rerunCommand(c, s.id),
    });
    const msg = s.message ?? s.status;
    // A scenario filed under a SHOULD / MAY whose walks break a MUST fails, even if its own rule passed.
    const failed = s.status === 'failed' || (breaches.length > 0 && s.status === 'passed');
    let body = '';
    if (failed) {
      sf++;
      const why = breaches.length ? ` (breaks MUST ${breaches.join(', ')})` : '';
      body = `<failure type="${x(`${L} ${worst ?? 'failed'}`)}" message="${x(`${msg.split('\n')[0]}${why}`)}">${x(`${msg}\n\nRerun: ${rerunCommand(c, s.id)}`)}</failure>`;
    } else if (s.status === 'errored') {
      se++;
      body = `<error type="errored" message="${x(msg.split('\n')[0])}">${x(msg)}</error>`;
    } else if (SKIP_SC.has(s.status)) {
      ss++;
      body = `<skipped message="${x(`${s.status}${s.message ? `: ${s.message.split('\n')[0]}` : ''}`)}"/>`;
    }
    scCases.push(`    ${head}${pr}${body}</testcase>`);
  }
  const suiteProps = props({ profile: p, arch: c.profile.arch, verdict: c.verdict, scope: c.scope, filter: c.filter });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${x(`reliable-stacktrace conformance: ${p}`)}" tests="${c.requirements.length + c.scenarios.length}" failures="${rf + sf}" errors="${re + se}" skipped="${rs + ss}" time="${time.toFixed(3)}">`,
    `  <testsuite name="${x(`${p}: requirements`)}" tests="${c.requirements.length}" failures="${rf}" errors="${re}" skipped="${rs}" time="0" timestamp="${x(c.generatedAt)}">`,
    `    ${suiteProps}`,
    ...reqCases,
    '  </testsuite>',
    `  <testsuite name="${x(`${p}: scenarios`)}" tests="${c.scenarios.length}" failures="${sf}" errors="${se}" skipped="${ss}" time="${time.toFixed(3)}" timestamp="${x(c.generatedAt)}">`,
    `    ${suiteProps}`,
    ...scCases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

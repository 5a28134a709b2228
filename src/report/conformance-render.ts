/** conformance.md and conformance.html for one profile. */
import { alignWalk, groupByPicture, groupLines, MARK_TEXT, pictureText, type RowMark } from './picture';
import { esc, htmlTable, mdTable, neutral, page, pct, VERDICT_TEXT } from './html';
import type { WalkReport } from './results';
import type { Conformance, ScenarioVerdict } from './verdict';
import type { Level } from './results';
import { breachedMusts, effectiveLevel, outcomeClass, scenariosFor, usefulnessRating, worstOutcome, OUTCOME_ORDER } from './views';

const LEVELS: Level[] = ['must', 'should', 'may'];

function countLine(c: Conformance, level: Level): [string, string, string, string, string] {
  const r = c.counts[level].requirements;
  const s = c.counts[level].scenarios;
  const n = (x: number | undefined) => String(x ?? 0);
  const other = Object.entries(r)
    .filter(([k]) => k !== 'passed' && k !== 'failed' && k !== 'errored')
    .map(([k, v]) => `${v} ${k}`)
    .join(', ');
  return [
    level.toUpperCase(),
    `${n(r.passed)} passed, ${n((r.failed ?? 0) + (r.errored ?? 0))} failed`,
    other || '-',
    `${n(s.passed)} / ${n((s.failed ?? 0) + (s.errored ?? 0))}${level === 'must' ? breachingNote(c) : ''}`,
    n(s['not-applicable']),
  ];
}

/** MUST scenario counts include the scenarios filed under a SHOULD or MAY whose walks break a section-2 MUST. */
function breachingNote(c: Conformance): string {
  const k = new Set(c.requirements.filter((r) => r.level === 'must').flatMap((r) => scenariosFor(c, r.id).filter((x) => x.breach).map((x) => x.scenario.id))).size;
  return k ? ` (+${k} filed under SHOULD / MAY that break a MUST)` : '';
}

export function usefulnessText(c: Conformance): string {
  const u = c.usefulness;
  const sweep = u.sweepShare === null ? "no sweeps ran" : `${pct(u.sweepShare)} of ${u.sweepWalks} sweep walks sound and reliable`;
  const bad = u.unsafeWalks || u.impreciseWalks ? `; besides, ${pct(u.unsafeShare)} reported reliable but unsafe and ${pct(u.impreciseShare)} imprecise` : '';
  const kinds = Object.entries(u.byKind).map(([k, v]) => `${k} ${pct(v.share)} of ${v.walks}`).join(', ');
  return `${sweep}; ${pct(u.share)} of all ${u.judgedWalks} judged walks (${usefulnessRating(c).text})${bad}${kinds ? `; by kind of walk: ${kinds}` : ''}`;
}

const failed = (s: ScenarioVerdict) => s.status === 'failed' || s.status === 'errored';

const LEVEL_ORDER: Record<Level, number> = { must: 0, should: 1, may: 2 };

/**
 * Failures in triage order: by the level they break (a scenario whose walks breach section 2 breaks a
 * MUST, whatever it is filed under), then by the worst kind of walk, then as written.
 */
export function triageOrder(c: Conformance): ScenarioVerdict[] {
  const key = (s: ScenarioVerdict): [number, number] => {
    const worst = worstOutcome(s);
    return [LEVEL_ORDER[effectiveLevel(s)], worst ? OUTCOME_ORDER.indexOf(worst) : OUTCOME_ORDER.length];
  };
  return c.scenarios
    .map((s, i) => ({ s, i, k: key(s) }))
    .filter((x) => failed(x.s))
    .sort((a, b) => a.k[0] - b.k[0] || a.k[1] - b.k[1] || a.i - b.i)
    .map((x) => x.s);
}

/** The level a failure is listed under: MUST when its walks breach section 2. */
function failureLevel(s: ScenarioVerdict): string {
  return effectiveLevel(s).toUpperCase();
}

/** The requirement a failure is listed under: the MUST its walks breach first, when it is filed under a SHOULD / MAY. */
function filedText(s: ScenarioVerdict): string {
  return effectiveLevel(s) === s.level ? s.requirement : `${breachedMusts(s).join(', ')} (filed under ${s.level.toUpperCase()} ${s.requirement})`;
}

function filedHtml(s: ScenarioVerdict, link = false): string {
  const req = (id: string) => (link ? `<a href="#${anchor.requirement(id)}"><code>${esc(id)}</code></a>` : `<code>${esc(id)}</code>`);
  if (effectiveLevel(s) === s.level) return req(s.requirement);
  return `${breachedMusts(s).map(req).join(', ')} <span class="small">(filed under ${esc(s.level.toUpperCase())} ${req(s.requirement)})</span>`;
}

/** A scenario's level, and the MUST it counts under when its walks breach section 2. */
function levelText(s: ScenarioVerdict): string {
  const e = effectiveLevel(s);
  return e === s.level ? s.level : `${s.level}, breaks MUST ${breachedMusts(s).join(', ')}`;
}

/** Anchor names: stable, so a failure can be linked to from a CI log or a review. */
export const anchor = {
  requirement: (id: string) => `req-${id.replace(/[^A-Za-z0-9_-]/g, '_')}`,
  scenario: (id: string) => `sc-${id.replace(/[^A-Za-z0-9_-]/g, '_')}`,
};

/** The command that reruns just one scenario for this profile. */
export function rerunCommand(c: Conformance, scenarioId: string): string {
  const who = c.external ? `--unwinder '${c.external.command.replace(/'/g, `'\\''`)}'` : c.profile.reference ? `--profile ${c.profile.name}` : `--profile-file <${c.profile.name}.json>`;
  return `npm run conformance -- ${who} --tags '@id:${scenarioId}'`;
}

const GOOD = new Set<WalkReport['outcome']>(['sound-reliable', 'correctly-unreliable']);

/**
 * The failing walks of a scenario grouped by their picture, worst outcome first: one picture per
 * group, with the instruction points (scene, moment) that share it. At most `max` groups.
 */
export function failureGroups(s: ScenarioVerdict, max = 5): WalkReport[][] {
  const listed = s.walks.filter((x) => s.failures?.some((f) => f.sceneId === x.sceneId && f.moment === x.moment));
  const bad = s.walks.filter((w) => !GOOD.has(w.outcome) || w.snapshotFile);
  const walks = (bad.length ? bad : listed).map((w, i) => ({ w, i }));
  walks.sort((a, b) => OUTCOME_ORDER.indexOf(a.w.outcome) - OUTCOME_ORDER.indexOf(b.w.outcome) || a.i - b.i);
  return groupByPicture(walks.map((x) => x.w)).slice(0, max);
}

/** A scenario message in short: the first line, then its per-walk lines folded by what they say. */
export function messageLines(m: string): { first: string; rest: string[] } {
  const [first, ...rest] = m.split('\n');
  return { first: first ?? '', rest: groupLines(rest) };
}

/** A requirement's note for the table: one line, pointing at the failures for the rest. */
export function noteBrief(note: string): string {
  const lines = note.split('\n').filter((l) => l.trim());
  if (lines.length <= 1) return lines[0] ?? '';
  if (lines.every((l) => l.startsWith('broken in '))) return lines.length <= 3 ? lines.join('; ') : `${lines.slice(0, 3).join('; ')}; and ${lines.length - 3} more scenario(s)`;
  const g = groupLines(lines.slice(1));
  return `${lines[0]!.replace(/:\s*$/, '')}: ${g[0]}${g.length > 1 ? ` (and ${g.length - 1} other kind(s) of failure, under Failures)` : ''}`;
}

/** Plugin-controlled text made inert for Markdown: control and escape sequences dropped, one line. */
const mdInline = (s: string): string => neutral(s).replace(/\s*\n\s*/g, ' ').replace(/([`*_<>\[\]#|])/g, '\\$1');
/** A fenced block that no content can close early. */
const fence = (body: string): string[] => {
  const longest = Math.max(2, ...[...body.matchAll(/`+/g)].map((m) => m[0].length));
  const f = '`'.repeat(longest + 1);
  return [f, neutral(body), f];
};

function walkMarkdown(w: WalkReport): string {
  const out = [`**${w.sceneId}** — ${mdInline(w.moment)}: \`${w.outcome}\` — ${mdInline(w.explanation)}`, '', ...fence(pictureText(w))];
  if (w.faults.length) out.push('', `Faulting reads: ${w.faults.map((f) => `${f.addr} (${f.region ?? 'unmapped'})`).join(', ')}`);
  if (w.stackDump?.length) {
    out.push('', '<details><summary>stack memory</summary>', '', '```');
    for (const d of w.stackDump) out.push(`${d.addr}: ${d.value}  ${d.note ?? ''}`.trimEnd());
    out.push('```', '', '</details>');
  }
  if (w.snapshotFile) out.push('', `Snapshot: [${w.snapshotFile}](${w.snapshotFile})`);
  return out.join('\n');
}

export function conformanceMarkdown(c: Conformance): string {
  const p = c.profile;
  const out: string[] = [];
  out.push(`# Conformance: ${p.name}`, '');
  out.push(`**Verdict: ${VERDICT_TEXT[c.verdict]}**${c.scope === 'filtered' ? ` (filtered run: ${c.filter})` : ''}`, '');
  out.push(`Usefulness: ${usefulnessText(c)}`, '');
  out.push(`Profile: ${p.arch}, unwinder \`${p.unwinder}\`${p.reference ? ', reference profile' : ''}${c.external ? `, external: \`${c.external.command}\`` : ''}. ${p.description}`, '');
  if (c.reasons.length) out.push('Why:', '', ...c.reasons.map((r) => `- ${mdInline(r)}`), '');
  out.push(mdTable(['level', 'requirements', 'other', 'scenarios pass / fail', 'scenarios n/a'], LEVELS.map((l) => countLine(c, l))), '');
  out.push('Claims (they select which rules apply): ' + Object.entries(p.claims).map(([k, v]) => `${k}=${v}`).join(', ') + (p.analyser ? `; build-time analyser: ${p.analyser}` : '; no build-time analyser supplied'), '');

  const bad = triageOrder(c);
  if (bad.length) {
    out.push('## Failures, worst first', '');
    for (const s of bad) out.push(`- [${failureLevel(s)} ${filedText(s)}: ${mdInline(s.name)}](#${anchor.scenario(s.id)}) (${worstOutcome(s) ?? s.status})`);
    out.push('');
    for (const s of bad) {
      const { first, rest } = messageLines(s.message ?? '');
      out.push(`<a id="${anchor.scenario(s.id)}"></a>`, '', `### ${failureLevel(s)} ${filedText(s)}: ${mdInline(s.name)}`, '', `\`${s.id}\` (${s.uri}) — ${s.status}${first ? `: ${mdInline(first)}` : ''}`, '');
      out.push(`Rerun: \`${rerunCommand(c, s.id)}\``, '');
      if (rest.length) out.push(...fence(rest.join('\n')), '');
      for (const g of failureGroups(s)) {
        out.push(walkMarkdown(g[0]!), '');
        if (g.length > 1) {
          out.push(`The same picture at ${g.length - 1} more instruction point(s):`, '');
          out.push(mdTable(['scene', 'moment', 'outcome', 'snapshot'], g.slice(1).map((w) => [w.sceneId, mdInline(w.moment), w.outcome, w.snapshotFile ? `[${w.snapshotFile}](${w.snapshotFile})` : '-'])), '');
        }
      }
    }
  }
  out.push('## Requirements', '');
  out.push(
    mdTable(
      ['requirement', 'level', 'section', 'outcome', 'scenarios', 'note'],
      c.requirements.map((r) => [r.id, r.level.toUpperCase(), `${r.section.original} / ${r.section.upstream}`, r.outcome, String(r.scenarios.length), mdInline(noteBrief(r.note ?? ''))]),
    ),
    '',
  );
  if (c.notApplicable.length) out.push(`Not applicable to this profile: ${c.notApplicable.join(', ')}`, '');
  out.push('## Scenarios', '');
  out.push(mdTable(['scenario', 'requirement', 'level', 'status', 'walks'], c.scenarios.map((s) => [s.id, s.requirement, levelText(s), s.status, s.sweep ? `${s.sweep.reliable}/${s.sweep.walks} reliable` : String(s.walks.length)])));
  return out.join('\n') + '\n';
}

/** A scenario message: its first line, and the rest (one line per walk for sweeps) folded away. */
function messageHtml(m: string): string {
  const { first, rest } = messageLines(m);
  return rest.length
    ? `${esc(first)}<details><summary>${rest.length} more line(s)</summary><pre>${esc(rest.join('\n'))}</pre></details>`
    : esc(first);
}

export function pictureHtml(w: WalkReport): string {
  const rows = alignWalk(w);
  const cell = (x?: { fn: string; addr: string }) => (x ? `<span class="mono">${esc(x.fn)}</span> <span class="small mono">${esc(x.addr)}</span>` : '');
  const trs = rows
    .map((r) => {
      const k = `m-${r.mark}`;
      const note = r.mark === 'ok' ? '' : r.mark === 'unreported' ? '<span class="small">not claimed (rc ≠ 0)</span>' : esc(r.mark === 'omitted' && r.truth?.omissible ? `omitted: ${r.truth.omissible}` : MARK_TEXT[r.mark]);
      return `<tr><td class="${r.truth && r.mark !== 'ok' ? k : ''}">${cell(r.truth)}${r.truth ? ` <span class="small">(${esc(r.truth.why)})</span>` : ''}</td>` +
        `<td class="${r.trace && r.mark !== 'ok' ? k : ''}">${cell(r.trace)}</td><td class="small">${note}</td></tr>`;
    })
    .join('\n');
  const table = `<table class="picture"><thead><tr><th>true call chain (innermost first)</th><th>reported trace, rc ${esc(w.rc ?? 'none')}</th><th></th></tr></thead><tbody>${trs}</tbody></table>`;
  const faults = w.faults.length ? `<p>Faulting reads: ${w.faults.map((f) => `<code>${esc(f.addr)}</code> (${esc(f.region ?? 'unmapped')})`).join(', ')}</p>` : '';
  const faultAddrs = new Set(w.faults.map((f) => f.addr));
  const dump = w.stackDump?.length
    ? `<details><summary>stack memory around the frames (${w.stackDump.length} words)</summary>` +
      htmlTable(['address', 'value', ''], w.stackDump.map((d) => [`<span class="mono">${esc(d.addr)}</span>`, `<span class="mono">${esc(d.value)}</span>`, esc(d.note ?? '')]), (r) =>
        faultAddrs.has(w.stackDump![r]!.addr) ? 'm-missing' : undefined) +
      '</details>'
    : '';
  const snap = w.snapshotFile ? `<p class="small">snapshot: <a href="${esc(w.snapshotFile)}">${esc(w.snapshotFile)}</a></p>` : '';
  return `<div class="walk"><p><b class="mono">${esc(w.sceneId)}</b> — ${esc(w.moment)}: <code>${esc(w.outcome)}</code> — ${esc(w.explanation)}</p>${table}${faults}${dump}${snap}</div>`;
}

/** A requirement's scenarios as links, failed ones (and those breaching it from elsewhere) marked. */
function requirementScenariosHtml(c: Conformance, reqId: string): string {
  const xs = scenariosFor(c, reqId);
  if (!xs.length) return '0';
  const bad = xs.filter((x) => x.status === 'failed' || x.status === 'errored');
  const links = bad.slice(0, 6).map((x) => `<a class="small" href="#${anchor.scenario(x.scenario.id)}">${esc(x.scenario.id)}</a>${x.breach ? ` <span class="small">(filed under ${esc(x.scenario.level.toUpperCase())} ${esc(x.scenario.requirement)})</span>` : ''}`);
  return `${xs.length}${bad.length ? `, ${bad.length} failed:<br>${links.join('<br>')}${bad.length > 6 ? `<br><span class="small">and ${bad.length - 6} more</span>` : ''}` : ''}`;
}

export function conformanceHtml(c: Conformance): string {
  const p = c.profile;
  const b: string[] = [];
  b.push(`<h1>Conformance: ${esc(p.name)}</h1>`);
  b.push(`<p><span class="verdict v-${c.verdict}" id="verdict">${esc(VERDICT_TEXT[c.verdict])}</span>${c.scope === 'filtered' ? ` <span class="small">filtered run: ${esc(c.filter)}</span>` : ''}</p>`);
  b.push(`<p>Usefulness: <span class="${usefulnessRating(c).cls}" id="usefulness">${esc(usefulnessText(c))}</span></p>`);
  b.push(`<p class="small">${esc(p.arch)}, unwinder <code>${esc(p.unwinder)}</code>${p.reference ? ', reference profile' : ''}${c.external ? `, external <code>${esc(c.external.command)}</code>` : ''}. ${esc(p.description)}</p>`);
  if (c.reasons.length) b.push(`<ul>${c.reasons.map((r) => `<li>${esc(neutral(r))}</li>`).join('')}</ul>`);
  b.push(htmlTable(['level', 'requirements', 'other', 'scenarios pass / fail', 'scenarios n/a'], LEVELS.map((l) => countLine(c, l).map(esc))));
  b.push(
    `<details><summary>Claims (they select which rules apply)</summary>` +
      htmlTable(['claim', 'value'], [...Object.entries(p.claims).map(([k, v]) => [`<code>${esc(k)}</code>`, esc(v)]), ['build-time analyser', esc(p.analyser ?? 'none supplied (compile-time requirements not run)')]]) +
      `</details>`,
  );
  const legend = (Object.keys(MARK_TEXT) as RowMark[]).filter((m) => m !== 'ok').map((m) => `<span class="m-${m}">${esc(MARK_TEXT[m])}</span>`).join('');
  const bad = triageOrder(c);
  if (bad.length) {
    b.push(`<h2 id="failures">Failures, worst first (${bad.length})</h2>`);
    b.push(`<ol class="toc">${bad.map((s) => `<li class="l-${effectiveLevel(s)}"><a href="#${anchor.scenario(s.id)}"><span class="lvl lvl-${effectiveLevel(s)}">${esc(failureLevel(s))}</span> ${filedHtml(s)}: ${esc(s.name)}</a> <span class="small">(${esc(worstOutcome(s) ?? s.status)})</span></li>`).join('')}</ol>`);
    b.push(`<p class="legend small">${legend}</p>`);
    for (const s of bad) {
      b.push(`<h3 id="${anchor.scenario(s.id)}"><span class="lvl lvl-${effectiveLevel(s)}">${esc(failureLevel(s))}</span> ${filedHtml(s, true)}: ${esc(s.name)} <a class="small" href="#${anchor.scenario(s.id)}">¶</a></h3>`);
      b.push(`<p class="small"><code>${esc(s.id)}</code> (${esc(s.uri)}) — <b>${esc(s.status)}</b>${s.message ? `: ${messageHtml(neutral(s.message))}` : ''}</p>`);
      b.push(`<p class="small">Rerun just this: <code>${esc(rerunCommand(c, s.id))}</code></p>`);
      for (const g of failureGroups(s)) {
        b.push(pictureHtml(g[0]!));
        if (g.length > 1) {
          b.push(`<p class="small">The same picture at ${g.length - 1} more instruction point(s):</p>` +
            htmlTable(['scene', 'moment', 'outcome', 'snapshot'], g.slice(1).map((w) => [`<span class="mono small">${esc(w.sceneId)}</span>`, esc(neutral(w.moment)), `<code>${esc(w.outcome)}</code>`, w.snapshotFile ? `<a href="${esc(w.snapshotFile)}">${esc(w.snapshotFile)}</a>` : '-']), () => 'small').replace('<table>', '<table class="points">'));
        }
      }
    }
  }
  b.push('<h2>Requirements</h2>');
  b.push(
    htmlTable(
      ['requirement', 'level', 'section (reviewed / upstream)', 'outcome', 'scenarios', 'note'],
      c.requirements.map((r) => [`<code id="${anchor.requirement(r.id)}">${esc(r.id)}</code><br><span class="small">${esc(r.title)}</span>`, `<span class="lvl lvl-${r.level}">${r.level.toUpperCase()}</span>`, esc(`${r.section.original} / ${r.section.upstream} ${r.section.title}`), esc(r.outcome), requirementScenariosHtml(c, r.id), esc(neutral(noteBrief(r.note ?? '')))]),
      (r, col) => (col === 3 ? outcomeClass(c.requirements[r]!.outcome, c.requirements[r]!.level) : undefined),
    ),
  );
  b.push('<h2>Scenarios</h2>');
  b.push(
    htmlTable(
      ['scenario', 'requirement', 'level', 'status', 'walks'],
      c.scenarios.map((s) => [`<code${failed(s) ? '' : ` id="${anchor.scenario(s.id)}"`}>${esc(s.id)}</code><br><span class="small">${esc(s.name)}</span>`, esc(s.requirement), esc(levelText(s)), esc(s.status), s.sweep ? `${s.sweep.reliable}/${s.sweep.walks} reliable` : String(s.walks.length)]),
      (r, col) => (col === 3 ? outcomeClass(c.scenarios[r]!.status, effectiveLevel(c.scenarios[r]!)) : undefined),
    ),
  );
  b.push(`<p class="small">Generated ${esc(c.generatedAt)}. Machine-readable: <a href="conformance.json">conformance.json</a>, <a href="junit.xml">junit.xml</a>, <a href="cucumber-messages.ndjson">cucumber-messages.ndjson</a>.</p>`);
  return page(`Conformance: ${p.name}`, b.join('\n'));
}

/** Small helpers shared by the HTML reports: escaping, one inline stylesheet, no scripts, no network. */

export const esc = (s: unknown): string =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export { neutral } from '../oracle/neutral';

export const pct = (x: number | null): string => (x === null ? 'n/a' : `${(100 * x).toFixed(1)}%`);

export const CSS = `
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:1.5em auto;max-width:1200px;color:#1d1d1f;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}h3{margin-bottom:.3em}
table{border-collapse:collapse;margin:.5em 0 1em}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f5}code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
pre{background:#f7f7f9;padding:.6em;overflow:auto}
.verdict{display:inline-block;padding:.25em .8em;border-radius:4px;font-weight:700;color:#fff}
.v-conformant{background:#1a7f37}.v-conformant-with-warnings{background:#bf8700}.v-not-conformant{background:#cf222e}.v-incomplete{background:#6e7781}
.o-passed{background:#dafbe1}.o-failed,.o-errored{background:#ffd8d3}.o-undefined,.o-skipped,.o-not-run{background:#fff1c2}
.o-failed.l-must,.o-errored.l-must{background:#ff9d96;font-weight:700}.o-failed.l-should,.o-errored.l-should{background:#ffd2a6}
.o-failed.l-may,.o-errored.l-may{background:#fff3b8}
.lvl{display:inline-block;min-width:3.6em;font-weight:700}.lvl-must{color:#cf222e}.lvl-should{color:#bc4c00}.lvl-may{color:#7d6400}
.o-not-applicable,.o-not-selected,.o-review-only{background:#eef0f3;color:#57606a}
.m-missing{background:#ff8182;font-weight:700}.m-duplicated,.m-spurious{background:#ffb86b;font-weight:700}
.m-inverted,.m-out-of-order{background:#d8b9ff;font-weight:700}.m-omitted,.m-unreported{color:#6e7781;font-style:italic}
.useless{color:#cf222e;font-weight:700}.limited{color:#bf8700}.useful{color:#1a7f37}.u-void{color:#57606a;font-style:italic}
.small{color:#57606a;font-size:12px}.legend span{padding:0 .4em;margin-right:.6em}
details{margin:.3em 0}summary{cursor:pointer}
[id]{scroll-margin-top:.6em}
`;

export function page(title: string, body: string): string {
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>` +
    `<meta name="viewport" content="width=device-width,initial-scale=1"><style>${CSS}</style></head>` +
    `<body>\n${body}\n</body></html>\n`;
}

/** Markdown table from a header and rows (pipes escaped). */
export function mdTable(head: string[], rows: string[][]): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  return [
    `| ${head.map(cell).join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ].join('\n');
}

export function htmlTable(head: string[], rows: string[][], cls?: (r: number, c: number) => string | undefined): string {
  const th = head.map((h) => `<th>${h}</th>`).join('');
  const trs = rows
    .map((r, ri) => `<tr>${r.map((c, ci) => { const k = cls?.(ri, ci); return `<td${k ? ` class="${k}"` : ''}>${c}</td>`; }).join('')}</tr>`)
    .join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${trs}\n</tbody></table>`;
}

export const VERDICT_TEXT: Record<string, string> = {
  conformant: 'conformant',
  'conformant-with-warnings': 'conformant with warnings',
  'not-conformant': 'NOT conformant',
  incomplete: 'incomplete',
};

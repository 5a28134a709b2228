/**
 * Allure HTML from allure-results with allure-commandline 2.x: one file, so it opens from file://,
 * and no analytics (the HTML template needs ALLURE_NO_ANALYTICS=true, not 1: allure2 PR #3333).
 */
import { spawnSync } from 'child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'fs';
import { join, resolve } from 'path';

export function allureBin(): string {
  return resolve(__dirname, '..', 'node_modules', '.bin', process.platform === 'win32' ? 'allure.cmd' : 'allure');
}

export function generateAllure(resultsDir: string, reportDir: string): { ok: boolean; message: string } {
  if (!existsSync(resultsDir) || !readdirSync(resultsDir).some((f) => f.endsWith('-result.json'))) {
    return { ok: false, message: `no Allure results in ${resultsDir}` };
  }
  const bin = allureBin();
  if (!existsSync(bin)) return { ok: false, message: `${bin} not found (allure-commandline)` };
  const r = spawnSync(bin, ['generate', resultsDir, '-o', reportDir, '--clean', '--single-file'], { encoding: 'utf8', timeout: 180_000, env: { ...process.env, ALLURE_NO_ANALYTICS: 'true' } });
  if (r.status !== 0) return { ok: false, message: (r.stderr || r.stdout || String(r.error ?? 'failed')).trim().slice(0, 500) };
  return { ok: true, message: reportDir };
}

/** Environment and categories shown on the Allure overview (written into allure-results before generating). */
export function writeAllureExtras(resultsDir: string, env: Record<string, string>): void {
  if (!existsSync(resultsDir)) return;
  const prop = (s: string) => s.replace(/[\\=:\n]/g, (c) => (c === '\n' ? ' ' : `\\${c}`));
  writeFileSync(join(resultsDir, 'environment.properties'), Object.entries(env).map(([k, v]) => `${prop(k)}=${prop(v)}`).join('\n') + '\n');
  const categories = [
    { name: 'Unsafe: a reliable trace omitted a live function', messageRegex: '(?s).*\\bunsafe\\b.*', matchedStatuses: ['failed', 'broken'] },
    { name: 'Imprecise: duplicated, spurious or inverted entries', messageRegex: '(?s).*\\bimprecise\\b.*', matchedStatuses: ['failed', 'broken'] },
    { name: 'Faulted: unsafe memory access', messageRegex: '(?s).*\\bfaulted\\b.*', matchedStatuses: ['failed', 'broken'] },
    { name: 'Runaway walk', messageRegex: '(?s).*\\brunaway\\b.*', matchedStatuses: ['failed', 'broken'] },
    { name: 'Other failures', matchedStatuses: ['failed'] },
    { name: 'Broken (errored) scenarios', matchedStatuses: ['broken'] },
  ];
  writeFileSync(join(resultsDir, 'categories.json'), JSON.stringify(categories, null, 2) + '\n');
}

/**
 * allure-cucumberjs labels each test with its Gherkin Feature name as `feature`; ours (steps/support/allure.ts)
 * is the requirement. Keep only ours, so the Behaviors tab is topic → requirement and counts each test once.
 */
export function keepRequirementFeatures(resultsDir: string): number {
  let changed = 0;
  if (!existsSync(resultsDir)) return 0;
  for (const f of readdirSync(resultsDir).filter((x) => x.endsWith('-result.json'))) {
    const file = join(resultsDir, f);
    const r = JSON.parse(readFileSync(file, 'utf8')) as { labels?: { name: string; value: string }[] };
    const req = r.labels?.find((l) => l.name === 'requirement')?.value;
    if (!req || !r.labels) continue;
    const before = r.labels.length;
    r.labels = r.labels.filter((l) => l.name !== 'feature' || l.value.startsWith(req));
    if (r.labels.length !== before) {
      writeFileSync(file, JSON.stringify(r));
      changed++;
    }
  }
  return changed;
}

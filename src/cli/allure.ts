/** Allure HTML from allure-results with allure-commandline 2.x (single file, so it opens from file://). */
import { spawnSync } from 'child_process';
import { existsSync, readdirSync } from 'fs';
import { join, resolve } from 'path';

export function allureBin(): string {
  return resolve(__dirname, '..', '..', 'node_modules', '.bin', process.platform === 'win32' ? 'allure.cmd' : 'allure');
}

export function generateAllure(resultsDir: string, reportDir: string): { ok: boolean; message: string } {
  if (!existsSync(resultsDir) || !readdirSync(resultsDir).some((f) => f.endsWith('-result.json'))) {
    return { ok: false, message: `no Allure results in ${resultsDir}` };
  }
  const bin = allureBin();
  if (!existsSync(bin)) return { ok: false, message: `${bin} not found (allure-commandline)` };
  const r = spawnSync(bin, ['generate', resultsDir, '-o', reportDir, '--clean', '--single-file'], { encoding: 'utf8', timeout: 180_000 });
  if (r.status !== 0) return { ok: false, message: (r.stderr || r.stdout || String(r.error ?? 'failed')).trim().slice(0, 500) };
  return { ok: true, message: reportDir };
}

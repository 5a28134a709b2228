/**
 * The report folder (`--out`) as a transaction:
 * - a lock (`<out>/.conformance.lock`, holding the pid) so a second run into the same folder fails fast;
 *   a lock whose pid is dead is stale and taken over;
 * - every report is written into a staging folder (`<out>/.conformance-staging-<pid>/`) and moved into
 *   place only when the run is complete, so an interrupted run leaves the previous report whole;
 * - every folder the suite creates carries a marker file, and the suite never deletes or replaces a
 *   folder without one (a profile named `docs` with `--out .` must not wipe the repository's docs/).
 */
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'fs';
import { basename, join } from 'path';
import { UsageError } from './options';

/** The marker file in every folder the suite creates (profile reports, allure-report, allure-results, staging). */
export const MARKER = '.conformance-report';
export const LOCK = '.conformance.lock';
const STAGING_PREFIX = '.conformance-staging-';

/**
 * Names the suite writes itself at the top of `--out`: no profile may be called so.
 * (Profile names cannot start with a dot, so the lock, marker and staging names are safe by the schema.)
 */
export const RESERVED = [/^allure-report$/, /^allure-results$/, /^summary(\..*)?$/, /^traceability(\..*)?$/, /^results(\..*)?$/, /^snapshots$/, /^kernel-tree-build$/, /^diff\.html$/, /^node_modules$/];

export function reservedName(name: string): boolean {
  return RESERVED.some((r) => r.test(name));
}

/** Files a report folder written before markers existed always has: such a folder is the suite's too. */
const LEGACY: Record<string, string[]> = {
  profile: ['conformance.json', 'cucumber-messages.ndjson'],
  'allure-report': ['index.html'],
  'allure-results': [],
};

/** Whether `dir` is a folder this suite created (marked), so it may be replaced. */
/** What allure-cucumberjs and the suite write into allure-results. */
const ALLURE_RESULT = /(-result\.json|-container\.json|-attachment(\.[\w-]+)?|^environment\.properties|^categories\.json|^executor\.json)$/;

export function ours(dir: string, kind: 'profile' | 'allure-report' | 'allure-results' = 'profile'): boolean {
  if (existsSync(join(dir, MARKER))) return true;
  if (kind === 'allure-results') {
    try {
      return readdirSync(dir).every((f) => ALLURE_RESULT.test(f));
    } catch {
      return false;
    }
  }
  const legacy = LEGACY[kind]!;
  return legacy.length > 0 && legacy.every((f) => existsSync(join(dir, f)));
}

export function mark(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, MARKER), 'written by npm run conformance; this folder is replaced by the next run into the same --out\n');
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Refuse, before anything runs, to replace a path at `<out>/<name>` the suite did not create. */
export function checkReplaceable(out: string, name: string, kind: 'profile' | 'allure-report' | 'allure-results' = 'profile'): void {
  const p = join(out, name);
  let st;
  try {
    st = lstatSync(p);
  } catch {
    return; // nothing there
  }
  if (!st.isDirectory() || !ours(p, kind)) {
    throw new UsageError(`${p} exists and was not written by this suite (no ${MARKER} in it): not replacing it; choose another --out or move it away`);
  }
}

/** The report files the suite writes at the top of --out. */
export const CROSS_FILES = ['summary.md', 'summary.html', 'traceability.json', 'traceability.md', 'traceability.html'];

/** Refuse, before anything runs, a folder where a report file goes (it would fail only after all the work). */
export function checkFileSlots(out: string): void {
  for (const f of CROSS_FILES) {
    const p = join(out, f);
    if (existsSync(p) && !statSync(p).isFile()) throw new UsageError(`${p} exists and is not a file: the suite writes its ${f} there; move it away or choose another --out`);
  }
}

export class OutDir {
  readonly staging: string;
  private readonly lockFile: string;
  private locked = false;

  constructor(readonly out: string) {
    this.staging = join(out, `${STAGING_PREFIX}${process.pid}`);
    this.lockFile = join(out, LOCK);
  }

  /** Take the lock on `out` (exit 2 if another live run holds it), then create the staging folder. */
  open(): void {
    if (existsSync(this.out) && !statSync(this.out).isDirectory()) throw new UsageError(`--out ${this.out} is not a folder`);
    try {
      mkdirSync(this.out, { recursive: true });
    } catch (e) {
      throw new UsageError(`--out ${this.out} cannot be created: ${(e as Error).message}`);
    }
    for (let attempt = 0; attempt < 3 && !this.locked; attempt++) {
      try {
        const fd = openSync(this.lockFile, 'wx');
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        this.locked = true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        let pid = NaN;
        try {
          pid = parseInt(readFileSync(this.lockFile, 'utf8').trim(), 10);
        } catch {
          /* vanished: try again */
        }
        if (alive(pid) && pid !== process.pid) {
          throw new UsageError(`another run (pid ${pid}) is writing reports into ${this.out} (lock ${this.lockFile}); wait for it to finish or choose another --out`);
        }
        // Stale: its run died without releasing it.
        rmSync(this.lockFile, { force: true });
      }
    }
    if (!this.locked) throw new UsageError(`could not take the lock ${this.lockFile}`);
    // Staging folders left by runs that died (their pid is gone) are ours to remove.
    for (const f of readdirSync(this.out)) {
      if (!f.startsWith(STAGING_PREFIX)) continue;
      const pid = parseInt(f.slice(STAGING_PREFIX.length), 10);
      const p = join(this.out, f);
      if (!alive(pid) && ours(p)) rmSync(p, { recursive: true, force: true });
    }
    rmSync(this.staging, { recursive: true, force: true });
    mark(this.staging);
  }

  /** Where a top-level report folder or file is staged. */
  stagePath(name: string): string {
    return join(this.staging, name);
  }

  /**
   * Move every staged entry into `out`: folders replace the suite's own folders (checked marked again),
   * files replace files. Then the staging folder goes.
   */
  publish(): void {
    const trash = join(this.staging, '.replaced');
    for (const name of readdirSync(this.staging)) {
      if (name === MARKER || name === '.replaced') continue;
      const from = join(this.staging, name);
      const to = join(this.out, name);
      if (statSync(from).isDirectory()) {
        if (existsSync(to)) {
          const kind = name === 'allure-report' || name === 'allure-results' ? name : 'profile';
          checkReplaceable(this.out, name, kind);
          mkdirSync(trash, { recursive: true });
          renameSync(to, join(trash, name));
        }
        renameSync(from, to);
      } else {
        if (existsSync(to) && statSync(to).isDirectory()) throw new Error(`${to} is a folder; cannot write the report file ${basename(to)} there`);
        renameSync(from, to);
      }
    }
    rmSync(this.staging, { recursive: true, force: true });
  }

  /** Remove the staging folder (an interrupted or failed run) and release the lock. */
  close(): void {
    if (existsSync(this.staging) && ours(this.staging)) rmSync(this.staging, { recursive: true, force: true });
    this.unlock();
  }

  unlock(): void {
    if (!this.locked) return;
    this.locked = false;
    try {
      if (parseInt(readFileSync(this.lockFile, 'utf8').trim(), 10) === process.pid) rmSync(this.lockFile, { force: true });
    } catch {
      /* already gone */
    }
  }
}

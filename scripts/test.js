#!/usr/bin/env node
// `npm test`: the type check, the unit tests, and the traceability lint then the features run, all at
// once. Unit test files run in a few bundles (one process each, two at a time): each process loads the
// suite's modules once and shares its image and scene caches, which costs far less CPU than a process per
// file. Bundles are balanced by each file's CPU cost, largest first. Output: the unit tests' as they run,
// then the type check's, the lint's and the features'. Exit status: non-zero when any part failed.
'use strict';
const { spawn } = require('child_process');
const { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } = require('fs');
const { join } = require('path');

const ROOT = join(__dirname, '..');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const t0 = Date.now();
// Six bundles two at a time packed the two cores best (74-80 s; four: 84 s; eight, or three at a time: no better).
const BUNDLES = Number(process.env.TEST_BUNDLES) || 6;
const CONCURRENCY = Number(process.env.TEST_CONCURRENCY) || 2;

// CPU seconds (user + system, with the processes a file spawns) measured on the reference machine; a
// file not listed counts 1 s. Only the balance of the bundles depends on it.
const COST = {
  mutants: 12,
  'generate-bc': 3.5,
  'generate-riscv64-loongarch64': 1.5,
  'protocol-cli': 18.7,
  'report-faulty-views': 12,
  'kernel-tree': 10.3,
  'bad-input': 7.8,
  'report-screenshot': 4,
  generate: 4.8,
  'cli-jobs': 4,
  'cli-conformance': 3.8,
  'conformance-mutants': 3.7,
  'conformance-build-validation': 3.6,
  'traceability-lint': 3.3,
  'report-folder': 3.2,
  'protocol-reference-server': 3,
  'protocol-limits': 2.5,
};

/** The unit test files in `n` bundles of about equal cost (largest file first, each to the lightest bundle). */
function bundles(n) {
  const files = readdirSync(join(ROOT, 'test')).filter((f) => f.endsWith('.test.ts'));
  const cost = (f) => COST[f.replace(/\.test\.ts$/, '')] ?? 1;
  files.sort((a, b) => cost(b) - cost(a) || (a < b ? -1 : 1));
  const out = Array.from({ length: Math.min(n, files.length) }, () => ({ load: 0, files: [] }));
  for (const f of files) {
    const b = out.reduce((least, x) => (x.load < least.load ? x : least));
    b.load += cost(f);
    b.files.push(f);
  }
  return out.sort((a, b) => b.load - a.load).map((b) => b.files);
}

/** One entry file per bundle (under node_modules/.cache), requiring its test files in turn. */
function bundleEntries() {
  const dir = join(ROOT, 'node_modules', '.cache', 'test-bundles');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return bundles(BUNDLES).map((files, i) => {
    const entry = join(dir, `bundle-${i + 1}.test.js`);
    // A file that fails to load fails as a test of its own; the bundle's other files still run.
    const body = [
      "'use strict';",
      `// ${files.length} files (scripts/test.js); its wall seconds go to bundle-${i + 1}.times for the summary line`,
      `const t0 = Date.now();`,
      `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(join(dir, `bundle-${i + 1}.times`))}, JSON.stringify({ wall: (Date.now() - t0) / 1000 })));`,
      `for (const f of ${JSON.stringify(files.map((f) => join(ROOT, 'test', f)))}) {`,
      '  try {',
      '    require(f);',
      '  } catch (e) {',
      "    require('node:test').test(`${f} loads`, () => { throw e; });",
      '  }',
      '}',
    ];
    writeFileSync(entry, body.join('\n') + '\n');
    return entry;
  });
}

// Every node process of the run (test files and the CLIs they start) gets the young generation that
// package.json's commands ask for: scenes allocate a machine's memory each, and with the default 16 MB
// semi-space scavenging takes about twice as long (see README, Speed).
const env = { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --max-semi-space-size=64`.trim() };

function run(cmd, args, buffered) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: buffered ? ['ignore', 'pipe', 'pipe'] : 'inherit' });
    let out = '';
    if (buffered) {
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
    }
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), out, s: ((Date.now() - t0) / 1000).toFixed(0) }));
  });
}

async function main() {
  const typecheck = run(NPM, ['run', '--silent', 'typecheck'], true);
  const entries = bundleEntries();
  const unit = run(process.execPath, ['-r', './scripts/ts-register.js', '--test', `--test-concurrency=${CONCURRENCY}`, '--test-reporter=spec', ...entries], false);
  const rest = (async () => {
    const lint = await run(NPM, ['run', 'lint:trace'], true);
    if (lint.code !== 0) return lint;
    const features = await run(NPM, ['run', 'features'], true);
    return { code: features.code, out: lint.out + features.out, s: features.s };
  })();
  const [u, t, r] = [await unit, await typecheck, await rest];
  process.stdout.write(t.out + r.out);
  const times = entries.map((e, i) => {
    try {
      const x = JSON.parse(readFileSync(e.replace(/\.test\.js$/, '.times'), 'utf8'));
      return `${i + 1}: ${x.wall.toFixed(0)} s`;
    } catch {
      return `${i + 1}: ?`;
    }
  });
  process.stdout.write(`\nunit test bundles, wall: ${times.join(', ')}\n`);
  const s = ((Date.now() - t0) / 1000).toFixed(0);
  const said = (x) => (x.code === 0 ? 'passed' : 'FAILED');
  process.stdout.write(`\nnpm test: type check ${said(t)} (${t.s} s); unit tests ${said(u)} (${u.s} s); traceability lint and features ${said(r)} (${r.s} s); ${s} s\n`);
  process.exit(t.code || u.code || r.code);
}
main();

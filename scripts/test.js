#!/usr/bin/env node
// `npm test`: typecheck, then the unit tests (two at a time, slowest files first so none starts
// last) beside the traceability lint and the features run, whose output is printed after the unit
// tests'. Exit status: non-zero when any part failed.
'use strict';
const { spawn, spawnSync } = require('child_process');
const { readdirSync } = require('fs');
const { join } = require('path');

const ROOT = join(__dirname, '..');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const t0 = Date.now();

// Files that take longest (CPU seconds on the reference machine), run first.
const SLOW_FIRST = [
  'mutants',
  'protocol-cli',
  'report-faulty-views',
  'kernel-tree',
  'bad-input',
  'protocol-limits',
  'report-screenshot',
  'protocol-misbehaving',
  'conformance-mutants',
];

function unitFiles() {
  const all = readdirSync(join(ROOT, 'test')).filter((f) => f.endsWith('.test.ts')).sort();
  const rank = (f) => {
    const i = SLOW_FIRST.indexOf(f.replace(/\.test\.ts$/, ''));
    return i < 0 ? SLOW_FIRST.length : i;
  };
  return all.sort((a, b) => rank(a) - rank(b)).map((f) => join('test', f));
}

const typecheck = spawnSync(NPM, ['run', '--silent', 'typecheck'], { cwd: ROOT, stdio: 'inherit' });
if (typecheck.status !== 0) process.exit(typecheck.status ?? 1);

function run(cmd, args, buffered) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: buffered ? ['ignore', 'pipe', 'pipe'] : 'inherit' });
    let out = '';
    if (buffered) {
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
    }
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), out }));
  });
}

async function main() {
  const unit = run(process.execPath, ['-r', './scripts/ts-register.js', '--test', '--test-concurrency=2', '--test-reporter=spec', ...unitFiles()], false);
  const rest = (async () => {
    const lint = await run(NPM, ['run', 'lint:trace'], true);
    if (lint.code !== 0) return lint;
    const features = await run(NPM, ['run', 'features'], true);
    return { code: features.code, out: lint.out + features.out };
  })();
  const u = await unit;
  const r = await rest;
  process.stdout.write(r.out);
  const s = ((Date.now() - t0) / 1000).toFixed(0);
  process.stdout.write(`\nnpm test: unit tests ${u.code === 0 ? 'passed' : 'FAILED'}; traceability lint and features ${r.code === 0 ? 'passed' : 'FAILED'}; ${s} s\n`);
  process.exit(u.code || r.code);
}
main();

/** The minimal harnesses from docs/maintainers.md work as documented: every walk correctly unreliable. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, it } from 'node:test';
import { join } from 'path';
import { judge } from '../src/oracle/oracle';
import { startExternalWalker } from '../src/protocol/external-walker';
import { loadSnapshot } from '../src/snapshot/io';
import { syntheticScenes } from './protocol-fixtures';

const ROOT = join(__dirname, '..');
const EX = join(ROOT, 'examples');
const ALWAYS_UNRELIABLE_CLAIMS = JSON.parse(readFileSync(join(ROOT, 'profiles', 'arm64-always-unreliable.json'), 'utf8')).claims;

/** The JS harness printed in docs/maintainers.md ("The JS one in short"), as a file. */
function docSnippet(): string {
  const doc = readFileSync(join(ROOT, 'docs', 'maintainers.md'), 'utf8');
  const m = /The JS one in short[\s\S]*?```js\n([\s\S]*?)```/.exec(doc);
  assert.ok(m, 'docs/maintainers.md no longer prints the minimal JS harness');
  const file = join(mkdtempSync(join(tmpdir(), 'doc-harness-')), 'my-unwinder.js');
  writeFileSync(file, m[1]!.replace(/^  /gm, ''));
  return file;
}
const hasPython = spawnSync('python3', ['--version']).status === 0;

for (const [name, cmd, skip] of [
  ['minimal-js', `node ${join(EX, 'minimal-js', 'always-unreliable.js')}`, false],
  ['minimal-python', `python3 ${join(EX, 'minimal-python', 'always_unreliable.py')}`, hasPython ? false : 'python3 is not installed'],
  ['docs/maintainers.md snippet', `node ${docSnippet()}`, false],
] as const) {
  describe(name, { skip }, () => {
    it('starts, answers every walk correctly-unreliable under --validate-protocol, stops', async () => {
      const w = await startExternalWalker(cmd, { validate: true });
      try {
        assert.equal(w.profile.reference, false);
        // An always-unreliable starting point declares what the always-unreliable profile does, so
        // that it is conformant as it stands (see the CLI test).
        assert.deepEqual(w.profile.claims, ALWAYS_UNRELIABLE_CLAIMS);
        for (const s of syntheticScenes(10, 77)) {
          const loaded = loadSnapshot(s.snapshot);
          const j = judge(loaded, s.truth, await w.walk(s.snapshot, loaded));
          assert.equal(j.outcome, 'correctly-unreliable', j.explanation);
          assert.match(j.explanation, /not implemented yet/);
        }
      } finally {
        await w.close();
      }
    });
  });
}

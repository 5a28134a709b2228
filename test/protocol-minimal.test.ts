/** The minimal harnesses from docs/maintainers.md work as documented: every walk correctly unreliable. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { join } from 'path';
import { judge } from '../src/oracle/oracle';
import { startExternalWalker } from '../src/protocol/external-walker';
import { loadSnapshot } from '../src/snapshot/io';
import { syntheticScenes } from './protocol-fixtures';

const EX = join(__dirname, '..', 'examples');
const hasPython = spawnSync('python3', ['--version']).status === 0;

for (const [name, cmd, skip] of [
  ['minimal-js', `node ${join(EX, 'minimal-js', 'always-unreliable.js')}`, false],
  ['minimal-python', `python3 ${join(EX, 'minimal-python', 'always_unreliable.py')}`, hasPython ? false : 'python3 is not installed'],
] as const) {
  describe(`examples/${name}`, { skip }, () => {
    it('starts, answers every walk correctly-unreliable under --validate-protocol, stops', async () => {
      const w = await startExternalWalker(cmd, { validate: true });
      try {
        assert.equal(w.profile.reference, false);
        for (const s of syntheticScenes(10, 77)) {
          const loaded = loadSnapshot(s.snapshot);
          const j = judge(loaded, s.truth, await w.walk(s.snapshot, loaded));
          assert.equal(j.outcome, 'correctly-unreliable', j.explanation);
          assert.match(j.explanation, /not implemented yet \(task synthetic\)/);
        }
      } finally {
        await w.close();
      }
    });
  });
}

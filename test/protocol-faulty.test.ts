/**
 * The deliberately faulty example (examples/faulty-trusts-lr) must be caught: across an exception
 * boundary with a stale or clobbered LR its "reliable" trace is not the true call chain.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { join } from 'path';
import { judge, type Outcome } from '../src/oracle/oracle';
import { startExternalWalker, type ExternalWalker } from '../src/protocol/external-walker';
import { loadSnapshot } from '../src/snapshot/io';
import { syntheticScenes } from './protocol-fixtures';
import { kitScenes } from './protocol-kit-scenes';

const CMD = `node ${join(__dirname, '..', 'examples', 'faulty-trusts-lr', 'unwinder.js')}`;

describe('examples/faulty-trusts-lr', () => {
  let w: ExternalWalker;
  before(async () => {
    w = await startExternalWalker(CMD, { validate: true });
  });
  after(async () => w && (await w.close()));

  it('claims to unwind across IRQs', () => {
    assert.equal(w.profile.claims.unwindsAcrossIrq, true);
    assert.equal(w.profile.claims.identifiesReliableExceptionUnwind, true);
  });

  it('is judged imprecise (duplicated / spurious caller) at IRQ boundaries with a stale or clobbered LR', async () => {
    const scenes = syntheticScenes(120, 5000, { irq: 'random', corrupt: false, instrument: false }).filter((s) => s.kind.irq);
    const seen: Record<string, Partial<Record<Outcome, number>>> = {};
    for (const s of scenes) {
      const loaded = loadSnapshot(s.snapshot);
      const j = judge(loaded, s.truth, await w.walk(s.snapshot, loaded));
      const k = s.kind.lr!;
      (seen[k] ??= {})[j.outcome] = (seen[k]![j.outcome] ?? 0) + 1;
      if (k === 'stale') {
        assert.equal(j.outcome, 'imprecise', `${s.name}: ${j.explanation}`);
        assert.match(j.explanation, /duplicated/);
      }
      if (k === 'clobbered') assert.ok(j.outcome === 'imprecise' || j.outcome === 'unsafe', `${s.name}: ${j.explanation}`);
      // With a live LR (interrupted at function entry) trusting it happens to be right.
      if (k === 'live') assert.equal(j.outcome, 'sound-reliable', `${s.name}: ${j.explanation}`);
    }
    console.log(`# faulty on IRQ scenes by LR state: ${JSON.stringify(seen)}`);
    assert.ok(seen['stale'] && seen['clobbered'] && seen['live']);
  });

  it('is sound where no exception boundary is crossed (the fault is specific)', async () => {
    for (const s of syntheticScenes(40, 7000, { irq: 'none', corrupt: false }).filter((x) => !x.kind.nonStandard)) {
      const loaded = loadSnapshot(s.snapshot);
      const j = judge(loaded, s.truth, await w.walk(s.snapshot, loaded));
      assert.equal(j.outcome, 'sound-reliable', `${s.name}: ${j.explanation}`);
    }
  });

  it('is caught on kit IRQ sweeps (imprecise or unsafe somewhere)', async (t) => {
    const scenes = kitScenes('arm64');
    const bad = [];
    for (const s of scenes.filter((x) => x.label.startsWith('sweep'))) {
      const loaded = loadSnapshot(s.snapshot);
      const j = judge(loaded, s.truth, await w.walk(s.snapshot, loaded));
      if (j.outcome === 'imprecise' || j.outcome === 'unsafe') bad.push(`${s.label}: ${j.explanation}`);
    }
    console.log(`# faulty caught on ${bad.length} kit sweep moments, e.g. ${bad[0]}`);
    assert.ok(bad.length > 0);
  });
});

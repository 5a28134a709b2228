/**
 * The mutants' patchable walkers (src/mutants/*-walker.ts) with every knob off walk exactly as the
 * reference unwinders they copy: same rc, same trace, same reads, on the kits' scenes (blocked
 * tasks, sweeps, tracing, corruption). So a mutant differs from its base by its one knob only.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { walkArm64 } from '../src/mutants/arm64-walker';
import { walkOrcMutant } from '../src/mutants/x86_64-walker';
import { loadSnapshot } from '../src/snapshot/io';
import { builtinProfile } from '../src/unwinders/profiles';
import { referenceUnwinder, walkInProcess } from '../src/unwinders/registry';
import type { Unwinder } from '../src/unwinders/types';
import { kitScenes } from './protocol-kit-scenes';

function same(name: string, arch: 'arm64' | 'x86_64', ref: Unwinder, copy: Unwinder): void {
  const scenes = kitScenes(arch, { sweepLimit: 40 });
  assert.ok(scenes.length > 50, `${scenes.length} scenes`);
  let reliable = 0;
  for (const s of scenes) {
    const loaded = loadSnapshot(s.snapshot);
    const a = walkInProcess(ref, loaded);
    const b = walkInProcess(copy, loaded);
    assert.deepEqual(
      { rc: b.result?.rc, trace: b.result?.trace, reads: (b.accesses ?? []).map((x) => x.addr), runaway: !!b.runaway, error: b.error },
      { rc: a.result?.rc, trace: a.result?.trace, reads: (a.accesses ?? []).map((x) => x.addr), runaway: !!a.runaway, error: a.error },
      `${name}: ${s.label}`,
    );
    if (a.result?.rc === 0) reliable++;
  }
  assert.ok(reliable > 0, `${name}: some walks are reliable`);
}

test('arm64 walker, knobs off, kind fp = arm64-fp', () => {
  same('arm64-fp', 'arm64', referenceUnwinder(builtinProfile('arm64-fp')), { name: 'copy', walk: (i) => walkArm64(i, { kind: 'fp' }) });
});

test('arm64 walker, knobs off, kind meta = arm64-meta (NMI policy reject and unwind)', () => {
  same('arm64-meta', 'arm64', referenceUnwinder(builtinProfile('arm64-meta')), { name: 'copy', walk: (i) => walkArm64(i, { kind: 'meta', nmiPolicy: 'reject' }) });
  same('arm64-meta-nmi', 'arm64', referenceUnwinder(builtinProfile('arm64-meta-nmi')), { name: 'copy', walk: (i) => walkArm64(i, { kind: 'meta', nmiPolicy: 'unwind' }) });
});

test('x86_64 ORC walker, knobs off = x86_64-orc', () => {
  same('x86_64-orc', 'x86_64', referenceUnwinder(builtinProfile('x86_64-orc')), { name: 'copy', walk: (i) => walkOrcMutant(i, {}) });
});

/** Reference unwinders by profile name, and the in-process walk harness. */
import { resolve } from 'path';
import { AccessBudgetExceeded, MonitoredMemory } from '../machine/memory';
import type { WalkRecord } from '../oracle/oracle';
import type { LoadedSnapshot } from '../snapshot/io';
import type { Profile, Unwinder } from './types';

type Factory = (profile: Profile) => Unwinder;

const factories: Record<string, () => Factory> = {
  'frame-pointer:arm64': () => require('./arm64-fp').create,
  'metadata:arm64': () => require('./arm64-meta').create,
  'orc:x86_64': () => require('./x86_64-orc').create,
  'frame-pointer:x86_64': () => require('./x86_64-fp').create,
  'always-unreliable:arm64': () => require('./always-unreliable').create,
  'always-unreliable:x86_64': () => require('./always-unreliable').create,
  'frame-pointer:riscv64': () => require('./riscv64-fp').create,
  'always-unreliable:riscv64': () => require('./always-unreliable').create,
  'orc:loongarch64': () => require('./loongarch64-orc').create,
  'always-unreliable:loongarch64': () => require('./always-unreliable').create,
  'back-chain:s390x': () => require('./s390x-bc').create,
  'always-unreliable:s390x': () => require('./always-unreliable').create,
  'back-chain:powerpc64': () => require('./powerpc64-bc').create,
  'always-unreliable:powerpc64': () => require('./always-unreliable').create,
};

/**
 * The unwinder for a profile: a reference one by kind, or an in-process module of one's own with
 * `"unwinder": "module:<path>"` (a .ts/.js file exporting `create(profile): Unwinder`).
 */
export function referenceUnwinder(profile: Profile): Unwinder {
  if (profile.unwinder.startsWith('module:')) {
    const mod = require(resolve(profile.unwinder.slice('module:'.length))) as { create?: Factory };
    if (typeof mod.create !== 'function') throw new Error(`profile ${profile.name}: ${profile.unwinder} does not export create()`);
    return mod.create(profile);
  }
  const f = factories[`${profile.unwinder}:${profile.arch}`];
  if (!f) throw new Error(`profile ${profile.name}: no reference unwinder of kind ${profile.unwinder} for ${profile.arch}`);
  return f()(profile);
}

/** Memory reads allowed per walk before it is judged runaway. */
export const READ_BUDGET = 20_000;

/** Run an in-process unwinder on a loaded snapshot, with every read monitored and bounded. */
export function walkInProcess(unwinder: Unwinder, snap: LoadedSnapshot, budget = READ_BUDGET): WalkRecord {
  const mem = new MonitoredMemory(snap.mem, budget);
  try {
    const result = unwinder.walk({ snap, mem });
    // A module: unwinder is user code: an answer the oracle cannot read is an error, not a verdict.
    if (!result || !Number.isInteger(result.rc) || !Array.isArray(result.trace) || !result.trace.every((a) => Number.isSafeInteger(a) && a >= 0)) {
      return { error: `unwinder ${unwinder.name} answered garbage: ${JSON.stringify(result)?.slice(0, 200)}`, accesses: mem.accesses };
    }
    return { result, accesses: mem.accesses };
  } catch (e) {
    if (e instanceof AccessBudgetExceeded) return { runaway: e.message, accesses: mem.accesses };
    return { error: `unwinder threw: ${(e as Error).stack ?? String(e)}`, accesses: mem.accesses };
  }
}

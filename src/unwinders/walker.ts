/**
 * A Walker judges-ready walk of a scene: the in-process reference unwinder, or an external
 * unwinder reached through the plugin protocol (src/protocol). Steps only see this interface.
 */
import type { WalkRecord } from '../oracle/oracle';
import type { LoadedSnapshot } from '../snapshot/io';
import type { Snapshot } from '../snapshot/types';
import { referenceUnwinder, walkInProcess } from './registry';
import type { Profile, Unwinder } from './types';

export interface Walker {
  readonly profile: Profile;
  /** Walk the task in `snapshot`; `loaded` is the same snapshot already loaded (in-process walkers use it). */
  walk(snapshot: Snapshot, loaded: LoadedSnapshot): Promise<WalkRecord>;
  close(): Promise<void>;
}

export class InProcessWalker implements Walker {
  private readonly unwinder: Unwinder;
  constructor(readonly profile: Profile) {
    this.unwinder = referenceUnwinder(profile);
  }
  async walk(_snapshot: Snapshot, loaded: LoadedSnapshot): Promise<WalkRecord> {
    return walkInProcess(this.unwinder, loaded);
  }
  /** Synchronous walk, for sweeps and unit tests. */
  walkSync(loaded: LoadedSnapshot): WalkRecord {
    return walkInProcess(this.unwinder, loaded);
  }
  async close(): Promise<void> {}
}

/** The Cucumber world: holds the scenario's session (the scene) and delegates everything to src/. */
import { setDefaultTimeout, setWorldConstructor, World, type IWorldOptions } from '@cucumber/cucumber';
import { ConformanceSession, NotApplicable, type ScenarioMeta, type WorldParameters } from '../../src/conformance/session';
import type { Corruption, ExceptionKind, Workload } from '../../src/scene/types';

// Sweeps walk hundreds of scenes; external unwinders have their own per-walk timeout.
setDefaultTimeout(600_000);

export class ConformanceWorld extends World<WorldParameters> {
  session!: ConformanceSession;

  constructor(options: IWorldOptions<WorldParameters>) {
    super(options);
  }

  begin(meta: ScenarioMeta): 'skipped' | undefined {
    this.session = new ConformanceSession(this.parameters, meta);
    const reason = this.session.notApplicableReason();
    if (reason === undefined) return undefined;
    this.session.markNotApplicable(reason);
    return 'skipped';
  }

  /** Run a scene step; a scene this profile's arch cannot build makes the scenario not applicable. */
  private scene(f: () => void): 'skipped' | undefined {
    try {
      f();
      return undefined;
    } catch (e) {
      if (!(e instanceof NotApplicable)) throw e;
      this.session.markNotApplicable(e.message);
      return 'skipped';
    }
  }

  workload(w: Workload) {
    return this.scene(() => this.session.useWorkload(w));
  }
  generated(docstring: string) {
    return this.scene(() => this.session.useGenerated(docstring));
  }
  specExample(name: string, docstring: string) {
    return this.scene(() => this.session.useSpecExample(name, docstring));
  }
  archExample(name: string, docstring: string) {
    return this.scene(() => this.session.useArchExample(name, docstring));
  }
  sweep(kind: ExceptionKind, fn?: string) {
    this.session.everyBoundary(kind, fn ? [fn] : undefined);
  }
  corrupt(c: Corruption) {
    this.session.corrupt(c);
  }
}

setWorldConstructor(ConformanceWorld);

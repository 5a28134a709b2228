/** Per-scenario session: applicability before, one result line after. */
import { After, Before } from '@cucumber/cucumber';
import type { ConformanceWorld } from './world';

Before(function (this: ConformanceWorld, { pickle }) {
  return this.begin({ name: pickle.name, uri: pickle.uri, tags: pickle.tags.map((t) => t.name) });
});

After(function (this: ConformanceWorld, { result }) {
  if (this.session) this.session.writeResult(this.session.result(result?.status ?? 'UNKNOWN', result?.message));
});

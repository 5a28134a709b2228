/** One worker thread of `npm run conformance --jobs N`: judges its group of profiles and posts the results back. */
import { parentPort, workerData } from 'worker_threads';
import { applicability } from '../src/catalogue/catalogue';
import type { Requirement } from '../src/catalogue/types';
import { SchemaError } from '../src/schema/validate';
import { judgeGroup, type Numbered } from './conformance';
import type { CliOptions } from './options';
import { UsageError } from './options';

const d = workerData as { items: Numbered[]; total: number; stage: string; o: CliOptions; requirements: Requirement[]; catalogued: boolean };
// The catalogue the main thread loaded (and validated), not loaded again.
const cat = { requirements: d.requirements, ...(d.catalogued ? { applies: applicability } : {}) };
judgeGroup(d.items, d.total, d.stage, d.o, cat).then(
  (judged) => parentPort!.postMessage({ judged }),
  (e: unknown) => parentPort!.postMessage({ error: (e as Error).message ?? String(e), usage: e instanceof UsageError || e instanceof SchemaError }),
);

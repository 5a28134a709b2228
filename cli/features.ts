/** Every scenario written in features/, with its @id:, @req: and @topic: tags (for traceability). */
import { generateMessages } from '@cucumber/gherkin';
import { SourceMediaType, IdGenerator } from '@cucumber/messages';
import { existsSync, readdirSync, readFileSync, statSync } from 'fs';
import { join, relative } from 'path';
import type { CatalogueScenario } from '../src/report/traceability';

function featureFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? featureFiles(p) : f.endsWith('.feature') ? [p] : [];
    })
    .sort();
}

export const tagValue = (tags: readonly string[], key: string): string | undefined =>
  tags.find((t) => t.startsWith(`@${key}:`))?.slice(key.length + 2);

/** Parse the features into pickles (tags inherited from Feature / Rule / Examples). */
export function catalogueScenarios(featuresDir: string, root = process.cwd()): CatalogueScenario[] {
  const out: CatalogueScenario[] = [];
  for (const file of featureFiles(featuresDir)) {
    const uri = relative(root, file).split('\\').join('/');
    const envs = generateMessages(readFileSync(file, 'utf8'), uri, SourceMediaType.TEXT_X_CUCUMBER_GHERKIN_PLAIN, {
      includeSource: false,
      includeGherkinDocument: false,
      includePickles: true,
      newId: IdGenerator.incrementing(),
    });
    for (const e of envs) {
      const p = e.pickle;
      if (!p) continue;
      const tags = p.tags.map((t) => t.name);
      const requirement = tagValue(tags, 'req');
      if (!requirement) continue;
      const topic = tagValue(tags, 'topic');
      out.push({ id: tagValue(tags, 'id') ?? `${uri}:${p.name}`, name: p.name, uri, requirement, ...(topic ? { topic } : {}) });
    }
  }
  return out;
}

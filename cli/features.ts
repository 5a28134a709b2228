/** Every scenario written in features/, with its @id:, @req: and @topic: tags (for traceability). */
import { formatProblems, parseFeature, walkFiles, type LintProblem } from '../src/catalogue/lint';
import type { CatalogueScenario } from '../src/report/traceability';

export const tagValue = (tags: readonly string[], key: string): string | undefined =>
  tags.find((t) => t.startsWith(`@${key}:`))?.slice(key.length + 2);

/** Every scenario's tags (inherited from Feature / Rule / Examples), to check that a filter selects something. */
export function featureTags(featuresDir: string, root = process.cwd()): string[][] {
  const problems: LintProblem[] = [];
  const out = walkFiles(featuresDir, '.feature').flatMap((file) => (parseFeature(file, root, problems)?.pickles ?? []).map((p) => p.tags.map((t) => t.name)));
  if (problems.length) throw new Error(`cannot read the features:\n${formatProblems(problems)}`);
  return out;
}

/** Parse the features into pickles (tags inherited from Feature / Rule / Examples), as the lint does. */
export function catalogueScenarios(featuresDir: string, root = process.cwd()): CatalogueScenario[] {
  const out: CatalogueScenario[] = [];
  const problems: LintProblem[] = [];
  for (const file of walkFiles(featuresDir, '.feature')) {
    const f = parseFeature(file, root, problems);
    for (const p of f?.pickles ?? []) {
      const tags = p.tags.map((t) => t.name);
      const requirement = tagValue(tags, 'req');
      if (!requirement) continue;
      const topic = tagValue(tags, 'topic');
      out.push({ id: tagValue(tags, 'id') ?? `${f!.file}:${p.name}`, name: p.name, uri: f!.file, requirement, ...(topic ? { topic } : {}) });
    }
  }
  if (problems.length) throw new Error(`cannot read the features:\n${formatProblems(problems)}`);
  return out;
}

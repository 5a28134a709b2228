/**
 * Traceability lint: every requirement has scenarios (unless review-only with a reason), every
 * scenario names exactly one known requirement with its level, stable unique example IDs, and
 * every step is defined by exactly one thin step definition, with no definition left unused.
 * Features are compiled to pickles with @cucumber/gherkin (tags inherited from Feature and Rule).
 */
import { AstBuilder, compile, GherkinClassicTokenMatcher, Parser } from '@cucumber/gherkin';
import { IdGenerator, type GherkinDocument, type Pickle } from '@cucumber/messages';
import { CucumberExpression, ParameterType, ParameterTypeRegistry } from '@cucumber/cucumber-expressions';
import { readdirSync, readFileSync, statSync } from 'fs';
import { join, relative } from 'path';
import type * as TS from 'typescript';
import { loadCatalogue } from './catalogue';
import type { Requirement } from './types';
import { TOPICS } from './types';
import { ARCHES } from '../snapshot/types';

export interface LintProblem {
  file: string;
  line: number;
  message: string;
}

export interface LintOptions {
  /** Repository root; paths in problems are relative to it. */
  root: string;
  catalogueFile?: string;
  featuresDir?: string;
  stepsDir?: string;
}

export interface StepDefinition {
  keyword: string;
  pattern: string;
  file: string;
  line: number;
  statements: number;
  callsWorld: boolean;
  expression?: CucumberExpression;
}

export interface ScenarioInfo {
  id: string | undefined;
  name: string;
  file: string;
  line: number;
  requirement: string | undefined;
  tags: string[];
}

export interface LintReport {
  problems: LintProblem[];
  requirements: Requirement[];
  scenarios: ScenarioInfo[];
  stepDefinitions: StepDefinition[];
}

const LEVELS = ['must', 'should', 'may'] as const;
const STEP_KEYWORDS = new Set(['Given', 'When', 'Then']);

export function walkFiles(dir: string, ext: string): string[] {
  let out: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return out;
  }
  for (const n of names) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) out = out.concat(walkFiles(p, ext));
    else if (n.endsWith(ext)) out.push(p);
  }
  return out;
}

// ------------------------------------------------------------------ step definitions

/** The TypeScript compiler, loaded only when step files are read (it takes a while to load). */
const typescript = (): typeof TS => require('typescript') as typeof TS;

/** Step definitions and custom parameter types, read from the step files' syntax (no Cucumber runtime). */
export function readStepDefinitions(stepsDir: string, root: string, problems: LintProblem[]): { defs: StepDefinition[]; registry: ParameterTypeRegistry } {
  const registry = new ParameterTypeRegistry();
  const defs: StepDefinition[] = [];
  const ts = typescript();
  for (const file of walkFiles(stepsDir, '.ts')) {
    const rel = relative(root, file);
    const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
    const lineOf = (n: TS.Node) => src.getLineAndCharacterOfPosition(n.getStart(src)).line + 1;
    const visit = (node: TS.Node): void => {
      if (ts.isCallExpression(node) && ts.isIdentifier(node.expression)) {
        const callee = node.expression.text;
        if (callee === 'defineParameterType') readParameterType(node, rel, lineOf(node), registry, problems);
        if (STEP_KEYWORDS.has(callee)) {
          const [pat, fn] = node.arguments;
          if (!pat || !(ts.isStringLiteral(pat) || ts.isNoSubstitutionTemplateLiteral(pat))) {
            problems.push({ file: rel, line: lineOf(node), message: `${callee}() must be given a string pattern (Cucumber expression)` });
          } else if (!fn || !(ts.isFunctionExpression(fn) || ts.isArrowFunction(fn))) {
            problems.push({ file: rel, line: lineOf(node), message: `${callee}('${pat.text}') must be given an inline function` });
          } else {
            const body = fn.body;
            const statements = ts.isBlock(body) ? body.statements.length : 1;
            let callsWorld = false;
            const findThis = (n: TS.Node): void => {
              if (n.kind === ts.SyntaxKind.ThisKeyword) callsWorld = true;
              else ts.forEachChild(n, findThis);
            };
            findThis(body);
            defs.push({ keyword: callee, pattern: pat.text, file: rel, line: lineOf(node), statements, callsWorld });
          }
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(src);
  }
  for (const d of defs) {
    try {
      d.expression = new CucumberExpression(d.pattern, registry);
    } catch (e) {
      problems.push({ file: d.file, line: d.line, message: `step pattern "${d.pattern}" is not a valid Cucumber expression: ${(e as Error).message.split('\n')[0]}` });
    }
    if (d.statements > 2) problems.push({ file: d.file, line: d.line, message: `step "${d.pattern}" has ${d.statements} statements: steps must be thin (at most 2), with the logic in src/` });
    if (!d.callsWorld) problems.push({ file: d.file, line: d.line, message: `step "${d.pattern}" does not call into the world (this.…): steps must delegate to the world / src` });
  }
  return { defs, registry };
}

function readParameterType(node: TS.CallExpression, file: string, line: number, registry: ParameterTypeRegistry, problems: LintProblem[]): void {
  const ts = typescript();
  const arg = node.arguments[0];
  let name: string | undefined;
  let regexp: RegExp | undefined;
  if (arg && ts.isObjectLiteralExpression(arg)) {
    for (const p of arg.properties) {
      if (!ts.isPropertyAssignment(p) || !ts.isIdentifier(p.name)) continue;
      if (p.name.text === 'name' && ts.isStringLiteral(p.initializer)) name = p.initializer.text;
      if (p.name.text === 'regexp' && ts.isRegularExpressionLiteral(p.initializer)) {
        const m = /^\/(.*)\/([a-z]*)$/s.exec(p.initializer.text);
        if (m) regexp = new RegExp(m[1]!, m[2]);
      }
    }
  }
  if (!name || !regexp) {
    problems.push({ file, line, message: 'defineParameterType() needs a literal { name: "...", regexp: /.../ } so the lint can read it' });
    return;
  }
  registry.defineParameterType(new ParameterType(name, regexp, String, (s: string) => s, true, false));
}

// ------------------------------------------------------------------ features

interface ParsedFeature {
  file: string;
  doc: GherkinDocument;
  pickles: readonly Pickle[];
  /** AST node id -> line. */
  lines: Map<string, number>;
}

export function parseFeature(file: string, root: string, problems: LintProblem[]): ParsedFeature | undefined {
  const rel = relative(root, file);
  const newId = IdGenerator.incrementing();
  const parser = new Parser(new AstBuilder(newId), new GherkinClassicTokenMatcher());
  let doc: GherkinDocument;
  try {
    doc = parser.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    const m = /\((\d+):\d+\)/.exec((e as Error).message);
    problems.push({ file: rel, line: m ? Number(m[1]) : 1, message: `Gherkin parse error: ${(e as Error).message.split('\n')[0]}` });
    return undefined;
  }
  const lines = new Map<string, number>();
  const note = (n: unknown): void => {
    if (!n || typeof n !== 'object') return;
    const o = n as { id?: unknown; location?: { line: number } };
    if (typeof o.id === 'string' && o.location) lines.set(o.id, o.location.line);
    for (const v of Object.values(n)) {
      if (Array.isArray(v)) v.forEach(note);
      else if (v && typeof v === 'object') note(v);
    }
  };
  note(doc.feature);
  const pickles = compile(doc, rel, newId);
  return { file: rel, doc, pickles, lines };
}

// ------------------------------------------------------------------ the lint

function catalogueLines(file: string): Map<string, number> {
  const m = new Map<string, number>();
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((l, i) => {
      const r = /^- id:\s*(\S+)/.exec(l);
      if (r) m.set(r[1]!, i + 1);
    });
  return m;
}

export function lintTraceability(opts: LintOptions): LintReport {
  const root = opts.root;
  const catalogueFile = opts.catalogueFile ?? join(root, 'src', 'catalogue', 'requirements.yaml');
  const featuresDir = opts.featuresDir ?? join(root, 'features');
  const stepsDir = opts.stepsDir ?? join(root, 'steps');
  const problems: LintProblem[] = [];
  const catRel = relative(root, catalogueFile);

  let requirements: Requirement[] = [];
  try {
    requirements = loadCatalogue(catalogueFile);
  } catch (e) {
    problems.push({ file: catRel, line: 1, message: (e as Error).message });
  }
  const byId = new Map(requirements.map((r) => [r.id, r]));
  const reqLines = catalogueLines(catalogueFile);

  const { defs } = readStepDefinitions(stepsDir, root, problems);
  const used = new Set<StepDefinition>();

  const scenarios: ScenarioInfo[] = [];
  const ids = new Map<string, string>();
  /** requirement -> where its Rule is: one Rule per requirement, and @req: / level tags only on Rules. */
  const ruleOf = new Map<string, string>();
  const featureFiles = walkFiles(featuresDir, '.feature');
  if (!featureFiles.length) problems.push({ file: relative(root, featuresDir), line: 1, message: 'no .feature files' });

  for (const file of featureFiles) {
    const f = parseFeature(file, root, problems);
    if (!f || !f.doc.feature) continue;
    const featureTags = f.doc.feature.tags.map((t) => t.name);
    const topics = featureTags.filter((t) => t.startsWith('@topic:')).map((t) => t.slice(7));
    const featureLine = f.doc.feature.location.line;
    if (topics.length !== 1) problems.push({ file: f.file, line: featureLine, message: `a feature needs exactly one @topic: tag (has ${topics.length})` });
    for (const t of topics) if (!(TOPICS as readonly string[]).includes(t)) problems.push({ file: f.file, line: featureLine, message: `unknown topic @topic:${t}` });
    const folder = f.file.split(/[\\/]/).slice(-2)[0];
    if (topics.length === 1 && folder !== topics[0]) problems.push({ file: f.file, line: featureLine, message: `@topic:${topics[0]} feature lives in features/${folder}/` });

    for (const t of featureTags.filter((x) => x.startsWith('@req:') || (LEVELS as readonly string[]).includes(x.slice(1)))) {
      problems.push({ file: f.file, line: featureLine, message: `${t} belongs on a Rule, not on the Feature` });
    }
    for (const child of f.doc.feature.children) {
      if (child.scenario) {
        problems.push({ file: f.file, line: child.scenario.location.line, message: `scenario "${child.scenario.name}" is outside a Rule: one Rule per requirement` });
        continue;
      }
      const rule = child.rule;
      if (!rule) continue;
      const ruleReqs = rule.tags.filter((t) => t.name.startsWith('@req:')).map((t) => t.name.slice(5));
      const where = `${f.file}:${rule.location.line}`;
      if (ruleReqs.length !== 1) problems.push({ file: f.file, line: rule.location.line, message: `Rule "${rule.name}" needs exactly one @req: tag (has ${ruleReqs.length})` });
      for (const r of ruleReqs) {
        const prev = ruleOf.get(r);
        if (prev) problems.push({ file: f.file, line: rule.location.line, message: `a second Rule for @req:${r} (the first is at ${prev}): one Rule per requirement` });
        else ruleOf.set(r, where);
      }
      for (const c of rule.children) {
        const sc = c.scenario;
        if (!sc) continue;
        const own = [...sc.tags, ...sc.examples.flatMap((e) => e.tags)].map((t) => t.name);
        for (const t of own.filter((x) => x.startsWith('@req:') || (LEVELS as readonly string[]).includes(x.slice(1)))) {
          problems.push({ file: f.file, line: sc.location.line, message: `scenario "${sc.name}" carries ${t}: requirement and level tags belong on its Rule` });
        }
      }
    }

    for (const p of f.pickles) {
      const tags = p.tags.map((t) => t.name);
      const line = f.lines.get(p.astNodeIds[0]!) ?? 1;
      const reqs = tags.filter((t) => t.startsWith('@req:')).map((t) => t.slice(5));
      const idTags = tags.filter((t) => t.startsWith('@id:')).map((t) => t.slice(4));
      const levels = tags.filter((t) => (LEVELS as readonly string[]).includes(t.slice(1)));
      const where = `scenario "${p.name}"`;
      scenarios.push({ id: idTags[0], name: p.name, file: f.file, line, requirement: reqs.length === 1 ? reqs[0] : undefined, tags });

      if (reqs.length === 0) problems.push({ file: f.file, line, message: `${where} has no @req: tag` });
      if (reqs.length > 1) problems.push({ file: f.file, line, message: `${where} has several @req: tags (${reqs.join(', ')}): one requirement per scenario` });
      for (const r of reqs) {
        const req = byId.get(r);
        if (!req) {
          problems.push({ file: f.file, line, message: `${where} names unknown requirement @req:${r}` });
          continue;
        }
        if (levels.length !== 1) problems.push({ file: f.file, line, message: `${where} needs exactly one level tag (@must/@should/@may); catalogue says @${req.level}` });
        else if (levels[0] !== `@${req.level}`) problems.push({ file: f.file, line, message: `${where} is tagged ${levels[0]} but ${r} is @${req.level} in the catalogue` });
        if (topics.length === 1 && req.topic !== topics[0]) problems.push({ file: f.file, line, message: `${where}: requirement ${r} belongs to topic ${req.topic}, not ${topics[0]}` });
      }
      if (idTags.length === 0) problems.push({ file: f.file, line, message: `${where} has no @id: tag` });
      if (idTags.length > 1) problems.push({ file: f.file, line, message: `${where} has several @id: tags (${idTags.join(', ')})` });
      for (const id of idTags) {
        if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(id)) problems.push({ file: f.file, line, message: `@id:${id} is not a lower-case slug` });
        const prev = ids.get(id);
        if (prev) problems.push({ file: f.file, line, message: `duplicate @id:${id} (also at ${prev})` });
        else ids.set(id, `${f.file}:${line}`);
      }
      for (const a of tags.filter((t) => t.startsWith('@arch:'))) {
        if (!(ARCHES as readonly string[]).includes(a.slice(6))) problems.push({ file: f.file, line, message: `${where}: unknown ${a} (known: ${ARCHES.join(', ')})` });
      }

      for (const s of p.steps) {
        const sline = f.lines.get(s.astNodeIds[0]!) ?? line;
        const matches = defs.filter((d) => d.expression && d.expression.match(s.text) !== null);
        if (matches.length === 0) problems.push({ file: f.file, line: sline, message: `undefined step: "${s.text}"` });
        else if (matches.length > 1) problems.push({ file: f.file, line: sline, message: `ambiguous step "${s.text}": ${matches.map((m) => `${m.file}:${m.line}`).join(', ')}` });
        matches.forEach((m) => used.add(m));
      }
    }
  }

  for (const d of defs) if (!used.has(d)) problems.push({ file: d.file, line: d.line, message: `unused step definition: "${d.pattern}"` });

  for (const r of requirements) {
    const n = scenarios.filter((s) => s.requirement === r.id).length;
    if (n === 0 && r.testability !== 'review-only') problems.push({ file: catRel, line: reqLines.get(r.id) ?? 1, message: `requirement ${r.id} (${r.testability}) has no scenario` });
    if (r.testability === 'review-only' && !r.reviewOnlyReason) problems.push({ file: catRel, line: reqLines.get(r.id) ?? 1, message: `requirement ${r.id} is review-only without a reason` });
  }

  return { problems, requirements, scenarios, stepDefinitions: defs };
}

export function formatProblems(problems: LintProblem[]): string {
  return problems.map((p) => `${p.file}:${p.line}: ${p.message}`).join('\n');
}

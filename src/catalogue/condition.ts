/**
 * Requirement conditions: a tiny, safe expression language over a profile.
 *   expr := or ; or := and ('||' and)* ; and := unary ('&&' unary)* ; unary := '!' unary | '(' expr ')' | atom
 *   atom := claims.<name> | arch.<name> (ARCH_FACTS) | profile.arch == 'arm64' | true | false
 * No evaluation of JavaScript; unknown names are errors that name the requirement.
 */
import type { Profile } from '../unwinders/types';
import { ARCH_FACTS } from '../unwinders/types';

export class ConditionError extends Error {}

type Node =
  | { k: 'lit'; v: boolean }
  | { k: 'claim'; name: string }
  | { k: 'fact'; name: string }
  | { k: 'arch'; op: '==' | '!='; value: string }
  | { k: 'not'; e: Node }
  | { k: 'and' | 'or'; a: Node; b: Node };

const CLAIMS = [
  'unwindsAcrossIrq', 'unwindsAcrossNmi', 'identifiesReliableExceptionUnwind', 'recoversFgraphReturns',
  'recoversKretprobeReturns', 'unwindsInsideReturnToHandler', 'usesCompileTimeAnalysis', 'usesUnwindMetadata', 'checksTermination',
] as const;
const FACTS = Object.keys(ARCH_FACTS.arm64);
const ARCHES = Object.keys(ARCH_FACTS);

const TOKEN = /\s*(\|\||&&|==|!=|!|\(|\)|'[^']*'|"[^"]*"|[A-Za-z_][\w.]*)/y;

function tokenize(src: string, owner: string): string[] {
  const out: string[] = [];
  TOKEN.lastIndex = 0;
  let pos = 0;
  while (pos < src.length) {
    if (/^\s*$/.test(src.slice(pos))) break;
    TOKEN.lastIndex = pos;
    const m = TOKEN.exec(src);
    if (!m) throw new ConditionError(`${owner}: condition "${src}": unexpected character at ${pos}: "${src.slice(pos, pos + 10)}"`);
    out.push(m[1]!);
    pos = TOKEN.lastIndex;
  }
  return out;
}

/** Parse a condition; errors name `owner` (the requirement ID). */
export function parseCondition(src: string, owner = 'condition'): Node {
  const toks = tokenize(src, owner);
  let i = 0;
  const fail = (msg: string): never => {
    throw new ConditionError(`${owner}: condition "${src}": ${msg}`);
  };
  const peek = () => toks[i];
  const next = () => toks[i++];
  const or = (): Node => {
    let a = and();
    while (peek() === '||') {
      next();
      a = { k: 'or', a, b: and() };
    }
    return a;
  };
  const and = (): Node => {
    let a = unary();
    while (peek() === '&&') {
      next();
      a = { k: 'and', a, b: unary() };
    }
    return a;
  };
  const unary = (): Node => {
    const t = next();
    if (t === undefined) return fail('unexpected end');
    if (t === '!') return { k: 'not', e: unary() };
    if (t === '(') {
      const e = or();
      if (next() !== ')') fail('missing ")"');
      return e;
    }
    if (t === 'true' || t === 'false') return { k: 'lit', v: t === 'true' };
    if (t.startsWith('claims.')) {
      const name = t.slice(7);
      if (!(CLAIMS as readonly string[]).includes(name)) fail(`unknown claim "${name}" (known: ${CLAIMS.join(', ')})`);
      return { k: 'claim', name };
    }
    if (t.startsWith('arch.')) {
      const name = t.slice(5);
      if (!FACTS.includes(name)) fail(`unknown arch fact "${name}" (known: ${FACTS.join(', ')})`);
      return { k: 'fact', name };
    }
    if (t === 'profile.arch') {
      const op = next();
      if (op !== '==' && op !== '!=') return fail('profile.arch must be compared with == or !=');
      const v = next();
      if (!v || !/^['"].*['"]$/.test(v)) return fail('profile.arch must be compared with a quoted arch name');
      const value = v.slice(1, -1);
      if (!ARCHES.includes(value)) fail(`unknown arch '${value}'`);
      return { k: 'arch', op, value };
    }
    return fail(`unexpected "${t}"`);
  };
  const e = or();
  if (i < toks.length) fail(`unexpected "${toks[i]}"`);
  return e;
}

function evalNode(n: Node, p: Profile): boolean {
  switch (n.k) {
    case 'lit':
      return n.v;
    case 'claim':
      return (p.claims as unknown as Record<string, boolean>)[n.name] === true;
    case 'fact':
      return (ARCH_FACTS[p.arch] as unknown as Record<string, boolean>)[n.name] === true;
    case 'arch':
      return (p.arch === n.value) === (n.op === '==');
    case 'not':
      return !evalNode(n.e, p);
    case 'and':
      return evalNode(n.a, p) && evalNode(n.b, p);
    case 'or':
      return evalNode(n.a, p) || evalNode(n.b, p);
  }
}

/** Evaluate a requirement's condition for a profile; an absent condition is true. */
export function evaluateCondition(condition: string | undefined, profile: Profile, owner = 'condition'): boolean {
  if (condition === undefined) return true;
  return evalNode(parseCondition(condition, owner), profile);
}

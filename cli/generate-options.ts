/** Option parsers of --generate / --seed (kept apart from cli/generated.ts, which loads the machine). */
import { InvalidArgumentError } from 'commander';
import { parseDuration } from '../src/generate/budget';

/** --generate: 1 … 100000 programs per arch. */
export const generateCount = (v: string): number => {
  const n = /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 100_000) throw new InvalidArgumentError('expected a whole number of generated programs from 1 to 100000');
  return n;
};

/** --seed: a whole number 0 … 2^32-1. */
export const generateSeed = (v: string): number => {
  const n = /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new InvalidArgumentError('expected a whole number from 0 to 4294967295');
  return n;
};

/** --time-budget: a duration (60s, 10m, 1h; a bare number is seconds). */
export const timeBudget = (v: string): number => {
  try {
    return parseDuration(v);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
};

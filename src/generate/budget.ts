/**
 * Time budgets for generated runs (`--time-budget 60s`, `10m`, `2h`, or milliseconds as `500ms`): a
 * budgeted run judges whole programs in seed order until the budget is spent, so a seed gives the same
 * scenes on any machine and a slower machine judges a prefix of them.
 */

/** Milliseconds of a duration such as `90s`, `10m`, `1h`, `250ms` (a bare number is seconds). */
export function parseDuration(v: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?\s*$/.exec(v);
  if (!m) throw new Error(`expected a duration such as 60s, 10m or 1h, got "${v}"`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const ms = unit === 'ms' ? n : unit === 's' ? n * 1000 : unit === 'h' ? n * 3_600_000 : n * 60_000;
  if (!(ms > 0)) throw new Error(`a time budget must be positive, got "${v}"`);
  return ms;
}

/** A clock for a budget: `spent()` once the budget is used up (never, without a budget). */
export class Budget {
  private readonly t0 = performance.now();
  constructor(readonly ms?: number) {}
  spent(): boolean {
    return this.ms !== undefined && performance.now() - this.t0 >= this.ms;
  }
  elapsed(): number {
    return performance.now() - this.t0;
  }
}

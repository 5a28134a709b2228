/** Assembler helpers shared by both ISAs. */

/** Split an operand list at top-level commas (not inside [...] or (...)). */
export function splitOperands(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '[' || ch === '(') depth++;
    if (ch === ']' || ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

/**
 * `BODY n` on a fixed-width ISA: n 4-byte instructions standing for compiled C, each made by `junk`
 * (numbered by `imm`), the first carrying the source text and the others "(k/n)".
 */
export function bodyInsns<I extends { imm: number }>(n: number, addr: number, text: string, junk: (addr: number, text: string) => I): I[] {
  return Array.from({ length: n }, (_, k) => {
    const j = junk(addr + 4 * k, k === 0 ? text : `${text} (${k + 1}/${n})`);
    j.imm = k;
    return j;
  });
}

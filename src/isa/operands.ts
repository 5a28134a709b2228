/** Assembler helpers shared by the ISAs. */

/** An immediate: a number or a sum of numbers (decimal or 0x), optionally in parentheses. */
export function parseImm(s: string): number | undefined {
  let t = s.trim();
  if (t.startsWith('(') && t.endsWith(')')) t = t.slice(1, -1);
  if (!/^[-+]?\s*(0x[0-9a-f]+|\d+)(\s*[-+]\s*(0x[0-9a-f]+|\d+))*$/i.test(t)) return undefined;
  let total = 0;
  const re = /([-+]?)\s*(0x[0-9a-f]+|\d+)/gi;
  let m: RegExpExecArray | null;
  while ((m = re.exec(t))) total += (m[1] === '-' ? -1 : 1) * Number(m[2]);
  return total;
}

/** A symbol reference: `<name>` or a bare name. */
export function parseSymRef(s: string): string | undefined {
  const t = s.trim();
  const m = /^<\s*([A-Za-z_.$][\w.$]*)\s*>$/.exec(t) ?? /^([A-Za-z_.$][\w.$]*)$/.exec(t);
  return m ? m[1] : undefined;
}

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

/** Pseudo-ops every fixed-width kernel uses (effects of kernel C code, implemented by the machines); each arch adds its own. */
export const COMMON_PSEUDOS: readonly string[] = ['CPU_SWITCH', 'WALK_POINT', 'NEED_RESCHED', 'FGRAPH_PREPARE', 'FGRAPH_RETURN', 'KPROBE_HIT', 'KRETPROBE_RETURN', 'PREEMPT_DISABLE', 'PREEMPT_ENABLE'];

/** A PSEUDO instruction named `name`: its operands kept as text, the first one naming a register in `rd`. */
export function pseudoInsn<I extends { rd: number; sys?: string; args?: string[] }>(i: I, name: string, ops: string[], parseReg: (s: string) => number | undefined): I {
  i.sys = name;
  i.args = ops;
  for (const a of ops) {
    const r = parseReg(a);
    if (r !== undefined) {
      i.rd = r;
      break;
    }
  }
  return i;
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

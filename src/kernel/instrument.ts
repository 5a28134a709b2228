/**
 * Dynamic instrumentation as a text rewrite of the kernel's assembly, like patching at run time: the
 * arch's ftrace call site at the entry of traced functions, and one kprobe pseudo-op (KPROBE_HIT) per
 * kretprobe (several on one function share its breakpoint; each pre-handler pushes an instance).
 */
import type { Instrumentation } from '../scene/types';

export interface InstrumentSites {
  /** The arch's patched ftrace call site (fgraph and ftrace-with-regs alike), one instruction per line. */
  ftraceCallsite: readonly string[];
  /** notrace / noinstr code: entry, context switch and tracing code itself. */
  noinstr: ReadonlySet<string>;
}

export function instrumentEntries(units: { text: string }[], ins: Instrumentation | undefined, sites: InstrumentSites): void {
  const ftrace = new Set([...(ins?.fgraph ?? []), ...(ins?.ftraceRegs ?? [])]);
  const kret = ins?.kretprobe ?? [];
  const want = new Set([...ftrace, ...kret]);
  const done = new Set<string>();
  for (const u of units) {
    u.text = u.text
      .split('\n')
      .flatMap((l) => {
        const m = /^SYM_FUNC_START\((\w+)\)\s*$/.exec(l.trim()) ?? /^([A-Za-z_]\w*):\s*$/.exec(l.trim());
        const fn = m?.[1];
        if (!fn || !want.has(fn)) return [l];
        done.add(fn);
        return [l, ...(ftrace.has(fn) ? sites.ftraceCallsite.map((s) => '  ' + s) : []), ...kret.filter((f) => f === fn).map(() => '  KPROBE_HIT')];
      })
      .join('\n');
  }
  for (const f of want) {
    if (sites.noinstr.has(f)) throw new Error(`cannot instrument ${f}: it is notrace/noinstr (entry, context switch or tracing code)`);
    if (!done.has(f)) throw new Error(`cannot instrument ${f}: no such function in this image`);
  }
}

/**
 * Ground truth: a shadow record of real control flow, kept by the interpreter.
 * It never looks at stack memory or frame pointers, only at the transfers the CPU really made:
 * calls, returns, exception entry/return, and returns redirected through return trampolines.
 */
import type { KSymbol, SymbolTable } from '../machine/symbols';
import { hex } from '../machine/addr';

export interface ShadowEntry {
  /** Function that will be resumed. */
  fn: string;
  /** Address it resumes at: a return address, or the interrupted PC for an exception. */
  resume: number;
  via: 'call' | 'exception';
  exception?: string;
  /** The return address was rewritten and the function returned into a return trampoline on its way here. */
  redirected?: string;
}

export interface TruthFrame {
  fn: string;
  /** The PC for the innermost frame, else the address the task resumes at. */
  addr: number;
  why: 'pc' | 'call' | 'exception';
  /** Set when the spec lets a reliable trace omit this frame; the reason names the rule. */
  omissible?: string;
}

export interface GroundTruth {
  /** Innermost first. */
  frames: TruthFrame[];
  /**
   * Returns a corruption redirected: frames[index] was to resume at its addr, but the slot the task
   * returns through now holds `addr`, where the task would really go. Set by the scene that corrupts.
   * `abandons`: from there the task never comes back to the frames outer to it (the code it now
   * returns into leaves the kernel, or is a return trampoline that finds no entry and panics), so they are no longer live.
   */
  redirected?: { index: number; addr: number; abandons?: boolean }[];
}

export class ShadowError extends Error {}

const RETURN_TRAMPOLINE: ReadonlySet<KSymbol['kind']> = new Set(['return-trampoline']);

export class ShadowStack {
  entries: ShadowEntry[] = [];
  constructor(private readonly syms: SymbolTable) {}

  private fnAt(addr: number): string {
    return this.syms.lookup(addr)?.name ?? hex(addr);
  }

  /** A call instruction at `fromPc` that will resume at `returnAddr`. */
  call(fromPc: number, returnAddr: number): void {
    this.entries.push({ fn: this.fnAt(fromPc), resume: returnAddr, via: 'call' });
  }

  /** An exception taken with `interruptedPc` about to execute. */
  exception(kind: string, interruptedPc: number): void {
    this.entries.push({ fn: this.fnAt(interruptedPc), resume: interruptedPc, via: 'exception', exception: kind });
  }

  /**
   * Any control transfer to `target`. A transfer to the top entry's resume address is the return
   * into it (whether made by RET, ERET/IRET, or a trampoline's JMP). A RET elsewhere is legal only
   * into a return trampoline, which will later transfer to the top entry.
   */
  transfer(target: number, how: 'ret' | 'eret' | 'jump'): void {
    const top = this.entries[this.entries.length - 1];
    if (top && target === top.resume) {
      this.entries.pop();
      return;
    }
    if (how === 'ret') {
      const sym = this.syms.lookup(target);
      if (top && sym && RETURN_TRAMPOLINE.has(sym.kind)) {
        top.redirected = sym.name;
        return;
      }
      throw new ShadowError(`return to ${this.fnAt(target)} does not match the live frame ${top ? top.fn : '(none)'}`);
    }
    if (how === 'eret') {
      throw new ShadowError(`exception return to ${this.fnAt(target)} does not match the live frame ${top ? top.fn : '(none)'}`);
    }
  }

  /** Depth-first copy, so a scene can keep the truth of one moment. */
  clone(): ShadowStack {
    const s = new ShadowStack(this.syms);
    s.entries = this.entries.map((e) => ({ ...e }));
    return s;
  }

  /**
   * Which functions the task will return to, innermost first, for a task about to execute `pc`.
   * `currentOmissible` marks the innermost frame omissible (e.g. context-switch code a blocked task resumes in).
   */
  truth(pc: number, currentOmissible?: string): GroundTruth {
    const frames: TruthFrame[] = [];
    const cur = this.syms.lookup(pc);
    frames.push({
      fn: cur?.name ?? hex(pc),
      addr: pc,
      why: 'pc',
      ...(currentOmissible ? { omissible: currentOmissible } : cur && RETURN_TRAMPOLINE.has(cur.kind) ? { omissible: 'return trampoline (spec 3.4)' } : {}),
    });
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i]!;
      const sym = this.syms.lookup(e.resume);
      frames.push({
        fn: e.fn,
        addr: e.resume,
        why: e.via,
        ...(sym && RETURN_TRAMPOLINE.has(sym.kind) ? { omissible: 'return trampoline (spec 3.4)' } : {}),
      });
    }
    // The kernel entry code at the base of the stack is never patched, and a walk may verify that it reached
    // the entry's place on the stack without reporting it (3.1; powerpc64's arch_stack_walk_reliable() stops
    // at stack_end, before the entry's return address).
    const base = frames[frames.length - 1]!;
    if (frames.length > 1 && base.why === 'call' && !base.omissible && this.syms.lookup(base.addr)?.entry) {
      base.omissible = 'kernel entry code at the base of the stack (spec 3.1: the walk verified it reached the entry)';
    }
    return { frames };
  }
}

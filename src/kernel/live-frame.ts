/**
 * The frame of a live function activation, found from what the machine did rather than from stack contents:
 * for a corruption that edits a function's locals (frame-pointer-to-stale-final puts a stale copy of the final
 * frame in regscopy_fn's), on the back-chain arches (s390x, powerpc64), where a frame's own stack pointer is
 * the address its locals hang off. Reading return slots back up the chain cannot always find it: a traced
 * callee's slot holds a return trampoline, a noreturn callee's return address lies past the function, an
 * exception's frames sit on another stack, and an interrupted function is found through pt_regs only.
 *
 * The kit watches the machine's calls and exceptions: one made from the function's body (past the prologue
 * that made its frame, up to the epilogue that pops it) records the stack pointer then, which is that frame.
 * The activation is live while its shadow entry is.
 */
import type { SymbolTable } from '../machine/symbols';
import type { ShadowEntry, ShadowStack } from '../truth/shadow';

export interface FrameWatch {
  /** The stack pointer of the innermost live activation of the watched function's body, if any. */
  frame(): number | undefined;
}

/**
 * Watch `fn`'s body: the instructions after the first whose text `made` accepts (the prologue's frame is
 * made) up to the last whose text `popped` accepts (the epilogue pops it: the frame is there until it runs),
 * or to the function's end when it never pops it (a noreturn call ends it).
 */
export function watchFrame(shadow: ShadowStack, syms: SymbolTable, fn: string, insnAt: (addr: number) => { text: string } | undefined, sp: () => number, made: RegExp, popped: RegExp): FrameWatch {
  const sym = syms.get(fn);
  let start: number | undefined;
  let end = sym.end;
  for (let a = sym.start; a < sym.end; a += 4) {
    const text = insnAt(a)?.text.trim() ?? '';
    if (start === undefined && made.test(text)) start = a + 4;
    else if (start !== undefined && popped.test(text)) end = a + 1;
  }
  const inBody = (pc: number): boolean => start !== undefined && pc >= start && pc < end;
  const spAt = new Map<ShadowEntry, number>();
  const note = (pc: number): void => {
    if (inBody(pc)) spAt.set(shadow.entries[shadow.entries.length - 1]!, sp());
  };
  const call = shadow.call.bind(shadow);
  const exception = shadow.exception.bind(shadow);
  shadow.call = (from, ret) => {
    call(from, ret);
    note(from);
  };
  shadow.exception = (kind, pc) => {
    exception(kind, pc);
    note(pc);
  };
  return {
    frame() {
      for (let i = shadow.entries.length - 1; i >= 0; i--) {
        const s = spAt.get(shadow.entries[i]!);
        if (s !== undefined) return s;
      }
      return undefined;
    },
  };
}

/** The interface every unwinder (reference, or external through the plugin protocol) satisfies. */
import type { MonitoredMemory } from '../machine/memory';
import type { LoadedSnapshot } from '../snapshot/io';
import type { Arch } from '../snapshot/types';

/** What arch_stack_walk_reliable() gives back: rc 0 and a trace, or non-zero. */
export interface WalkResult {
  rc: number;
  /** Addresses, innermost first (the first is the starting PC). */
  trace: number[];
  /** Why the walk was reported unreliable (the named error path), for reports. */
  reason?: string;
}

/** Input to an in-process unwinder: the snapshot, and memory that logs every read. */
export interface WalkInput {
  snap: LoadedSnapshot;
  mem: MonitoredMemory;
}

export interface Unwinder {
  readonly name: string;
  walk(input: WalkInput): WalkResult;
}

/** Optional behaviours an unwinder claims (spec conditions are written over these). */
export interface ProfileClaims {
  /** Unwinds reliably across IRQ exception boundaries where it can tell it is safe (3.3). */
  unwindsAcrossIrq: boolean;
  /** Unwinds reliably across NMI boundaries (3.3). */
  unwindsAcrossNmi: boolean;
  /** Can identify, at an exception boundary, whether unwinding is reliable (metadata, 3.3/3.6). */
  identifiesReliableExceptionUnwind: boolean;
  /** Reports the original return address in place of the function-graph return trampoline (3.4). */
  recoversFgraphReturns: boolean;
  /** Reports the original return address in place of the kretprobe trampoline (3.4). */
  recoversKretprobeReturns: boolean;
  /** Unwinds from the middle of return_to_handler (3.4: not required). */
  unwindsInsideReturnToHandler: boolean;
  /** Kernel code is validated at build time by an objtool-like analyser (compile-time analysis). */
  usesCompileTimeAnalysis: boolean;
  /** Unwinding relies on build-time generated metadata (ORC, SFrame-like tables). */
  usesUnwindMetadata: boolean;
  /** Verifies that a reliable walk ends at the expected final location (3.1). */
  checksTermination: boolean;
}

export interface Profile {
  name: string;
  arch: Arch;
  /** Unwinder kind, e.g. "frame-pointer", "orc", "metadata", "always-unreliable". */
  unwinder: string;
  description: string;
  /** A reference profile must be conformant; `npm run conformance` fails otherwise. */
  reference: boolean;
  claims: ProfileClaims;
  /**
   * The build-time analyser this profile's kernel build runs: 'builtin' is the suite's objtool-like
   * analyser (src/analyser), which the reference designs assume. Absent: compile-time requirements are
   * not run, whatever the claims say.
   */
  analyser?: 'builtin';
  /** Arch-specific options (e.g. arm64-meta NMI policy). */
  options?: Record<string, string | number | boolean>;
}

/** Facts of the architecture (not claims), also usable in requirement conditions. */
export interface ArchFacts {
  hasLinkRegister: boolean;
  separateIrqStacks: boolean;
}

export const ARCH_FACTS: Record<Arch, ArchFacts> = {
  arm64: { hasLinkRegister: true, separateIrqStacks: true },
  x86_64: { hasLinkRegister: false, separateIrqStacks: true },
  riscv64: { hasLinkRegister: true, separateIrqStacks: true },
  loongarch64: { hasLinkRegister: true, separateIrqStacks: true },
  s390x: { hasLinkRegister: true, separateIrqStacks: true },
  powerpc64: { hasLinkRegister: true, separateIrqStacks: true },
};

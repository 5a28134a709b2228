/** The context a walk runs in (snapshot.context), from what the kit knows about the scene. */
import type { SymbolTable } from '../machine/symbols';
import type { SceneSpec } from '../scene/types';
import type { SnapshotContext } from '../snapshot/types';
import type { GroundTruth } from '../truth/shadow';

/**
 * A running task is walked from its IRQ or NMI handler (in_hardirq(), and in_nmi() when an NMI is
 * the innermost exception); a blocked task from process context holding its runqueue lock. The
 * machine has one CPU (0). EFI runtime services are active when any live frame of the task is in
 * foreign (firmware) text: the task is inside a runtime-services call.
 */
export function walkContext(spec: SceneSpec, running: boolean, truth: GroundTruth, syms: SymbolTable): SnapshotContext {
  const mo = spec.moment;
  const exc = running && 'exception' in mo ? (mo.nested === 'nmi' ? 'nmi' : mo.exception) : undefined;
  return {
    cpu: 0,
    inNmi: exc === 'nmi',
    inHardirq: exc !== undefined,
    preemptible: false,
    efiRuntimeActive: truth.frames.some((f) => syms.lookup(f.addr)?.kind === 'foreign'),
  };
}

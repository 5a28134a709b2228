/** The stable scene ID of a kit's scene: arch, workload, moment, then instrumentation and corruption. */
import type { SceneSpec } from '../scene/types';
import type { Arch } from '../snapshot/types';

export function sceneSlug(arch: Arch, spec: SceneSpec, base: string): string {
  const ins = spec.instrument;
  const parts = [`${arch}/${spec.workload}/${base}`];
  if (ins?.fgraph?.length) parts.push(`fgraph=${ins.fgraph.join('+')}`);
  if (ins?.ftraceRegs?.length) parts.push(`ftrace=${ins.ftraceRegs.join('+')}`);
  if (ins?.kretprobe?.length) parts.push(`kretprobe=${ins.kretprobe.join('+')}`);
  if (spec.corrupt) parts.push(`corrupt=${spec.corrupt}`);
  if (spec.corruptDepth && spec.corruptDepth > 1) parts.push(`depth=${spec.corruptDepth}`);
  return parts.join('/');
}

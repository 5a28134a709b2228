/** Given: what the task runs, how it is instrumented, when it is stopped, what is corrupted. */
import { defineParameterType, Given } from '@cucumber/cucumber';
import type { ConformanceWorld as W } from './support/world';

// ---- workloads
Given('a task blocked in schedule\\(\\) below a system call', function (this: W) {
  return this.workload('syscall-sleep');
});
Given('a kernel thread blocked in schedule\\(\\)', function (this: W) {
  return this.workload('kthread-sleep');
});
Given('a task in a system call running work_a, which calls work_b, which calls work_c', function (this: W) {
  return this.workload('work-chain');
});
Given('a task blocked in schedule\\(\\) called from module code through a PLT veneer', function (this: W) {
  return this.workload('module-sleep');
});
Given('a task blocked in schedule\\(\\) called from a BPF program', function (this: W) {
  return this.workload('bpf-sleep');
});
Given('a task running an EFI runtime service', function (this: W) {
  return this.workload('efi-call');
});
Given('a task blocked in schedule\\(\\) below a STACK_FRAME_NON_STANDARD function', function (this: W) {
  return this.workload('nonstandard-sleep');
});
Given('a task blocked in schedule\\(\\) below inline asm that violates the frame-pointer protocol', function (this: W) {
  return this.workload('fp-violation');
});
Given('a task blocked in schedule\\(\\) below a tail call from tail_a to tail_b', function (this: W) {
  return this.workload('tail-call');
});
Given('a kernel image with SYM_CODE reached neither by a jump from known code nor by an UNWIND_HINT', function (this: W) {
  return this.workload('unreachable-code');
});
Given('a task running SYM_CODE under UNWIND_HINT_UNDEFINED', function (this: W) {
  return this.workload('hint-undefined');
});
Given("a task running the spec's {string} example:", function (this: W, name: string, doc: string) {
  return this.specExample(name, doc);
});
Given("a task running this arch's form of the spec's {string} example:", function (this: W, name: string, doc: string) {
  return this.archExample(name, doc);
});
Given('the generated kernel program:', function (this: W, doc: string) {
  return this.generated(doc);
});
Given('the spec says:', function (this: W, doc: string) {
  this.session.quoteSpec(doc);
});

// ---- the moment
Given('an IRQ is taken before {string} in {word}', function (this: W, insn: string, fn: string) {
  this.session.exceptionBefore('irq', insn, fn);
});
Given('an NMI is taken inside that IRQ handler', function (this: W) {
  this.session.nestedNmi();
});
Given('an IRQ is taken at every instruction boundary of {word}', function (this: W, fn: string) {
  this.sweep('irq', fn);
});
Given('an NMI is taken at every instruction boundary of {word}', function (this: W, fn: string) {
  this.sweep('nmi', fn);
});
Given("an IRQ is taken at every instruction boundary of the task's kernel path", function (this: W) {
  this.sweep('irq');
});

// ---- instrumentation
Given('function-graph tracing of {word}', function (this: W, fn: string) {
  this.session.trace('fgraph', fn);
});
Given('a kretprobe on {word}', function (this: W, fn: string) {
  this.session.trace('kretprobe', fn);
});
Given('two kretprobes on {word}', function (this: W, fn: string) {
  this.session.trace('kretprobe', fn, 2);
});
Given('an optimised kprobe at instruction {int} of {word}', function (this: W, index: number, fn: string) {
  this.session.optprobe(fn, index);
});
Given("{word} is patched with this arch's ftrace call site:", function (this: W, fn: string, doc: string) {
  return this.archExample('ftrace call site', doc) ?? this.session.trace('ftraceRegs', fn);
});
Given("{word} is patched for DYNAMIC_FTRACE_WITH_REGS with the spec's sequence:", function (this: W, fn: string, doc: string) {
  this.session.useSpecExample('MOV X9, X30', doc);
  this.session.trace('ftraceRegs', fn);
});

// ---- corruption
Given('a saved frame pointer that is zero before the final frame', function (this: W) {
  this.corrupt('frame-pointer-zeroed');
});
Given('a frame record that links back to an inner frame record', function (this: W) {
  this.corrupt('frame-chain-cycle');
});
Given('a misaligned saved frame pointer', function (this: W) {
  this.corrupt('frame-pointer-misaligned');
});
Given('a saved frame pointer into unmapped memory', function (this: W) {
  this.corrupt('frame-pointer-unmapped');
});
Given("a saved frame pointer into another task's stack", function (this: W) {
  this.corrupt('frame-pointer-other-task');
});
Given('a saved frame pointer that points down the stack', function (this: W) {
  this.corrupt('frame-pointer-downward');
});
Given('a saved frame pointer to a frame record that straddles the top of the stack', function (this: W) {
  this.corrupt('frame-pointer-straddles-stack-top');
});
Given('a saved return address that is not kernel text', function (this: W) {
  this.corrupt('return-address-garbage');
});
// the innermost kernel-mode exception frame (pt_regs) on the task's stacks
Given('the interrupted program counter saved in the exception frame is not kernel text', function (this: W) {
  this.session.corrupt('exception-pc-garbage');
});
Given('the stack pointer saved in the exception frame points into unmapped memory', function (this: W) {
  this.session.corrupt('exception-sp-unmapped');
});
Given("the stack pointer saved in the exception frame points into another task's stack", function (this: W) {
  this.session.corrupt('exception-sp-other-task');
});
Given('the frame pointer saved in the exception frame is misaligned', function (this: W) {
  this.session.corrupt('exception-fp-misaligned');
});
Given("the frame pointer saved in the exception frame points at another task's stack", function (this: W) {
  this.session.corrupt('exception-fp-other-task');
});

// ---- the unwinder

// ---- exceptions inside code of one kind, or over a range of instructions
defineParameterType({
  name: 'code',
  regexp: /BPF program|EFI runtime service|PLT veneer|ftrace trampoline|optprobe trampoline/,
});
Given('an IRQ is taken at every instruction boundary of the {code}', function (this: W, code: string) {
  this.session.everyBoundaryOfKind('irq', code);
});
Given('an IRQ is taken at every instruction boundary the build-time metadata marks undefined', function (this: W) {
  this.session.everyUndefinedBoundary('irq');
});
defineParameterType({ name: 'point', regexp: /prologue|body|epilogue/ });
Given('an IRQ is taken in the {point} of {word}', function (this: W, point: string, fn: string) {
  this.session.exceptionIn('irq', point, fn);
});
Given('an NMI is taken in the {point} of {word}', function (this: W, point: string, fn: string) {
  this.session.exceptionIn('nmi', point, fn);
});
Given('an IRQ is taken at the entry of {word}', function (this: W, fn: string) {
  this.session.exceptionAt('irq', fn, 0);
});

// ---- the task's tracing state, with a return trampoline's address on its stack
Given("the task's function-graph return stack is missing", function (this: W) {
  this.corrupt('fgraph-ret-stack-missing');
});
Given("the task's function-graph return stack is empty", function (this: W) {
  this.corrupt('fgraph-ret-stack-empty');
});
Given("the task's function-graph return stack entry for that return has the wrong key", function (this: W) {
  this.corrupt('fgraph-ret-stack-wrong-key');
});
Given("the return address saved in the task's function-graph return stack is not kernel text", function (this: W) {
  this.corrupt('fgraph-ret-stack-wrong-ret');
});
Given("the task's kretprobe instance list is empty", function (this: W) {
  this.corrupt('kretprobe-instances-empty');
});
Given("the task's kretprobe instance for that return has the wrong key", function (this: W) {
  this.corrupt('kretprobe-instance-wrong-key');
});
Given("the return address saved in the task's kretprobe instance is not kernel text", function (this: W) {
  this.corrupt('kretprobe-instance-wrong-ret');
});

// ---- stale records mid-stack, and corruption deeper than the innermost frame record
Given('a task blocked in schedule\\(\\) below a function that keeps a copy of its user-mode pt_regs', function (this: W) {
  return this.workload('regs-copy-sleep');
});
Given('a saved frame pointer that points at that stale copy of the final frame record', function (this: W) {
  this.corrupt('frame-pointer-to-stale-final');
});
Given('the return address below that copy points into the system call entry code, where user-mode pt_regs follow', function (this: W) {
  this.corrupt('return-address-to-stale-user-regs');
});
Given('the corruption is in frame record {int} counted from the innermost', function (this: W, depth: number) {
  this.session.corruptDepth(depth);
});

Given('a task running a leaf function that keeps its return address in a general purpose register', function (this: W) {
  return this.workload('lr-in-gpr');
});
Given('a task blocked in schedule\\(\\) with a frame over a dead interrupt frame', function (this: W) {
  return this.workload('stale-marker-sleep');
});
Given('a task blocked in schedule\\(\\) below a livepatched function, entered through livepatch_handler', function (this: W) {
  return this.workload('livepatch-sleep');
});

// ---- synchronous exceptions taken in kernel code: a kprobe's breakpoint (BRK / int3)
Given('a kprobe breakpoint is hit at every instruction boundary of {word}', function (this: W, fn: string) {
  this.sweep('brk', fn);
});
Given('a kprobe breakpoint is hit in the {point} of {word}', function (this: W, point: string, fn: string) {
  this.session.exceptionIn('brk', point, fn);
});
Given('a kernel page fault is taken at every instruction boundary of {word}', function (this: W, fn: string) {
  this.sweep('page-fault', fn);
});
Given('a kernel page fault is taken in the {point} of {word}', function (this: W, point: string, fn: string) {
  this.session.exceptionIn('page-fault', point, fn);
});
Given("an NMI is taken at every instruction boundary of that IRQ's entry, handler and exit", function (this: W) {
  this.session.nmiAtEveryBoundaryOfException();
});

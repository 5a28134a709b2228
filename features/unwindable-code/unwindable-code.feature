@topic:unwindable-code
Feature: Identifying unwindable code
  Code that does not follow the unwinder's conventions (entry assembly, PLTs and veneers, trampolines,
  generated code, foreign code) must not make a walk omit a function. Architectures should positively
  identify code that is reliable to unwind from and reject the rest.

  @req:identify-reliable-code-reject-other @should
  Rule: Code known to be reliable to unwind from is positively identified; other code is rejected

    @id:irq-sweep-module-path @sweep
    Example: walks at every instruction boundary of a path through module code and a PLT veneer
      Given a task blocked in schedule() called from module code through a PLT veneer
      And an IRQ is taken at every instruction boundary of the task's kernel path
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:efi-runtime-service-rejected @sweep @arch:arm64 @arch:x86_64 @arch:riscv64 @arch:loongarch64
    Example: unwinding from foreign code is rejected
      Given a task running an EFI runtime service
      And an IRQ is taken at every instruction boundary of the EFI runtime service
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is reported unreliable

  @req:entry-code-handled @should
  Rule: Exception vectors and entry assembly are unwound or rejected

    @id:irq-sweep-syscall-entry-path @sweep
    Example: walks at every instruction boundary of a system call, entry assembly included
      Given a task blocked in schedule() below a system call
      And an IRQ is taken at every instruction boundary of the task's kernel path
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:irq-sweep-kthread-entry-path @sweep
    Example: walks at every instruction boundary of a kernel thread, ret_from_fork included
      Given a kernel thread blocked in schedule()
      And an IRQ is taken at every instruction boundary of the task's kernel path
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable

  @req:plt-and-veneers-handled @should
  Rule: PLT entries and veneers are unwound or rejected

    @id:blocked-below-plt-veneer
    Example: a task that reached schedule() through a PLT veneer
      Given a task blocked in schedule() called from module code through a PLT veneer
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:irq-in-plt-veneer @sweep
    Example: walks interrupted inside the PLT veneer
      Given a task blocked in schedule() called from module code through a PLT veneer
      And an IRQ is taken at every instruction boundary of the PLT veneer
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable

  @req:trampolines-handled @should
  Rule: Trampoline assembly (ftrace, kprobes) is unwound or rejected

    @id:irq-in-ftrace-trampoline @sweep
    Example: walks interrupted inside the ftrace trampoline
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And function-graph tracing of work_b
      And an IRQ is taken at every instruction boundary of the ftrace trampoline
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:nmi-in-kretprobe-trampoline @sweep
    Example: walks from an NMI inside the kretprobe trampoline
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And a kretprobe on work_c
      And an NMI is taken at every instruction boundary of __kretprobe_trampoline
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable

    @id:kprobe-brk-handler-sweep @sweep
    Example: walks from a kprobe handler with the breakpoint hit at every instruction of a kretprobed function
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And a kretprobe on work_c
      And a kprobe breakpoint is hit at every instruction boundary of work_b
      When a reliable stacktrace is requested from the exception handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

  @req:generated-code-handled @should
  Rule: Dynamically generated code (eBPF, optprobe trampolines) is unwound or rejected

    @id:blocked-below-bpf-program
    Example: a task that reached schedule() from a BPF program
      Given a task blocked in schedule() called from a BPF program
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:irq-in-bpf-program @sweep
    Example: walks interrupted inside a BPF program
      Given a task blocked in schedule() called from a BPF program
      And an IRQ is taken at every instruction boundary of the BPF program
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:irq-in-optprobe-trampoline @sweep @arch:x86_64
    Example: walks interrupted inside an optprobe trampoline
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an optimised kprobe at instruction 2 of work_b
      And an IRQ is taken at every instruction boundary of the optprobe trampoline
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable

  @req:foreign-code-handled @should
  Rule: Foreign code (EFI runtime services) is rejected

    @id:irq-in-efi-runtime-service-rejected @sweep @arch:arm64 @arch:x86_64 @arch:riscv64 @arch:loongarch64
    Example: every walk interrupted in an EFI runtime service is rejected
      Given a task running an EFI runtime service
      And an IRQ is taken at every instruction boundary of efi_get_time
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is reported unreliable

  @req:kernel-text-address-check @may
  Rule: __kernel_text_address() tells kernel code (modules, eBPF) from foreign code and corrupt addresses

    @id:module-code-is-kernel-text
    Example: module text is kernel text
      Given a task blocked in schedule() called from module code through a PLT veneer
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:bpf-code-is-kernel-text
    Example: BPF JIT code is kernel text
      Given a task blocked in schedule() called from a BPF program
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:non-text-return-address-rejected
    Example: a return address outside kernel text exposes stack corruption
      Given a kernel thread blocked in schedule()
      And a saved return address that is not kernel text
      When a reliable stacktrace is requested for the task
      Then the trace is reported unreliable

  @req:identify-unreliable-code @may
  Rule: Kernel code deemed unreliable to unwind from is identified (metadata, sections, bounds)

    @id:nonstandard-function-skipped-by-analyser
    Example: the analyser's metadata marks a STACK_FRAME_NON_STANDARD function as skipped, so nothing vouches for its frames
      Given a task blocked in schedule() below a STACK_FRAME_NON_STANDARD function
      When the kernel image is analysed at build time
      Then the analyser reports that nonstd_fn is skipped as STACK_FRAME_NON_STANDARD

  @req:stack-frame-non-standard-handled @must
  Rule: STACK_FRAME_NON_STANDARD code is unwound correctly or rejected

    @id:blocked-below-nonstandard-function
    Example: a task blocked below a STACK_FRAME_NON_STANDARD function
      Given a task blocked in schedule() below a STACK_FRAME_NON_STANDARD function
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:irq-sweep-nonstandard-function @sweep
    Example: walks interrupted at every instruction of a STACK_FRAME_NON_STANDARD function
      Given a task blocked in schedule() below a STACK_FRAME_NON_STANDARD function
      And an IRQ is taken at every instruction boundary of nonstd_fn
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable

@topic:compile-time-analysis
Feature: Compile-time analysis
  For architectures like x86_64 and arm64 it is easy for hand-written asm to violate the
  frame-pointer protocol, "silently causing the violater's callee to get skipped in the unwind".
  Such code must be caught at build time, and metadata the unwinder needs is generated there too.

  @req:fp-protocol-validated-at-build-time @should
  Rule: Frame-pointer protocol violations are caught by compile-time stack validation

    @id:fp-violation-reported-at-build-time
    Example: inline asm that calls before setting up its frame is reported by the analyser
      Given a task blocked in schedule() below inline asm that violates the frame-pointer protocol
      When the kernel image is analysed at build time
      Then the analyser reports a frame-pointer protocol violation in fpviol_fn

    @id:standard-code-passes-stack-validation
    Example: functions that follow the frame-pointer protocol pass validation
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      When the kernel image is analysed at build time
      Then the analyser reports no frame-pointer protocol violation


  @req:unwind-metadata-generated-at-build-time @should
  Rule: Unwind metadata the unwinder relies on is generated at build time

    @id:metadata-covers-work-chain
    Example: the snapshot carries build-time metadata for every function of the call chain
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the prologue of work_b
      When a reliable stacktrace is requested from the interrupt handler
      Then build-time unwind metadata covers work_a
      And build-time unwind metadata covers work_b
      And build-time unwind metadata covers work_c

  @req:all-code-reachable-by-analysis @should
  Rule: SYM_CODE is reachable by the analyser from known code or an UNWIND_HINT

    @id:unreachable-sym-code-reported
    Example: SYM_CODE that nothing jumps to and no hint describes is an "unreachable instruction"
      Given a kernel image with SYM_CODE reached neither by a jump from known code nor by an UNWIND_HINT
      When the kernel image is analysed at build time
      Then the analyser reports an unreachable instruction in orphan_stub

    @id:entry-code-reachable
    Example: entry code reached by jumps from known code and by hints is all reachable
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      When the kernel image is analysed at build time
      Then the analyser reports no unreachable instruction

  @req:sym-code-not-unreliable-by-itself @may
  Rule: SYM_CODE annotation alone does not make code unreliable to unwind

    @id:blocked-task-through-sym-code-entry
    Example: a trace through SYM_CODE entry code may be reliable
      Given a task blocked in schedule() below a system call
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable
      And a reliable trace ends in the kernel entry code

  @req:unwind-hint-undefined-is-unreliable @must
  Rule: Code marked UNWIND_HINT_UNDEFINED (missing metadata) is reported unreliable

    @id:irq-under-hint-undefined-rejected @sweep
    Example: every walk interrupted where the build-time metadata says the unwind state is undefined
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And function-graph tracing of work_c
      And an IRQ is taken at every instruction boundary the build-time metadata marks undefined
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is reported unreliable, unless it is exactly the true call chain

    @id:irq-sweep-hint-undefined-code-sound @sweep
    Example: walks at every instruction of code with an undefined-hint region
      Given a task running SYM_CODE under UNWIND_HINT_UNDEFINED
      And an IRQ is taken at every instruction boundary of the task's kernel path
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

  @req:unwind-hint-end-of-stack-terminates @should
  Rule: An end-of-stack (entry) hint is a successful end of the walk, unlike an undefined one

    @id:kthread-ends-at-ret-from-fork
    Example: a kernel thread's walk ends reliably at ret_from_fork
      Given a kernel thread blocked in schedule()
      When a reliable stacktrace is requested for the task
      Then the trace is reliable
      And a reliable trace ends in the kernel entry code

    @id:syscall-ends-at-entry
    Example: a user task's walk ends reliably at its kernel entry
      Given a task blocked in schedule() below a system call
      When a reliable stacktrace is requested for the task
      Then the trace is reliable
      And a reliable trace ends in the kernel entry code

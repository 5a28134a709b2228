@topic:successful-termination
Feature: Identifying successful termination
  Unwinding may stop early because of corruption, missing support or code that does not follow
  the unwinder's conventions. A walk is only reliable if it ends where a kernel entry leaves it.

  @req:termination-verified @should
  Rule: A reliable walk ends at an expected location

    @id:blocked-syscall-task-reliable
    Example: a task blocked below a system call unwinds reliably to its entry
      Given a task blocked in schedule() below a system call
      When a reliable stacktrace is requested for the task
      Then every function the task may return to appears in the trace
      And a reliable trace ends in the kernel entry code

    @id:blocked-kthread-reliable
    Example: a kernel thread unwinds reliably to ret_from_fork
      Given a kernel thread blocked in schedule()
      When a reliable stacktrace is requested for the task
      Then every function the task may return to appears in the trace
      And a reliable trace ends in the kernel entry code

    @id:chain-ending-early-not-taken-for-termination
    Example: a frame chain that looks finished before the final frame record is reported unreliable
      Given a kernel thread blocked in schedule()
      And a saved frame pointer that is zero before the final frame
      When a reliable stacktrace is requested for the task
      Then the trace is reported unreliable

    @id:stale-final-record-mid-stack-not-termination
    Example: a stale copy of the final frame record met mid-stack is not the end of the walk
      Given a task blocked in schedule() below a function that keeps a copy of its user-mode pt_regs
      And a saved frame pointer that points at that stale copy of the final frame record
      When a reliable stacktrace is requested for the task
      Then the trace is reported unreliable

    @id:s390x-zero-back-chain-final-pt-regs @arch:s390x
    Example: the back chain ends in a zero above task_pt_regs(task), the task's final pt_regs
      system_call saves the user registers at the top of the task's stack and zeroes the back chain of
      the frame below them: is_final_pt_regs() is the only zero back chain a reliable walk may end at.
      Given a task blocked in schedule() below a system call
      When a reliable stacktrace is requested for the task
      Then every function the task may return to appears in the trace
      And a reliable trace ends in the kernel entry code

    @id:s390x-stale-final-pt-regs-deeper-not-termination @arch:s390x
    Example: a back chain two frames up points at a stale copy of the top frame and its pt_regs
      Given a task blocked in schedule() below a function that keeps a copy of its user-mode pt_regs
      And a saved frame pointer that points at that stale copy of the final frame record
      And the corruption is in frame record 2 counted from the innermost
      When a reliable stacktrace is requested for the task
      Then the trace is reported unreliable

    @id:stale-user-regs-through-entry-return-not-termination @arch:x86_64
    Example: user-mode pt_regs met through a return address into the entry code, mid-stack, are not the end of the walk
      Given a task blocked in schedule() below a function that keeps a copy of its user-mode pt_regs
      And the return address below that copy points into the system call entry code, where user-mode pt_regs follow
      When a reliable stacktrace is requested for the task
      Then the trace is reported unreliable

    @id:ppc-dead-interrupt-frame-unwinds-reliably @arch:powerpc64
    Example: a task blocked with a live frame over a dead interrupt frame unwinds reliably to its entry
      The marker the WARN's interrupt frame carried was cleared on return: nothing there says "regs" any more.
      Given a task blocked in schedule() with a frame over a dead interrupt frame
      When a reliable stacktrace is requested for the task
      Then every function the task may return to appears in the trace
      And a reliable trace ends in the kernel entry code

  @req:termination-in-entry-function @may
  Rule: The walk ends within a kernel entry function

    @id:trace-ends-in-entry-function
    Example: a reliable trace of a user task ends in the entry code
      Given a task blocked in schedule() below a system call
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable
      And a reliable trace ends in the kernel entry code

  @req:termination-at-fixed-location @may
  Rule: The walk ends at a specific location on the stack for a kernel entry point

    @id:chain-ending-before-final-frame-not-successful
    Example: a frame chain that ends before the final frame record is not a successful termination
      Given a kernel thread blocked in schedule()
      And a saved frame pointer that is zero before the final frame
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:stale-final-record-not-at-fixed-location
    Example: a final frame record anywhere but task_pt_regs is not a successful termination
      Given a task blocked in schedule() below a function that keeps a copy of its user-mode pt_regs
      And a saved frame pointer that points at that stale copy of the final frame record
      And the corruption is in frame record 2 counted from the innermost
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

  @req:termination-on-expected-stack @may
  Rule: The walk ends on the stack expected for a kernel entry point

    @id:irq-stack-walk-reaches-task-stack
    Example: a walk from the IRQ stack must not end there
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the body of work_b
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace is complete or reported unreliable

    @id:nested-nmi-walk-reaches-task-stack
    Example: a walk from an NMI taken in an IRQ handler must not end on either exception stack
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the body of work_b
      And an NMI is taken inside that IRQ handler
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace is complete or reported unreliable

    @id:irq-stack-walk-ends-in-entry-code
    Example: a walk from the IRQ stack that reaches the task stack through the IRQ stack's link ends in the entry code
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the body of work_b
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace is reliable if the profile claims it unwinds across IRQs, and reported unreliable otherwise
      And a reliable trace ends in the kernel entry code

  @req:early-termination-not-reliable @must
  Rule: A walk that stops early is not reported reliable

    @id:early-stop-from-corruption-not-reliable
    Example: a chain cut short by corruption is not reported reliable
      Given a task blocked in schedule() below a system call
      And a saved frame pointer that is zero before the final frame
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:early-stop-at-non-text-return-not-reliable
    Example: a walk that meets a return address outside kernel text, at its first step, does not stop there with success
      Given a task blocked in schedule() below a system call
      And a saved return address that is not kernel text
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:early-stop-in-bpf-not-reliable @sweep
    Example: walks interrupted inside a BPF program do not stop early with success
      Given a task blocked in schedule() called from a BPF program
      And an IRQ is taken at every instruction boundary of the BPF program
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:early-stop-in-efi-not-reliable @sweep @arch:arm64 @arch:x86_64 @arch:riscv64 @arch:loongarch64
    Example: walks interrupted inside an EFI runtime service do not stop early with success
      Given a task running an EFI runtime service
      And an IRQ is taken at every instruction boundary of the EFI runtime service
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable

    @id:stale-final-record-mid-stack-not-reliable
    Example: a link to a stale user-mode pt_regs left mid-stack does not end the walk with success
      Given a task blocked in schedule() below a function that keeps a copy of its user-mode pt_regs
      And a saved frame pointer that points at that stale copy of the final frame record
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:stale-user-regs-through-entry-return-not-reliable @arch:x86_64
    Example: a walk that meets user-mode pt_regs mid-stack through a corrupted return address does not end there with success
      On return the entry code would load the stale copy and leave for user mode, so the frames above
      regscopy_fn are no longer live: a trace that ends there follows the corruption (the SHOULD to
      detect it), but one that skips live frames below it is unsafe.
      Given a task blocked in schedule() below a function that keeps a copy of its user-mode pt_regs
      And the return address below that copy points into the system call entry code, where user-mode pt_regs follow
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:stale-final-record-deeper-not-reliable
    Example: the link to the stale user-mode pt_regs is two records up the chain
      Given a task blocked in schedule() below a function that keeps a copy of its user-mode pt_regs
      And a saved frame pointer that points at that stale copy of the final frame record
      And the corruption is in frame record 2 counted from the innermost
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:ppc-kthread-stack-end-not-the-user-one @arch:powerpc64
    Example: a kernel thread's walk does not end where a user task's stack_end would be
      copy_thread() gives a kernel thread only a minimal frame at the top of its stack, so its stack_end is
      THREAD_SIZE - STACK_FRAME_MIN_SIZE; kthread's frame lies exactly at THREAD_SIZE - STACK_USER_INT_FRAME_SIZE.
      Given a kernel thread blocked in schedule()
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable
      And a reliable trace ends in the kernel entry code

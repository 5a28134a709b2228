@topic:interrupts-and-exceptions
Feature: Unwinding across interrupts and exceptions
  Part-way through a function the unwind state may be inconsistent: a frame pointer transiently
  invalid in a prologue or epilogue, a return address held in a general purpose register.
  An unwinder that cannot tell must reject exception boundaries; one that can should unwind them.

  @req:exception-walks-sound @must
  Rule: A walk across an exception taken at any instruction is complete or reported unreliable

    @id:irq-sweep-work-chain-from-handler @sweep
    Example: an IRQ at every instruction boundary of the call chain, walked from the handler
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken at every instruction boundary of the task's kernel path
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:irq-sweep-work-b-preempted @sweep
    Example: an IRQ at every instruction boundary of work_b preempts the task, which then blocks
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken at every instruction boundary of work_b
      When a reliable stacktrace is requested for the task
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:nmi-sweep-work-b @sweep
    Example: an NMI at every instruction boundary of work_b
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an NMI is taken at every instruction boundary of work_b
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:nested-nmi-sweep-work-b @sweep
    Example: an NMI nested in an IRQ taken at every instruction boundary of work_b
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken at every instruction boundary of work_b
      And an NMI is taken inside that IRQ handler
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:irq-sweep-hint-undefined-code-any-unwinder @sweep
    Example: an IRQ at every instruction boundary of SYM_CODE whose unwind state is undefined, whatever the unwinder
      Given a task running SYM_CODE under UNWIND_HINT_UNDEFINED
      And an IRQ is taken at every instruction boundary of the task's kernel path
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:nmi-sweep-el0-sync-vector @sweep @arch:arm64
    Example: an NMI at every instruction boundary of the EL0 synchronous exception vector (syscall entry)
      Given a task blocked in schedule() below a system call
      And an NMI is taken at every instruction boundary of el0t_64_sync
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:nmi-sweep-el0-sync-handler @sweep @arch:arm64
    Example: an NMI at every instruction boundary of the C entry code of a system call
      Given a task blocked in schedule() below a system call
      And an NMI is taken at every instruction boundary of el0t_64_sync_handler
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:nmi-sweep-syscall-entry @sweep @arch:x86_64
    Example: an NMI at every instruction boundary of the system call entry, before and after the stack switch
      Given a task blocked in schedule() below a system call
      And an NMI is taken at every instruction boundary of entry_SYSCALL_64
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:nmi-sweep-syscall-entry-c @sweep @arch:x86_64
    Example: an NMI at every instruction boundary of the C entry code of a system call
      Given a task blocked in schedule() below a system call
      And an NMI is taken at every instruction boundary of do_syscall_64
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:nmi-sweep-riscv-trap-vector @sweep @arch:riscv64
    Example: an NMI (an SBI software event) at every instruction boundary of the trap vector taking a system call
      Given a task blocked in schedule() below a system call
      And an NMI is taken at every instruction boundary of handle_exception
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:nmi-sweep-riscv-ecall-handler @sweep @arch:riscv64
    Example: an NMI at every instruction boundary of the C entry code of a system call
      Given a task blocked in schedule() below a system call
      And an NMI is taken at every instruction boundary of do_trap_ecall_u
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:nmi-sweep-riscv-ret-from-exception @sweep @arch:riscv64
    Example: an NMI at every instruction boundary of the return to user space, while pt_regs are restored
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an NMI is taken at every instruction boundary of ret_from_exception
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable

    @id:irq-sweep-return-address-in-gpr @sweep @arch:arm64 @arch:riscv64 @arch:loongarch64 @arch:s390x @arch:powerpc64
    Example: an IRQ at every instruction boundary of a leaf whose return address is held in a general purpose register
      Given a task running a leaf function that keeps its return address in a general purpose register
      And an IRQ is taken at every instruction boundary of lrgpr_leaf
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:irq-sweep-return-address-in-gpr-preempted @sweep @arch:arm64 @arch:riscv64 @arch:loongarch64 @arch:s390x @arch:powerpc64
    Example: an IRQ at every instruction boundary of that leaf preempts the task, which then blocks
      Given a task running a leaf function that keeps its return address in a general purpose register
      And an IRQ is taken at every instruction boundary of lrgpr_leaf
      When a reliable stacktrace is requested for the task
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:irq-sweep-loongarch-leaf-ra-in-register @sweep @arch:loongarch64
    Example: an IRQ at every instruction boundary of a leaf whose ORC entries say ra is still in its register
      On loongarch64 a leaf keeps its return address in ra; the ORC entry says so, and the unwinder takes ra
      from the pt_regs it came through, for that one frame only and never when it equals the pc.
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken at every instruction boundary of work_c
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:irq-sweep-fp-violation @sweep
    Example: an IRQ at every instruction boundary of inline asm that calls before its frame is set up
      Given a task blocked in schedule() below inline asm that violates the frame-pointer protocol
      And an IRQ is taken at every instruction boundary of the task's kernel path
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:kprobe-brk-sweep-work-b @sweep
    Example: a kprobe breakpoint hit at every instruction boundary of work_b, walked from its handler across the synchronous exception
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And a kprobe breakpoint is hit at every instruction boundary of work_b
      When a reliable stacktrace is requested from the exception handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:page-fault-sweep-work-b-from-handler @sweep
    Example: a kernel page fault at every instruction boundary of work_b, walked from the fault handler
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And a kernel page fault is taken at every instruction boundary of work_b
      When a reliable stacktrace is requested from the exception handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:page-fault-sweep-work-b-sleeping @sweep
    Example: a kernel page fault at every instruction boundary of work_b whose handler sleeps in schedule()
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And a kernel page fault is taken at every instruction boundary of work_b
      When a reliable stacktrace is requested for the task
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:nmi-sweep-irq-handling @sweep
    Example: an NMI at every instruction boundary of an IRQ's vector, entry code, stack switch, handler and exit
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the body of work_b
      And an NMI is taken at every instruction boundary of that IRQ's entry, handler and exit
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:nmi-sweep-irq-handling-in-prologue @sweep
    Example: the same, with the IRQ taken in a prologue
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the prologue of work_b
      And an NMI is taken at every instruction boundary of that IRQ's entry, handler and exit
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:ppc-stale-regs-marker-in-live-frame @arch:powerpc64
    Example: a live frame over the dead area of an interrupt frame that has returned
      warn_fn's WARN trap built an interrupt frame below warn_fn's frame and returned; __schedule's frame now
      lies exactly there, stale pt_regs in the words it never writes. The kernel cleared the "regs" marker on
      the way out (9580b71b5a78 for 32-bit, eddd0b332304 for 64s): a marker left there would make the frame look
      like an interrupt frame, and an unwinder that trusts it would walk the stale pt_regs.
      Given a task blocked in schedule() with a frame over a dead interrupt frame
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:ppc-irq-sweep-preempted-work-chain @sweep @arch:powerpc64
    Example: a task preempted at every instruction boundary of its kernel path, its interrupt frame on the task stack
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken at every instruction boundary of the task's kernel path
      When a reliable stacktrace is requested for the task
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

  @req:reject-exceptions-when-unidentifiable @must
  Rule: Exception boundaries are rejected, unless the unwinder can tell when unwinding them is reliable

    @id:irq-in-prologue-rejected
    Example: an IRQ in a prologue, while the frame pointer is transiently invalid
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the prologue of work_b
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace is reported unreliable, unless the unwinder identifies reliable unwinds and then it is the exact call chain

    @id:irq-in-epilogue-rejected
    Example: an IRQ in an epilogue, after the frame record is popped
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the epilogue of work_b
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace is reported unreliable, unless the unwinder identifies reliable unwinds and then it is the exact call chain

    @id:irq-in-leaf-body-rejected
    Example: an IRQ in a leaf function's body, its return address held only in a register or at the stack top
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the body of work_c
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace is reported unreliable, unless the unwinder identifies reliable unwinds and then it is the exact call chain

    @id:irq-at-function-entry-rejected
    Example: an IRQ at a function's entry, before its frame is set up
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken at the entry of work_c
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace is reported unreliable, unless the unwinder identifies reliable unwinds and then it is the exact call chain

    @id:irq-preempted-task-rejected
    Example: a task preempted by an IRQ and blocked with the exception frame on its stack
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the body of work_b
      When a reliable stacktrace is requested for the task
      Then the trace is reported unreliable, unless the unwinder identifies reliable unwinds and then it is the exact call chain

    @id:nmi-rejected
    Example: an NMI in a function body
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an NMI is taken in the body of work_b
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace is reported unreliable, unless the unwinder identifies reliable unwinds and then it is the exact call chain

    @id:irq-sweep-all-rejected @sweep
    Example: every walk across an IRQ boundary is rejected
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken at every instruction boundary of the task's kernel path
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is reported unreliable, unless the unwinder identifies reliable unwinds and then it is the exact call chain

    @id:irq-return-address-in-gpr-rejected @sweep @arch:arm64 @arch:riscv64 @arch:loongarch64 @arch:s390x @arch:powerpc64
    Example: an IRQ while the return address is in a general purpose register and the LR is stale
      Given a task running a leaf function that keeps its return address in a general purpose register
      And an IRQ is taken at every instruction boundary of lrgpr_leaf
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is reported unreliable, unless the unwinder identifies reliable unwinds and then it is the exact call chain

    @id:kprobe-brk-in-prologue-rejected
    Example: a kprobe breakpoint in a prologue, while the frame pointer is transiently invalid
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And a kprobe breakpoint is hit in the prologue of work_b
      When a reliable stacktrace is requested from the exception handler
      Then the trace is reported unreliable, unless the unwinder identifies reliable unwinds and then it is the exact call chain

    @id:page-fault-in-body-sleeping-rejected
    Example: a task asleep in the handler of a kernel page fault taken in a function body
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And a kernel page fault is taken in the body of work_b
      When a reliable stacktrace is requested for the task
      Then the trace is reported unreliable, unless the unwinder identifies reliable unwinds and then it is the exact call chain

    @id:nmi-sweep-irq-handling-rejected @sweep
    Example: an NMI at every instruction boundary of an IRQ's handling is rejected unless identified
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the body of work_b
      And an NMI is taken at every instruction boundary of that IRQ's entry, handler and exit
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is reported unreliable, unless the unwinder identifies reliable unwinds and then it is the exact call chain

    @id:s390x-async-stack-walk-rejected @sweep @arch:s390x
    Example: walks from the IRQ handler begin on the async stack, which a reliable walk refuses
      do_ext_irq runs the handler on this CPU's async stack (call_on_stack): the first frame is not on
      the task stack, whatever instruction the IRQ interrupted.
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken at every instruction boundary of work_b
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is reported unreliable, unless the unwinder identifies reliable unwinds and then it is the exact call chain

    @id:s390x-zero-back-chain-kernel-pt-regs-rejected @arch:s390x
    Example: a preempted task's back chain ends at the IRQ's frame, whose zero back chain leads to kernel-mode pt_regs
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the body of work_b
      When a reliable stacktrace is requested for the task
      Then the trace is reported unreliable, unless the unwinder identifies reliable unwinds and then it is the exact call chain

    @id:s390x-mcck-stack-walk-rejected @arch:s390x
    Example: a walk from the machine-check handler begins on the mcck stack
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an NMI is taken in the body of work_b
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace is reported unreliable, unless the unwinder identifies reliable unwinds and then it is the exact call chain

  @req:irq-and-nmi-judged-separately @may
  Rule: Unwinding across IRQs may be reliable while unwinding across NMIs is not

    @id:irq-in-body-reliable-as-claimed
    Example: an IRQ in a function body is unwound
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the body of work_b
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace is reliable

    @id:nmi-in-body-as-claimed
    Example: an NMI at the same instruction is unwound only if the profile claims it
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an NMI is taken in the body of work_b
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace is reliable if the profile claims it unwinds across NMIs, and reported unreliable otherwise

    @id:nmi-nested-in-irq-as-claimed
    Example: an NMI nested in an IRQ handler is unwound only if the profile claims it
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the body of work_b
      And an NMI is taken inside that IRQ handler
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace is reliable if the profile claims it unwinds across NMIs, and reported unreliable otherwise

  @req:unwind-exceptions-when-identifiable @should
  Rule: An unwinder that can tell when it is reliable unwinds across exception boundaries

    @id:irq-in-body-unwound
    Example: an IRQ in a function body
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the body of work_b
      When a reliable stacktrace is requested from the interrupt handler
      Then every function the task may return to appears in the trace

    @id:irq-sweep-some-reliable @sweep
    Example: across every instruction boundary, walks are sound and the unwindable ones are unwound
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken at every instruction boundary of the task's kernel path
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the walks the model knows to be unwindable are reliable, as often as the catalogue asks
      And the reliable share is recorded

    @id:irq-stack-next-sp-loongarch-unwound @sweep @arch:loongarch64
    Example: from the IRQ stack, next_sp at its top leads back to the interrupted task's pt_regs
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken at every instruction boundary of work_a
      When a reliable stacktrace is requested from the interrupt handler
      Then the walks the model knows to be unwindable are reliable, as often as the catalogue asks

    @id:kprobe-brk-sweep-unwound @sweep
    Example: walks from a kprobe handler across the breakpoint are unwound where the model knows them unwindable
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And a kprobe breakpoint is hit at every instruction boundary of work_b
      When a reliable stacktrace is requested from the exception handler
      Then the walks the model knows to be unwindable are reliable, as often as the catalogue asks

    @id:page-fault-sleeping-task-unwound @sweep
    Example: a task sleeping in a page fault taken in work_b is unwound where the model knows it unwindable
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And a kernel page fault is taken at every instruction boundary of work_b
      When a reliable stacktrace is requested for the task
      Then the walks the model knows to be unwindable are reliable, as often as the catalogue asks

  @req:unwind-through-exceptions-if-able @should
  Rule: If you can reliably unwind through exceptions, you should (as x86_64 does)

    @id:irq-through-loongarch-vector-copy-unwound @arch:loongarch64
    Example: an IRQ's handlers return into the vector copy of handle_vint, which the walk maps back and crosses
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the body of work_b
      When a reliable stacktrace is requested from the interrupt handler
      Then the walk is judged against a ground truth that holds handle_vint
      And every function the task may return to appears in the trace

    @id:preempted-task-unwound
    Example: a task preempted by an IRQ in a function body, then blocked
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the body of work_b
      When a reliable stacktrace is requested for the task
      Then every function the task may return to appears in the trace

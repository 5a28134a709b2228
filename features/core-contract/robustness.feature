@topic:core-contract
Feature: Robustness to corrupt unwind state
  The reliable stacktrace function must be robust to a corrupt stack: it should detect the corruption
  and return non-zero, and must neither loop forever nor access memory in an unsafe way.

  @req:robust-to-corrupt-unwind-state @must
  Rule: The reliable stacktrace function is robust to corrupt stack or unwind state

    @id:zeroed-frame-pointer-robust
    Example: a saved frame pointer is zero before the final frame
      Given a task blocked in schedule() below a system call
      And a saved frame pointer that is zero before the final frame
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable
      And the walk does not access memory in an unsafe way
      And the walk ends in bounded steps

    @id:garbage-return-address-robust
    Example: a saved return address is not kernel text
      Given a task blocked in schedule() below a system call
      And a saved return address that is not kernel text
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable
      And the walk does not access memory in an unsafe way
      And the walk ends in bounded steps

    @id:misaligned-frame-pointer-robust
    Example: a saved frame pointer is misaligned
      Given a task blocked in schedule() below a system call
      And a misaligned saved frame pointer
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable
      And the walk does not access memory in an unsafe way
      And the walk ends in bounded steps

    @id:irq-preempted-unmapped-frame-pointer-robust
    Example: a task preempted by an IRQ, its saved frame pointer into unmapped memory
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the body of work_b
      And a saved frame pointer into unmapped memory
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable
      And the walk does not access memory in an unsafe way
      And the walk ends in bounded steps

    @id:irq-handler-cyclic-frame-chain-robust
    Example: a walk from an interrupt handler whose frame record links back to an inner one
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the body of work_b
      And a frame record that links back to an inner frame record
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace is complete or reported unreliable
      And the walk does not access memory in an unsafe way
      And the walk ends in bounded steps

    @id:fgraph-garbage-return-address-robust
    Example: a graph-traced task whose saved return address is not kernel text
      Given a task blocked in schedule() below a system call
      And function-graph tracing of do_nanosleep
      And a saved return address that is not kernel text
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable
      And the walk does not access memory in an unsafe way
      And the walk ends in bounded steps

    @id:irq-handler-garbage-exception-pc-robust
    Example: a walk from an interrupt handler whose exception frame saves a program counter outside kernel text
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the body of work_b
      And the interrupted program counter saved in the exception frame is not kernel text
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace is complete or reported unreliable
      And the walk does not access memory in an unsafe way
      And the walk ends in bounded steps

    @id:irq-preempted-garbage-exception-pc-robust
    Example: a task preempted by an IRQ, the program counter saved in its exception frame not kernel text
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the body of work_b
      And the interrupted program counter saved in the exception frame is not kernel text
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable
      And the walk does not access memory in an unsafe way
      And the walk ends in bounded steps

    @id:irq-handler-misaligned-exception-fp-robust
    Example: a walk from an interrupt handler whose exception frame saves a misaligned frame pointer
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the body of work_b
      And the frame pointer saved in the exception frame is misaligned
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace is complete or reported unreliable
      And the walk does not access memory in an unsafe way
      And the walk ends in bounded steps

    @id:irq-preempted-other-task-exception-fp-robust
    Example: a task preempted by an IRQ, the frame pointer saved in its exception frame into another task's stack
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the body of work_b
      And the frame pointer saved in the exception frame points at another task's stack
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable
      And the walk does not access memory in an unsafe way
      And the walk ends in bounded steps

    @id:irq-handler-unmapped-exception-sp-robust
    Example: a walk from an interrupt handler whose exception frame saves a stack pointer into unmapped memory
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the prologue of work_b
      And the stack pointer saved in the exception frame points into unmapped memory
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace is complete or reported unreliable
      And the walk does not access memory in an unsafe way
      And the walk ends in bounded steps

    @id:irq-preempted-other-task-exception-sp-robust
    Example: a task preempted by an IRQ, the stack pointer saved in its exception frame into another task's stack
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the prologue of work_b
      And the stack pointer saved in the exception frame points into another task's stack
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable
      And the walk does not access memory in an unsafe way
      And the walk ends in bounded steps

    @id:deep-zeroed-frame-pointer-robust
    Example: a zeroed frame pointer three records up the chain
      Given a task blocked in schedule() below a system call
      And a saved frame pointer that is zero before the final frame
      And the corruption is in frame record 3 counted from the innermost
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:deep-garbage-return-address-robust
    Example: a return address that is not kernel text three records up the chain
      Given a task blocked in schedule() below a system call
      And a saved return address that is not kernel text
      And the corruption is in frame record 3 counted from the innermost
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:deep-misaligned-frame-pointer-robust
    Example: a misaligned frame pointer two records up the chain
      Given a task blocked in schedule() below a system call
      And a misaligned saved frame pointer
      And the corruption is in frame record 2 counted from the innermost
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:s390x-back-chain-down-robust @arch:s390x
    Example: a back chain pointing down the stack, at a plausible copy of the caller's frame
      Given a task blocked in schedule() below a system call
      And a saved frame pointer that points down the stack
      When a reliable stacktrace is requested for the task
      Then the trace is reported unreliable
      And the walk does not access memory in an unsafe way
      And the walk ends in bounded steps

    @id:s390x-back-chain-other-stack-robust @arch:s390x
    Example: a back chain into another task's stack, at a real frame of that task
      Given a task blocked in schedule() below a system call
      And a saved frame pointer into another task's stack
      When a reliable stacktrace is requested for the task
      Then the trace is reported unreliable
      And the walk does not access memory in an unsafe way
      And the walk ends in bounded steps

    @id:s390x-preempted-back-chain-down-robust @arch:s390x
    Example: a preempted task (its IRQ's frames left on the async stack) whose innermost back chain points down the stack
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the body of work_b
      And a saved frame pointer that points down the stack
      When a reliable stacktrace is requested for the task
      Then the trace is reported unreliable
      And the walk does not access memory in an unsafe way
      And the walk ends in bounded steps

  @req:corruption-detected-nonzero @should
  Rule: Corrupt unwind state is detected and reported with a non-zero return code

    @id:zeroed-frame-pointer-detected
    Example: a frame chain cut short by a zero frame pointer is reported unreliable
      Given a task blocked in schedule() below a system call
      And a saved frame pointer that is zero before the final frame
      When a reliable stacktrace is requested for the task
      Then the trace is reported unreliable

    @id:cyclic-frame-chain-detected
    Example: a frame record that links back to an inner frame record is reported unreliable
      Given a task blocked in schedule() below a system call
      And a frame record that links back to an inner frame record
      When a reliable stacktrace is requested for the task
      Then the trace is reported unreliable

    @id:misaligned-frame-pointer-detected
    Example: a misaligned frame pointer is reported unreliable
      Given a task blocked in schedule() below a system call
      And a misaligned saved frame pointer
      When a reliable stacktrace is requested for the task
      Then the trace is reported unreliable

    @id:unmapped-frame-pointer-detected
    Example: a frame pointer into unmapped memory is reported unreliable
      Given a task blocked in schedule() below a system call
      And a saved frame pointer into unmapped memory
      When a reliable stacktrace is requested for the task
      Then the trace is reported unreliable

    @id:other-task-frame-pointer-detected
    Example: a frame pointer into another task's stack is reported unreliable
      Given a task blocked in schedule() below a system call
      And a saved frame pointer into another task's stack
      When a reliable stacktrace is requested for the task
      Then the trace is reported unreliable

    @id:downward-frame-pointer-detected
    Example: a frame pointer that points down the stack is reported unreliable
      Given a task blocked in schedule() below a system call
      And a saved frame pointer that points down the stack
      When a reliable stacktrace is requested for the task
      Then the trace is reported unreliable

    @id:garbage-return-address-detected
    Example: a return address outside kernel text is reported unreliable
      Given a task blocked in schedule() below a system call
      And a saved return address that is not kernel text
      When a reliable stacktrace is requested for the task
      Then the trace is reported unreliable

    @id:fgraph-ret-stack-wrong-ret-detected
    Example: a ret_stack entry whose saved return address is not kernel text
      Given a task blocked in schedule() below a system call
      And function-graph tracing of do_nanosleep
      And the return address saved in the task's function-graph return stack is not kernel text
      When a reliable stacktrace is requested for the task
      Then the trace is reported unreliable

    @id:fgraph-ret-stack-missing-detected
    Example: return_to_handler on the stack of a task with no graph tracing state is detected
      Given a task blocked in schedule() below a system call
      And function-graph tracing of do_nanosleep
      And the task's function-graph return stack is missing
      When a reliable stacktrace is requested for the task
      Then the trace is reported unreliable

    @id:kretprobe-instance-wrong-ret-detected
    Example: a kretprobe instance whose saved return address is not kernel text
      Given a task blocked in schedule() below a system call
      And a kretprobe on do_nanosleep
      And the return address saved in the task's kretprobe instance is not kernel text
      When a reliable stacktrace is requested for the task
      Then the trace is reported unreliable

    @id:garbage-exception-pc-detected
    Example: an exception frame whose saved program counter is not kernel text is reported unreliable
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the body of work_b
      And the interrupted program counter saved in the exception frame is not kernel text
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace is reported unreliable

    @id:other-task-exception-fp-detected
    Example: an exception frame whose saved frame pointer points into another task's stack is reported unreliable
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the body of work_b
      And the frame pointer saved in the exception frame points at another task's stack
      When a reliable stacktrace is requested for the task
      Then the trace is reported unreliable

    @id:deep-garbage-return-address-detected
    Example: a return address outside kernel text three records up the chain is reported unreliable
      Given a task blocked in schedule() below a system call
      And a saved return address that is not kernel text
      And the corruption is in frame record 3 counted from the innermost
      When a reliable stacktrace is requested for the task
      Then the trace is reported unreliable

    @id:deep-other-task-frame-pointer-detected
    Example: a frame pointer into another task's stack three records up the chain is reported unreliable
      Given a task blocked in schedule() below a system call
      And a saved frame pointer into another task's stack
      And the corruption is in frame record 3 counted from the innermost
      When a reliable stacktrace is requested for the task
      Then the trace is reported unreliable

    @id:ppc-back-chain-downward-detected @arch:powerpc64
    Example: a back chain pointing down the stack is reported unreliable
      Given a kernel thread blocked in schedule()
      And a saved frame pointer that points down the stack
      When a reliable stacktrace is requested for the task
      Then the trace is reported unreliable

    @id:ppc-back-chain-into-other-stack-detected @arch:powerpc64
    Example: a back chain into another task's stack, deeper in the chain, is reported unreliable
      Given a task blocked in schedule() below a system call
      And a saved frame pointer into another task's stack
      And the corruption is in frame record 3 counted from the innermost
      When a reliable stacktrace is requested for the task
      Then the trace is reported unreliable

  @req:walk-terminates @must
  Rule: The walk does not get stuck in an infinite loop

    @id:cyclic-frame-chain-bounded
    Example: a cyclic frame chain does not trap the walk
      Given a task blocked in schedule() below a system call
      And a frame record that links back to an inner frame record
      When a reliable stacktrace is requested for the task
      Then the walk ends in bounded steps
      And the trace is complete or reported unreliable

    @id:downward-frame-chain-bounded
    Example: a frame chain that runs down the stack does not trap the walk
      Given a task blocked in schedule() below a system call
      And a saved frame pointer that points down the stack
      When a reliable stacktrace is requested for the task
      Then the walk ends in bounded steps
      And the trace is complete or reported unreliable

    @id:deep-cyclic-frame-chain-bounded
    Example: a frame chain that cycles three records up the chain does not trap the walk
      Given a task blocked in schedule() below a system call
      And a frame record that links back to an inner frame record
      And the corruption is in frame record 3 counted from the innermost
      When a reliable stacktrace is requested for the task
      Then the walk ends in bounded steps
      And the trace is complete or reported unreliable

  @req:walk-memory-safe @must
  Rule: The walk does not access memory in an unsafe way

    @id:unmapped-frame-pointer-not-dereferenced
    Example: a frame pointer into unmapped memory is not followed
      Given a task blocked in schedule() below a system call
      And a saved frame pointer into unmapped memory
      When a reliable stacktrace is requested for the task
      Then the walk does not access memory in an unsafe way
      And the trace is complete or reported unreliable

    @id:other-task-frame-pointer-not-dereferenced
    Example: a frame pointer into another task's stack is not followed
      Given a task blocked in schedule() below a system call
      And a saved frame pointer into another task's stack
      When a reliable stacktrace is requested for the task
      Then the walk does not access memory in an unsafe way
      And the trace is complete or reported unreliable

    @id:straddling-frame-record-not-read-past-stack-top
    Example: a frame record that starts inside the stack but ends past its top is not read
      Given a task blocked in schedule() below a system call
      And a saved frame pointer to a frame record that straddles the top of the stack
      When a reliable stacktrace is requested for the task
      Then the walk does not access memory in an unsafe way
      And the trace is complete or reported unreliable

    @id:straddling-frame-record-deeper-not-read-past-stack-top
    Example: the same, two records up the chain
      Given a task blocked in schedule() below a system call
      And a saved frame pointer to a frame record that straddles the top of the stack
      And the corruption is in frame record 2 counted from the innermost
      When a reliable stacktrace is requested for the task
      Then the walk does not access memory in an unsafe way
      And the trace is complete or reported unreliable

    @id:unmapped-exception-sp-not-dereferenced
    Example: a stack pointer into unmapped memory saved in an exception frame is not followed
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the prologue of work_b
      And the stack pointer saved in the exception frame points into unmapped memory
      When a reliable stacktrace is requested for the task
      Then the walk does not access memory in an unsafe way
      And the trace is complete or reported unreliable

    @id:other-task-exception-sp-not-dereferenced
    Example: a stack pointer into another task's stack saved in an exception frame is not followed
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the prologue of work_b
      And the stack pointer saved in the exception frame points into another task's stack
      When a reliable stacktrace is requested from the interrupt handler
      Then the walk does not access memory in an unsafe way
      And the trace is complete or reported unreliable

    @id:other-task-exception-fp-not-dereferenced
    Example: a frame pointer into another task's stack saved in an exception frame is not followed
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken in the body of work_b
      And the frame pointer saved in the exception frame points at another task's stack
      When a reliable stacktrace is requested from the interrupt handler
      Then the walk does not access memory in an unsafe way
      And the trace is complete or reported unreliable

    @id:irq-sweep-memory-safe @sweep
    Example: walks from an interrupt handler at every instruction boundary read only this task's stacks
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken at every instruction boundary of the task's kernel path
      When a reliable stacktrace is requested from the interrupt handler
      Then the walk does not access memory in an unsafe way
      And the walk ends in bounded steps

    @id:deep-unmapped-frame-pointer-not-dereferenced
    Example: a frame pointer into unmapped memory three records up the chain is not followed
      Given a task blocked in schedule() below a system call
      And a saved frame pointer into unmapped memory
      And the corruption is in frame record 3 counted from the innermost
      When a reliable stacktrace is requested for the task
      Then the walk does not access memory in an unsafe way
      And the trace is complete or reported unreliable

    @id:deep-other-task-frame-pointer-not-dereferenced
    Example: a frame pointer into another task's stack three records up the chain is not followed
      Given a task blocked in schedule() below a system call
      And a saved frame pointer into another task's stack
      And the corruption is in frame record 3 counted from the innermost
      When a reliable stacktrace is requested for the task
      Then the walk does not access memory in an unsafe way
      And the trace is complete or reported unreliable

@topic:rewritten-return-addresses
Feature: Rewriting of return addresses
  Function-graph tracing and kretprobes replace a return address with a return trampoline. An unwinder
  may report the original return address in place of the trampoline; otherwise it must report the
  walk unreliable. The original return address is not in one place for the whole of return_to_handler.

  @req:rewritten-return-unreliable-unless-recovered @must
  Rule: A rewritten return address is recovered reliably or the walk is reported unreliable

    @id:fgraph-blocked-task-sound
    Example: a task blocked below a graph-traced function
      Given a task blocked in schedule() below a system call
      And function-graph tracing of do_nanosleep
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:kretprobe-blocked-task-sound
    Example: a task blocked below a kretprobed function
      Given a task blocked in schedule() below a system call
      And a kretprobe on do_nanosleep
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:kretprobe-handler-walks-current-two-probes @arch:arm64
    Example: a return handler walks its own task while the returning frame's two instances are still listed
      __kretprobe_trampoline_handler() gives each instance of the returning frame the real return
      address before running its handler, and unlinks them only afterwards: the instance list then holds
      two instances for work_c, and the one for work_b comes after them. Matching an instance to a frame
      by its position in the list, not by its frame pointer, takes work_c's second instance for work_b.
      (arm64 only: x86_64's rethook neither rewrites the saved addresses nor leaves the trampoline's
      address in a frame record while the handlers run.)
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And two kretprobes on work_c
      And a kretprobe on work_b
      When a reliable stacktrace of the current task is requested from a kretprobe return handler
      Then the trace is complete or reported unreliable

    @id:nested-fgraph-graph-stack-index
    Example: several traced functions: each return_to_handler is matched to its own ret_stack entry
      Given a task blocked in schedule() below a system call
      And function-graph tracing of sys_sleep
      And function-graph tracing of do_nanosleep
      And function-graph tracing of schedule
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:fgraph-and-kretprobe-interleaved
    Example: graph-traced and kretprobed functions interleaved on one stack
      Given a task blocked in schedule() below a system call
      And a kretprobe on sys_sleep
      And function-graph tracing of do_nanosleep
      And a kretprobe on schedule
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:fgraph-tail-call
    Example: a graph-traced function that tail-calls another
      Given a task blocked in schedule() below a tail call from tail_a to tail_b
      And function-graph tracing of tail_a
      And function-graph tracing of tail_b
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:kretprobe-behind-fgraph-tail-call @arch:x86_64
    Example: a graph-traced function tail-calls a kretprobed one, and both rewrote the one return slot
      The kretprobe saved return_to_handler as the original return address: recovering it gives the
      graph tracer's address, which must be recovered in turn, or the walk reported unreliable.
      (x86_64 only: kernels with frame pointers, as arm64's are, build C with -fno-optimize-sibling-calls,
      so a traced function never tail-calls there.)
      Given a task blocked in schedule() below a tail call from tail_a to tail_b
      And function-graph tracing of tail_a
      And a kretprobe on tail_b
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:irq-sweep-fgraph-tail-call @sweep
    Example: an IRQ at every instruction boundary of a graph-traced tail call
      Given a task blocked in schedule() below a tail call from tail_a to tail_b
      And function-graph tracing of tail_a
      And function-graph tracing of tail_b
      And an IRQ is taken at every instruction boundary of the task's kernel path
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:irq-sweep-fgraph-work-chain @sweep
    Example: an IRQ at every instruction boundary of a fully graph-traced call chain
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And function-graph tracing of work_a
      And function-graph tracing of work_b
      And function-graph tracing of work_c
      And an IRQ is taken at every instruction boundary of the task's kernel path
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:irq-sweep-kretprobe-work-chain @sweep
    Example: an IRQ at every instruction boundary of a kretprobed call chain
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And a kretprobe on work_b
      And a kretprobe on work_c
      And an IRQ is taken at every instruction boundary of the task's kernel path
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:fgraph-ret-stack-missing-blocked
    Example: return_to_handler is on the stack but the task has no graph tracing state
      Given a task blocked in schedule() below a system call
      And function-graph tracing of do_nanosleep
      And the task's function-graph return stack is missing
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:fgraph-ret-stack-empty-blocked
    Example: return_to_handler is on the stack but the task's ret_stack is empty
      Given a task blocked in schedule() below a system call
      And function-graph tracing of do_nanosleep
      And the task's function-graph return stack is empty
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:fgraph-ret-stack-wrong-key-blocked
    Example: return_to_handler is on the stack but no ret_stack entry is keyed to its slot
      Given a task blocked in schedule() below a system call
      And function-graph tracing of do_nanosleep
      And the task's function-graph return stack entry for that return has the wrong key
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:fgraph-ret-stack-missing-irq-handler
    Example: an IRQ below a graph-traced function whose task has no graph tracing state
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And function-graph tracing of work_b
      And an IRQ is taken in the body of work_c
      And the task's function-graph return stack is missing
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace is complete or reported unreliable

    @id:fgraph-ret-stack-wrong-ret-blocked
    Example: the ret_stack entry behind return_to_handler saves a return address that is not kernel text
      Given a task blocked in schedule() below a system call
      And function-graph tracing of do_nanosleep
      And the return address saved in the task's function-graph return stack is not kernel text
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:kretprobe-instances-empty-blocked
    Example: __kretprobe_trampoline is on the stack but the task has no kretprobe instance
      Given a task blocked in schedule() below a system call
      And a kretprobe on do_nanosleep
      And the task's kretprobe instance list is empty
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:kretprobe-instance-wrong-key-blocked
    Example: __kretprobe_trampoline is on the stack but no instance is keyed to its slot
      Given a task blocked in schedule() below a system call
      And a kretprobe on do_nanosleep
      And the task's kretprobe instance for that return has the wrong key
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:kretprobe-instances-empty-irq-handler
    Example: an IRQ below a kretprobed function whose task has no kretprobe instance
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And a kretprobe on work_b
      And an IRQ is taken in the body of work_c
      And the task's kretprobe instance list is empty
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace is complete or reported unreliable

    @id:kretprobe-instance-wrong-ret-blocked
    Example: the kretprobe instance behind the trampoline saves a return address that is not kernel text
      Given a task blocked in schedule() below a system call
      And a kretprobe on do_nanosleep
      And the return address saved in the task's kretprobe instance is not kernel text
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:ppc-livepatch-stack-recovered @arch:powerpc64
    Example: a livepatched function's caller, whose return address livepatch_handler keeps on the livepatch stack
      klp_old_fn's ftrace call site sends it on to klp_new_fn through livepatch_handler, which pushes the
      real LR (the return into klp_caller) on the livepatch stack in thread_info and calls klp_new_fn: the
      LR save slot of klp_caller's frame holds the return into livepatch_handler, not into klp_caller.
      Given a task blocked in schedule() below a livepatched function, entered through livepatch_handler
      When a reliable stacktrace is requested for the task
      Then the walk is judged against a ground truth that holds klp_caller
      And the trace is complete or reported unreliable

  @req:fgraph-original-return-reported @may
  Rule: The original return address is reported in place of return_to_handler

    @id:fgraph-original-return-reported-blocked
    Example: ftrace_graph_ret_addr() recovers the original return address
      Given a task blocked in schedule() below a system call
      And function-graph tracing of do_nanosleep
      When a reliable stacktrace is requested for the task
      Then every function the task may return to appears in the trace

    @id:fgraph-original-returns-reported-nested
    Example: every traced function's original return address is recovered
      Given a task blocked in schedule() below a system call
      And function-graph tracing of sys_sleep
      And function-graph tracing of do_nanosleep
      And function-graph tracing of schedule
      When a reliable stacktrace is requested for the task
      Then every function the task may return to appears in the trace

  @req:kretprobe-original-return-reported @may
  Rule: The original return address is reported in place of the kretprobe trampoline

    @id:kretprobe-original-return-reported-blocked
    Example: kretprobe_find_ret_addr() recovers the original return address
      Given a kernel thread blocked in schedule()
      And a kretprobe on schedule
      When a reliable stacktrace is requested for the task
      Then every function the task may return to appears in the trace

  @req:return-trampolines-omitted @may
  Rule: Return trampolines not subject to patching may be omitted when the original return address is reported

    @id:return-to-handler-omitted
    Example: return_to_handler is left out and the traced function's caller is reported
      Given a kernel thread blocked in schedule()
      And function-graph tracing of schedule
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:kretprobe-trampoline-omitted
    Example: __kretprobe_trampoline is left out and the probed function's caller is reported
      Given a kernel thread blocked in schedule()
      And a kretprobe on worker_thread
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:ppc-livepatch-stack-reported @arch:powerpc64
    Example: livepatch_handler is left out and the livepatched function's caller reported from the livepatch stack
      Given a task blocked in schedule() below a livepatched function, entered through livepatch_handler
      When a reliable stacktrace is requested for the task
      Then every function the task may return to appears in the trace

  @req:unwind-before-return-to-handler @should
  Rule: Walks where return_to_handler has not yet been returned to are unwound

    @id:traced-function-running-unwound
    Example: while the traced function runs
      Given the spec says:
        """
        While the traced function runs its return address points on the stack points to
        the start of return_to_handler, and the original return address is stored in
        the task's cur_ret_stack. During this time the unwinder can find the return
        address using ftrace_graph_ret_addr().
        """
      And a task blocked in schedule() below a system call
      And function-graph tracing of schedule
      When a reliable stacktrace is requested for the task
      Then every function the task may return to appears in the trace

  @req:return-to-handler-middle-optional @may
  Rule: Unwinding from the middle of return_to_handler is not required

    @id:rth-stage-returned-to-trampoline
    Example: the traced function has returned to return_to_handler
      Given the spec says:
        """
        When the traced function returns to return_to_handler, there is no longer a
        return address on the stack, though the original return address is still stored
        in the task's cur_ret_stack.
        """
      And a task in a system call running work_a, which calls work_b, which calls work_c
      And function-graph tracing of work_c
      And an IRQ is taken at the entry of return_to_handler
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace is complete or reported unreliable

    @id:rth-stage-inside-ftrace-return-to-handler @sweep
    Example: ftrace_return_to_handler() has removed the original return address from cur_ret_stack
      Given the spec says:
        """
        Within ftrace_return_to_handler(), the original
        return address is removed from cur_ret_stack and is transiently moved
        arbitrarily by the compiler before being returned in rax.
        """
      And a task in a system call running work_a, which calls work_b, which calls work_c
      And function-graph tracing of work_c
      And an IRQ is taken at every instruction boundary of ftrace_return_to_handler
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:rth-every-stage @sweep
    Example: every instruction boundary of return_to_handler
      Given the spec says:
        """
        Architectures might not always be able to unwind such sequences, such as when
        ftrace_return_to_handler() has removed the address from cur_ret_stack, and the
        location of the return address cannot be reliably determined.
        """
      And a task in a system call running work_a, which calls work_b, which calls work_c
      And function-graph tracing of work_c
      And an IRQ is taken at every instruction boundary of return_to_handler
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And some walks are reliable if the profile claims it unwinds inside return_to_handler
      And the reliable share is recorded

    @id:rth-x86-jump-to-original @sweep @arch:x86_64
    Example: the x86_64 return_to_handler moves the original return address into rdi and jumps to it
      Given the spec says:
        """
        SYM_CODE_START(return_to_handler)
                UNWIND_HINT_EMPTY
                subq  $24, %rsp

                /* Save the return values */
                movq %rax, (%rsp)
                movq %rdx, 8(%rsp)
                movq %rbp, %rdi

                call ftrace_return_to_handler

                movq %rax, %rdi
                movq 8(%rsp), %rdx
                movq (%rsp), %rax
                addq $24, %rsp
                JMP_NOSPEC rdi
        SYM_CODE_END(return_to_handler)
        """
      And the spec says:
        """
        The return_to_handler
        trampoline moves this into rdi before jumping to it.
        """
      And a task in a system call running work_a, which calls work_b, which calls work_c
      And function-graph tracing of work_c
      And an IRQ is taken at every instruction boundary of return_to_handler
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable

    @arch:x86_64
    Scenario Outline: an IRQ before "<instruction>" in the x86_64 return_to_handler
      The spec quotes an older return_to_handler. Today's (ftrace_64.S since 20a0bc10272f) first
      steps back over the slot its RET consumed, builds an ftrace_regs frame for the exit handlers
      and returns to the original address through an intra-function call; its stages are the same.
      Given the spec says:
        """
        SYM_CODE_START(return_to_handler)
                UNWIND_HINT_EMPTY
                subq  $24, %rsp

                /* Save the return values */
                movq %rax, (%rsp)
                movq %rdx, 8(%rsp)
                movq %rbp, %rdi

                call ftrace_return_to_handler

                movq %rax, %rdi
                movq 8(%rsp), %rdx
                movq (%rsp), %rax
                addq $24, %rsp
                JMP_NOSPEC rdi
        SYM_CODE_END(return_to_handler)
        """
      And a task in a system call running work_a, which calls work_b, which calls work_c
      And function-graph tracing of work_c
      And an IRQ is taken before "<instruction>" in return_to_handler
      When a reliable stacktrace is requested from the interrupt handler
      Then the walk is judged against a ground truth that holds work_b
      And the trace is complete or reported unreliable

      @id:rth-stage-subq
      Examples: returned to the trampoline: no return address on the stack
        | instruction |
        | subq $8, %rsp |

      @id:rth-stage-save-rax
      Examples: saving the return values
        | instruction |
        | movq %rax, RAX(%rsp) |

      @id:rth-stage-save-rdx
      Examples: saving the return values
        | instruction |
        | movq %rdx, RDX(%rsp) |

      @id:rth-stage-pass-fp
      Examples: passing the ftrace_regs (rbp saved in it) to ftrace_return_to_handler
        | instruction |
        | movq %rsp, %rdi |

      @id:rth-stage-call
      Examples: the original is still in cur_ret_stack
        | instruction |
        | call ftrace_return_to_handler |

      @id:rth-stage-original-in-rax
      Examples: removed from cur_ret_stack, the original is in rax
        | instruction |
        | movq %rax, %rdi |

      @id:rth-stage-restore-rdx
      Examples: the original is in rdi
        | instruction |
        | movq RDX(%rsp), %rdx |

      @id:rth-stage-restore-rax
      Examples: the original is in rdi
        | instruction |
        | movq RAX(%rsp), %rax |

      @id:rth-stage-addq
      Examples: the original is in rdi
        | instruction |
        | addq $(FRAME_SIZE+8), %rsp |

      @id:rth-stage-jmp
      Examples: about to return to the original return address
        | instruction |
        | call .Ldo_rop |

      @id:rth-stage-rop-store
      Examples: the original is in rdi; the intra-function call's slot is about to receive it
        | instruction |
        | movq %rdi, (%rsp) |

    @arch:riscv64
    Scenario Outline: an IRQ before "<instruction>" in the riscv64 return_to_handler
      riscv's return_to_handler (mcount.S) saves the return values and s0 in an ftrace_regs frame, calls
      ftrace_return_to_handler(fregs), and jumps to the original return address it hands back in a0
      (moved to a2): the same stages as the spec's x86_64 trampoline, with no slot on the stack ever
      holding the original.
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And function-graph tracing of work_c
      And an IRQ is taken before "<instruction>" in return_to_handler
      When a reliable stacktrace is requested from the interrupt handler
      Then the walk is judged against a ground truth that holds work_b
      And the trace is complete or reported unreliable

      @id:rth-riscv-stage-addi
      Examples: returned to the trampoline: the original return address only in cur_ret_stack
        | instruction |
        | addi sp, sp, -112 |

      @id:rth-riscv-stage-save-a0
      Examples: saving the return values
        | instruction |
        | sd a0, 32(sp) |

      @id:rth-riscv-stage-save-s0
      Examples: saving the frame pointer ftrace_return_to_handler checks
        | instruction |
        | sd s0, 16(sp) |

      @id:rth-riscv-stage-pass-fregs
      Examples: passing the ftrace_regs to ftrace_return_to_handler
        | instruction |
        | mv a0, sp |

      @id:rth-riscv-stage-call
      Examples: the original is still in cur_ret_stack
        | instruction |
        | call ftrace_return_to_handler |

      @id:rth-riscv-stage-original-in-a0
      Examples: removed from cur_ret_stack, the original is in a0
        | instruction |
        | mv a2, a0 |

      @id:rth-riscv-stage-restore-a0
      Examples: the original is in a2
        | instruction |
        | ld a0, 32(sp) |

      @id:rth-riscv-stage-pop
      Examples: the original is in a2
        | instruction |
        | addi sp, sp, 112 |

      @id:rth-riscv-stage-jr
      Examples: about to jump to the original return address
        | instruction |
        | jr a2 |

  @req:other-return-trampolines-optional @may
  Rule: Unwinding from other trampolines that modify the return address is not required

    @id:irq-in-kretprobe-trampoline @sweep
    Example: walks interrupted inside the kretprobe trampoline
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And a kretprobe on work_c
      And an IRQ is taken at every instruction boundary of __kretprobe_trampoline
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

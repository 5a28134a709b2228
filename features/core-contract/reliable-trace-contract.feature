@topic:core-contract
Feature: The reliable stacktrace contract
  The reliable stacktrace function either reports every function the task may be returned to with
  return code zero, or returns non-zero. Only the cases the document describes may be left out.

  @req:trace-complete-or-nonzero @must
  Rule: A reliable trace includes every function the task may return to; otherwise the return code is non-zero

    @id:blocked-syscall-task-complete-or-unreliable
    Example: a task blocked in schedule() below a system call
      Given a task blocked in schedule() below a system call
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:blocked-kthread-complete-or-unreliable
    Example: a kernel thread blocked in schedule()
      Given a kernel thread blocked in schedule()
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:fp-violation-walk-unless-build-rejects
    Example: code that breaks the frame-pointer protocol is walked soundly, or never built
      The review thread: asm that "violates frame pointer protocol, silently causing the violater's callee
      to get skipped in the unwind". A profile whose build validates the frame-pointer protocol never
      ships this kernel (the walk is recorded, not graded); any other profile must walk it soundly.
      Given a task blocked in schedule() below inline asm that violates the frame-pointer protocol
      When a reliable stacktrace is requested for the task
      Then the walk is judged against a ground truth that holds sys_fpviol
      And the trace is complete or reported unreliable, unless build-time validation rejects this kernel

    @id:irq-sweep-work-chain-contract @sweep
    Example: a task interrupted at every instruction boundary of its kernel path
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken at every instruction boundary of the task's kernel path
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:generated-noreturn-call-at-function-end
    Example: the leaf's last instruction calls a function that never returns
      A generated kernel program (docs/generate.md), pasted as a shrunk failure prints it: gen_f1 ends with
      a call to gen_noreturn and no epilogue, so the return address saved for gen_f1 is the first byte past
      its end. A reliable trace reports that address for gen_f1, or the walk is reported unreliable.
      Given the generated kernel program:
        """json
        {
          "seed": 1,
          "moment": {},
          "program": {
            "id": "noreturn-end",
            "seed": 1,
            "entry": "gen_sys",
            "instrument": {"fgraph":[],"kretprobe":[]},
            "analysable": true,
            "expectFindings": [],
            "functions": [
              {"name":"gen_sys","frame":true,"steps":[{"op":"body","n":1},{"op":"call","fn":"gen_f1"},{"op":"body","n":1}]},
              {"name":"gen_f1","frame":true,"steps":[{"op":"body","n":2},{"op":"noreturn","fn":"gen_noreturn"}]},
              {"name":"gen_noreturn","frame":true,"noreturn":true,"steps":[{"op":"body","n":1},{"op":"call","fn":"schedule"}]}
            ]
          }
        }
        """
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:ppc-first-frame-lr-slot-skipped @arch:powerpc64
    Example: the LR save slot of a blocked task's first frame is stale and not part of the trace
      _switch's frame lies where pick_next_task's was: pick_next_task's callee saved its return address in
      that frame's LR save slot, and _switch calls nothing. The walk starts at thread.ksp; only the back
      chain of its first frame is live.
      Given a task blocked in schedule() below a system call
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable
      And the trace has no duplicated, inverted or spurious entry, or is reported unreliable

  @req:reliable-trace-in-true-order @should
  Rule: A reliable trace lists the true call chain in order, without duplicated, inverted or spurious entries

    @id:blocked-task-trace-in-order
    Example: a task blocked in schedule() is listed exactly, innermost first
      Given a task blocked in schedule() below a system call
      When a reliable stacktrace is requested for the task
      Then the trace has no duplicated, inverted or spurious entry, or is reported unreliable

    @id:irq-sweep-work-chain-in-order @sweep
    Example: walks interrupted at every instruction boundary of a call chain are exact or unreliable
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken at every instruction boundary of the task's kernel path
      When a reliable stacktrace is requested from the interrupt handler
      Then no walk has a duplicated, inverted or spurious entry unless reported unreliable
      And the reliable share is recorded

    @id:tail-call-invents-nothing
    Example: a tail call leaves no frame of the caller, and a reliable trace must not invent one
      Given a task blocked in schedule() below a tail call from tail_a to tail_b
      When a reliable stacktrace is requested for the task
      Then the trace has no duplicated, inverted or spurious entry, or is reported unreliable

    @id:irq-sweep-fgraph-in-order @sweep
    Example: walks through graph-traced functions consume each ret_stack entry once
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And function-graph tracing of work_b
      And function-graph tracing of work_c
      And an IRQ is taken at every instruction boundary of the task's kernel path
      When a reliable stacktrace is requested from the interrupt handler
      Then no walk has a duplicated, inverted or spurious entry unless reported unreliable
      And the reliable share is recorded

  @req:only-legitimate-omissions @must
  Rule: Only the cases the document describes may be omitted from a reliable trace

    @id:fgraph-traced-blocked-task-omits-only-return-trampoline
    Example: a reliable trace of a graph-traced task leaves out nothing but return_to_handler
      Given a task blocked in schedule() below a system call
      And function-graph tracing of do_nanosleep
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:kretprobed-blocked-task-omits-only-return-trampoline
    Example: a reliable trace of a kretprobed task leaves out nothing but the kretprobe trampoline
      Given a task blocked in schedule() below a system call
      And a kretprobe on do_nanosleep
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:tail-call-omits-nothing
    Example: below a tail call, the callee and every caller still live are reported
      Given a task blocked in schedule() below a tail call from tail_a to tail_b
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

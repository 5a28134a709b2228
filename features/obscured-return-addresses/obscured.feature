@topic:obscured-return-addresses
Feature: Obscuring of return addresses
  Some trampolines do not rewrite the return address but transiently clobber it or other unwind state:
  the x86_64 optprobe JMP, arm64 DYNAMIC_FTRACE_WITH_REGS call sites, the riscv64 ftrace call site
  (auipc t0 / jalr t0 before the prologue: at the start of the trampoline the return address into the
  traced function is in t0, and ra still holds the traced function's own return address) and the
  loongarch64 one (move $t0, $ra / bl ftrace_caller before the prologue: in the trampoline the return
  address into the traced function is in ra, the traced function's own return address in t0). Unwinders
  must either unwind such cases reliably or report them unreliable.

  @req:obscured-return-unwound-or-rejected @must
  Rule: Transiently obscured return addresses are unwound reliably or reported unreliable

    @id:optprobe-jmp-trampoline-sweep @sweep @arch:x86_64
    Example: an IRQ at every instruction of the optprobe trampoline, entered by a JMP
      Given the spec says:
        """
        the x86_64 implementation of optprobes patches the probed function
        with a JMP instruction which targets the associated optprobe trampoline. When
        the probe is hit, the CPU will branch to the optprobe trampoline, and the
        address of the probed function is not held in any register or on the stack.
        """
      And a task in a system call running work_a, which calls work_b, which calls work_c
      And an optimised kprobe at instruction 2 of work_b
      And an IRQ is taken at every instruction boundary of the optprobe trampoline
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:optprobe-probed-function-sweep @sweep @arch:x86_64
    Example: an IRQ at every instruction of the optprobed function
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an optimised kprobe at instruction 2 of work_b
      And an IRQ is taken at every instruction boundary of work_b
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable

    @id:ftrace-with-regs-trampoline-sweep @sweep @arch:arm64
    Example: an IRQ at every instruction of the trampoline, starting with X9 holding the return address
      Given work_b is patched for DYNAMIC_FTRACE_WITH_REGS with the spec's sequence:
        """
        MOV X9, X30
        BL <trampoline>
        """
      And the spec says:
        """
        At the
        start of the trampoline, the address of the traced function is in X9 rather
        than the link register as would usually be the case.
        """
      And a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken at every instruction boundary of the ftrace trampoline
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:ftrace-with-regs-between-mov-and-bl @arch:arm64
    Example: an IRQ between MOV X9, X30 and BL <trampoline>
      Given work_b is patched for DYNAMIC_FTRACE_WITH_REGS with the spec's sequence:
        """
        MOV X9, X30
        BL <trampoline>
        """
      And a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken before "BL <ftrace_caller>" in work_b
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace is complete or reported unreliable

    @id:ftrace-with-regs-patched-function-sweep @sweep @arch:arm64
    Example: an IRQ at every instruction of the patched function
      Given work_b is patched for DYNAMIC_FTRACE_WITH_REGS with the spec's sequence:
        """
        MOV X9, X30
        BL <trampoline>
        """
      And a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken at every instruction boundary of work_b
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable

    @id:ftrace-callsite-loongarch-trampoline-sweep @sweep @arch:loongarch64
    Example: an IRQ at every instruction of the loongarch64 ftrace trampoline, entered with t0 holding the traced function's return address
      Given work_b is patched with this arch's ftrace call site:
        """
        move $t0, $ra
        bl ftrace_caller
        """
      And the spec says:
        """
        Some trampolines do not rewrite the return address in order to intercept
        returns, but do transiently clobber the return address or other unwind state.
        """
      And a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken at every instruction boundary of the ftrace trampoline
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:ftrace-callsite-loongarch-between-move-and-bl @arch:loongarch64
    Example: an IRQ between the move and the bl of the loongarch64 ftrace call site
      Given work_b is patched with this arch's ftrace call site:
        """
        move $t0, $ra
        bl ftrace_caller
        """
      And a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken before "bl ftrace_caller" in work_b
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace is complete or reported unreliable

    @id:ftrace-callsite-loongarch-patched-function-sweep @sweep @arch:loongarch64
    Example: an IRQ at every instruction of the function patched with the loongarch64 ftrace call site
      Given work_b is patched with this arch's ftrace call site:
        """
        move $t0, $ra
        bl ftrace_caller
        """
      And a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken at every instruction boundary of work_b
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable

    @id:ftrace-callsite-loongarch-graph-traced-sweep @sweep @arch:loongarch64
    Example: an IRQ at every instruction of a graph-traced function entered through the loongarch64 call site
      Given work_b is patched with this arch's ftrace call site:
        """
        move $t0, $ra
        bl ftrace_caller
        """
      And a task in a system call running work_a, which calls work_b, which calls work_c
      And function-graph tracing of work_b
      And an IRQ is taken at every instruction boundary of the task's kernel path
      When a reliable stacktrace is requested for the task
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:ftrace-callsite-riscv-trampoline-sweep @sweep @arch:riscv64
    Example: an IRQ at every instruction of the riscv64 ftrace trampoline, starting with t0 holding the return address
      Given work_b is patched with this arch's ftrace call site:
        """
        auipc t0, ftrace_caller
        jalr t0, ftrace_caller(t0)
        """
      And the spec says:
        """
        Some trampolines do not rewrite the return address in order to intercept
        returns, but do transiently clobber the return address or other unwind state.
        """
      And a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken at every instruction boundary of the ftrace trampoline
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:ftrace-callsite-riscv-between-auipc-and-jalr @arch:riscv64
    Example: an IRQ between the auipc and the jalr of the riscv64 ftrace call site
      Given work_b is patched with this arch's ftrace call site:
        """
        auipc t0, ftrace_caller
        jalr t0, ftrace_caller(t0)
        """
      And a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken before "jalr t0, ftrace_caller(t0)" in work_b
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace is complete or reported unreliable

    @id:ftrace-callsite-riscv-patched-function-sweep @sweep @arch:riscv64
    Example: an IRQ at every instruction of the function patched with the riscv64 ftrace call site
      Given work_b is patched with this arch's ftrace call site:
        """
        auipc t0, ftrace_caller
        jalr t0, ftrace_caller(t0)
        """
      And a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken at every instruction boundary of work_b
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable

    @id:ftrace-callsite-riscv-graph-traced-sweep @sweep @arch:riscv64
    Example: an IRQ at every instruction of a graph-traced function entered through the riscv64 call site
      Given work_b is patched with this arch's ftrace call site:
        """
        auipc t0, ftrace_caller
        jalr t0, ftrace_caller(t0)
        """
      And a task in a system call running work_a, which calls work_b, which calls work_c
      And function-graph tracing of work_b
      And an IRQ is taken at every instruction boundary of the task's kernel path
      When a reliable stacktrace is requested for the task
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:ftrace-callsite-ppc-r0-window @arch:powerpc64
    Example: an IRQ between the mflr and the bl of the powerpc64 ftrace call site, the task preempted there
      -mprofile-kernel: before the bl, the return address into work_b's caller is in LR and r0 only; work_b
      has no frame yet and the LR save slot of work_a's frame is not written.
      Given work_b is patched with this arch's ftrace call site:
        """
        mflr r0
        bl ftrace_caller
        """
      And a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken before "bl ftrace_caller" in work_b
      When a reliable stacktrace is requested for the task
      Then the trace is complete or reported unreliable

    @id:ftrace-callsite-ppc-trampoline-sweep @sweep @arch:powerpc64
    Example: an IRQ at every instruction of the powerpc64 ftrace trampoline, entered with r0 holding the return address
      Given work_b is patched with this arch's ftrace call site:
        """
        mflr r0
        bl ftrace_caller
        """
      And a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken at every instruction boundary of the ftrace trampoline
      When a reliable stacktrace is requested for the task
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:ftrace-callsite-ppc-patched-function-sweep @sweep @arch:powerpc64
    Example: an IRQ at every instruction of the function patched with the powerpc64 ftrace call site
      Given work_b is patched with this arch's ftrace call site:
        """
        mflr r0
        bl ftrace_caller
        """
      And a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken at every instruction boundary of work_b
      When a reliable stacktrace is requested for the task
      Then every walk is complete or reported unreliable

    @id:ftrace-callsite-ppc-graph-traced-sweep @sweep @arch:powerpc64
    Example: an IRQ at every instruction of a graph-traced function entered through the powerpc64 call site
      Given work_b is patched with this arch's ftrace call site:
        """
        mflr r0
        bl ftrace_caller
        """
      And a task in a system call running work_a, which calls work_b, which calls work_c
      And function-graph tracing of work_b
      And an IRQ is taken at every instruction boundary of the task's kernel path
      When a reliable stacktrace is requested for the task
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:ftrace-callsite-s390x-trampoline-sweep @sweep @arch:s390x
    Example: an IRQ at every instruction of the s390x ftrace trampoline, entered with %r0 holding the return address into the traced function
      Given work_b is patched with this arch's ftrace call site:
        """
        brasl %r0,ftrace_caller
        """
      And the spec says:
        """
        Some trampolines do not rewrite the return address in order to intercept
        returns, but do transiently clobber the return address or other unwind state.
        """
      And a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken at every instruction boundary of the ftrace trampoline
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

    @id:ftrace-callsite-s390x-at-brasl @arch:s390x
    Example: an IRQ at the s390x ftrace call site, before the traced function's prologue
      Given work_b is patched with this arch's ftrace call site:
        """
        brasl %r0,ftrace_caller
        """
      And a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken before "brasl %r0,ftrace_caller" in work_b
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace is complete or reported unreliable

    @id:ftrace-callsite-s390x-graph-traced-sweep @sweep @arch:s390x
    Example: an IRQ at every instruction of a graph-traced function entered through the s390x call site, the task preempted
      Given work_b is patched with this arch's ftrace call site:
        """
        brasl %r0,ftrace_caller
        """
      And a task in a system call running work_a, which calls work_b, which calls work_c
      And function-graph tracing of work_b
      And an IRQ is taken at every instruction boundary of the task's kernel path
      When a reliable stacktrace is requested for the task
      Then every walk is complete or reported unreliable
      And the reliable share is recorded

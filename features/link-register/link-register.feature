@topic:link-register
Feature: Link register unreliability
  Where calls put the return address in a link register, it may be in the LR alone, on the stack alone,
  or in both. A trace may then describe a function twice or invert caller and callee, which is
  treated as unreliable; unwinders must reject exception boundaries unless metadata tells LR from stack.

  @req:lr-reject-unless-identifiable @must
  Rule: With a link register, exception boundaries are rejected unless LR or stack use can be identified

    @id:function-example-irq-after-prologue-rejected @arch:arm64
    Example: an IRQ after the prologue of the spec's function, with LR and frame record both live
      Given a task running the spec's "function:" example:
        """
        function:
                STP X29, X30, [SP, -16]!
                MOV X29, SP
                BL <other_function>
                LDP X29, X30, [SP], #16
                RET
        """
      And an IRQ is taken before "BL <other_function>" in function
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace is reported unreliable, unless the unwinder identifies reliable unwinds and then it is the exact call chain

    @id:function-example-sweep-rejected @sweep @arch:arm64
    Example: an IRQ at every instruction boundary of the spec's function
      Given a task running the spec's "function:" example:
        """
        function:
                STP X29, X30, [SP, -16]!
                MOV X29, SP
                BL <other_function>
                LDP X29, X30, [SP], #16
                RET
        """
      And an IRQ is taken at every instruction boundary of function
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is reported unreliable, unless the unwinder identifies reliable unwinds and then it is the exact call chain

    @id:caller-example-sweep-rejected @sweep @arch:arm64
    Example: an IRQ at every instruction boundary of the spec's caller
      Given a task running the spec's "caller:" example:
        """
        caller:
                STP X29, X30, [SP, -16]!
                MOV X29, SP
                ADR LR, <callee>
                BLR LR
                LDP X29, X30, [SP], #16
                RET
        """
      And an IRQ is taken at every instruction boundary of caller
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is reported unreliable, unless the unwinder identifies reliable unwinds and then it is the exact call chain


    @id:riscv-function-example-irq-after-prologue-rejected @arch:riscv64
    Example: an IRQ after the prologue of the riscv64 form of the spec's function, with ra and the frame record both live
      Given a task running this arch's form of the spec's "function:" example:
        """
        function:
          addi sp, sp, -16
          sd ra, 8(sp)
          sd s0, 0(sp)
          addi s0, sp, 16
          call other_function
          ld ra, 8(sp)
          ld s0, 0(sp)
          addi sp, sp, 16
          ret
        """
      And an IRQ is taken before "call other_function" in function
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace is reported unreliable, unless the unwinder identifies reliable unwinds and then it is the exact call chain

    @id:riscv-function-example-sweep-rejected @sweep @arch:riscv64
    Example: an IRQ at every instruction boundary of the riscv64 form of the spec's function
      Given a task running this arch's form of the spec's "function:" example:
        """
        function:
          addi sp, sp, -16
          sd ra, 8(sp)
          sd s0, 0(sp)
          addi s0, sp, 16
          call other_function
          ld ra, 8(sp)
          ld s0, 0(sp)
          addi sp, sp, 16
          ret
        """
      And an IRQ is taken at every instruction boundary of function
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is reported unreliable, unless the unwinder identifies reliable unwinds and then it is the exact call chain

    @id:riscv-caller-example-sweep-rejected @sweep @arch:riscv64
    Example: an IRQ at every instruction boundary of the riscv64 form of the spec's caller
      Given a task running this arch's form of the spec's "caller:" example:
        """
        caller:
          addi sp, sp, -16
          sd ra, 8(sp)
          sd s0, 0(sp)
          addi s0, sp, 16
          la ra, callee
          jalr ra, 0(ra)
          ld ra, 8(sp)
          ld s0, 0(sp)
          addi sp, sp, 16
          ret
        """
      And an IRQ is taken at every instruction boundary of caller
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is reported unreliable, unless the unwinder identifies reliable unwinds and then it is the exact call chain

    @id:riscv-leaf-frame-sweep-rejected @sweep @arch:riscv64
    Example: an IRQ at every instruction boundary of a riscv64 leaf that saves only s0, its return address left in ra
      gcc's riscv leaf frame keeps ra in the register and stores the caller's s0 where a full frame record
      keeps ra, so the word below the frame pointer is a stack address, not a return address.
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken at every instruction boundary of work_c
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is reported unreliable, unless the unwinder identifies reliable unwinds and then it is the exact call chain

    @id:ppc-function-example-sweep-rejected @sweep @arch:powerpc64
    Example: an IRQ at every instruction boundary of the powerpc64 form of the spec's function
      Until "std r0, 16(r1)" the return address is only in LR (and r0); the LR save slot of the
      caller's frame holds whatever an earlier callee left there.
      Given a task running this arch's form of the spec's "function:" example:
        """
        function:
          mflr r0
          std r0, 16(r1)
          stdu r1, -32(r1)
          bl other_function
          addi r1, r1, 32
          ld r0, 16(r1)
          mtlr r0
          blr
        """
      And an IRQ is taken at every instruction boundary of function
      When a reliable stacktrace is requested for the task
      Then every walk is reported unreliable, unless the unwinder identifies reliable unwinds and then it is the exact call chain

    @id:ppc-caller-example-sweep-rejected @sweep @arch:powerpc64
    Example: an IRQ at every instruction boundary of the powerpc64 form of the spec's caller
      Given a task running this arch's form of the spec's "caller:" example:
        """
        caller:
          mflr r0
          std r0, 16(r1)
          stdu r1, -32(r1)
          LOAD_REG_ADDR(r12, callee)
          mtctr r12
          bctrl
          addi r1, r1, 32
          ld r0, 16(r1)
          mtlr r0
          blr
        """
      And an IRQ is taken at every instruction boundary of caller
      When a reliable stacktrace is requested for the task
      Then every walk is reported unreliable, unless the unwinder identifies reliable unwinds and then it is the exact call chain

    @id:s390x-function-example-sweep-rejected @sweep @arch:s390x
    Example: an IRQ at every instruction boundary of the s390x form of the spec's function
      brasl leaves the return address in %r14; the prologue saves it in the caller's frame (stmg) before
      the new frame and its back chain exist, so what holds it depends on where the IRQ hits.
      Given a task running this arch's form of the spec's "function:" example:
        """
        function:
          stmg %r6,%r15,72(%r15)
          lgr %r1,%r15
          aghi %r15,-160
          stg %r1,152(%r15)
          brasl %r14,other_function
          lmg %r6,%r15,232(%r15)
          br %r14
        """
      And an IRQ is taken at every instruction boundary of function
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is reported unreliable, unless the unwinder identifies reliable unwinds and then it is the exact call chain

    @id:s390x-caller-example-sweep-rejected @sweep @arch:s390x
    Example: an IRQ at every instruction boundary of the s390x form of the spec's caller
      Given a task running this arch's form of the spec's "caller:" example:
        """
        caller:
          stmg %r6,%r15,72(%r15)
          lgr %r1,%r15
          aghi %r15,-160
          stg %r1,152(%r15)
          larl %r14,callee
          basr %r14,%r14
          lmg %r6,%r15,232(%r15)
          br %r14
        """
      And an IRQ is taken at every instruction boundary of caller
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is reported unreliable, unless the unwinder identifies reliable unwinds and then it is the exact call chain

    @id:s390x-leaf-r14-after-pt-regs-rejected @sweep @arch:s390x
    Example: an IRQ at every instruction boundary of a frameless s390x leaf: after pt_regs, the r14 slot is stale
      work_c keeps its return address in %r14 and saves nothing, so the r14 slot of the frame that pt_regs'
      r15 points at (work_b's) holds no return address of work_c's: a walk that skips it as bogus loses work_b.
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken at every instruction boundary of work_c
      When a reliable stacktrace is requested from the interrupt handler
      Then every walk is reported unreliable, unless the unwinder identifies reliable unwinds and then it is the exact call chain

  @req:lr-duplicates-and-inversions-unreliable @should
  Rule: Traces that would duplicate or invert entries because of the link register are treated as unreliable

    @id:function-duplicate-after-prologue @arch:arm64
    Example: after the prologue, LR and the frame record both describe the return address
      Given the spec says:
        """
        The first two instructions create a new stackframe and update the
        frame pointer, and at this point the link register and the frame pointer both
        describe this function's return address. A trace at this point may describe
        this function twice
        """
      And a task running the spec's "function:" example:
        """
        function:
                STP X29, X30, [SP, -16]!
                MOV X29, SP
                BL <other_function>
                LDP X29, X30, [SP], #16
                RET
        """
      And an IRQ is taken before "BL <other_function>" in function
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace has no duplicated, inverted or spurious entry, or is reported unreliable

    @id:function-duplicate-after-bl-returns @arch:arm64
    Example: after other_function returns, LR still points into function
      Given the spec says:
        """
        When 'other_function' returns, the link register is left pointing at the BL,
        and so a trace at this point could result in 'function' appearing twice in the
        backtrace.
        """
      And a task running the spec's "function:" example:
        """
        function:
                STP X29, X30, [SP, -16]!
                MOV X29, SP
                BL <other_function>
                LDP X29, X30, [SP], #16
                RET
        """
      And an IRQ is taken before "LDP X29, X30, [SP], #16" in function
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace has no duplicated, inverted or spurious entry, or is reported unreliable

    @id:caller-inverted-after-adr @arch:arm64
    Example: after ADR LR, callee would appear to be the parent of caller
      Given the spec says:
        """
        The ADR places the address of 'callee' into the LR, before the BLR branches to
        this address. If a trace is made immediately after the ADR, 'callee' will
        appear to be the parent of 'caller', rather than the child.
        """
      And a task running the spec's "caller:" example:
        """
        caller:
                STP X29, X30, [SP, -16]!
                MOV X29, SP
                ADR LR, <callee>
                BLR LR
                LDP X29, X30, [SP], #16
                RET
        """
      And an IRQ is taken before "BLR LR" in caller
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace has no duplicated, inverted or spurious entry, or is reported unreliable

    @id:function-fgraph-entry-consumed-once @arch:arm64
    Example: a traced function after its prologue must not consume two fgraph entries
      Given the spec says:
        """
        if the function return is being traced, the unwinder
        may consume two entries from the fgraph return stack rather than one entry.
        """
      And a task running the spec's "function:" example:
        """
        function:
                STP X29, X30, [SP, -16]!
                MOV X29, SP
                BL <other_function>
                LDP X29, X30, [SP], #16
                RET
        """
      And function-graph tracing of sys_specfn
      And function-graph tracing of function
      And an IRQ is taken at every instruction boundary of function
      When a reliable stacktrace is requested from the interrupt handler
      Then no walk has a duplicated, inverted or spurious entry unless reported unreliable
      And the reliable share is recorded

    @id:spec-examples-sweep-no-duplicates @sweep @arch:arm64
    Example: an IRQ at every instruction boundary of the spec's caller and callee
      Given a task running the spec's "caller:" example:
        """
        caller:
                STP X29, X30, [SP, -16]!
                MOV X29, SP
                ADR LR, <callee>
                BLR LR
                LDP X29, X30, [SP], #16
                RET
        """
      And an IRQ is taken at every instruction boundary of the task's kernel path
      When a reliable stacktrace is requested from the interrupt handler
      Then no walk has a duplicated, inverted or spurious entry unless reported unreliable
      And the reliable share is recorded


    @id:riscv-function-duplicate-after-prologue @arch:riscv64
    Example: after the riscv64 prologue, ra and the frame record both describe the return address
      Given the spec says:
        """
        The first two instructions create a new stackframe and update the
        frame pointer, and at this point the link register and the frame pointer both
        describe this function's return address. A trace at this point may describe
        this function twice
        """
      And a task running this arch's form of the spec's "function:" example:
        """
        function:
          addi sp, sp, -16
          sd ra, 8(sp)
          sd s0, 0(sp)
          addi s0, sp, 16
          call other_function
          ld ra, 8(sp)
          ld s0, 0(sp)
          addi sp, sp, 16
          ret
        """
      And an IRQ is taken before "call other_function" in function
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace has no duplicated, inverted or spurious entry, or is reported unreliable

    @id:riscv-function-duplicate-after-call-returns @arch:riscv64
    Example: after other_function returns, ra still points into function
      Given a task running this arch's form of the spec's "function:" example:
        """
        function:
          addi sp, sp, -16
          sd ra, 8(sp)
          sd s0, 0(sp)
          addi s0, sp, 16
          call other_function
          ld ra, 8(sp)
          ld s0, 0(sp)
          addi sp, sp, 16
          ret
        """
      And an IRQ is taken before "ld ra, 8(sp)" in function
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace has no duplicated, inverted or spurious entry, or is reported unreliable

    @id:riscv-caller-inverted-after-la @arch:riscv64
    Example: after la ra, callee would appear to be the parent of caller
      Given the spec says:
        """
        The ADR places the address of 'callee' into the LR, before the BLR branches to
        this address. If a trace is made immediately after the ADR, 'callee' will
        appear to be the parent of 'caller', rather than the child.
        """
      And a task running this arch's form of the spec's "caller:" example:
        """
        caller:
          addi sp, sp, -16
          sd ra, 8(sp)
          sd s0, 0(sp)
          addi s0, sp, 16
          la ra, callee
          jalr ra, 0(ra)
          ld ra, 8(sp)
          ld s0, 0(sp)
          addi sp, sp, 16
          ret
        """
      And an IRQ is taken before "jalr ra, 0(ra)" in caller
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace has no duplicated, inverted or spurious entry, or is reported unreliable

    @id:riscv-function-fgraph-entry-consumed-once @arch:riscv64
    Example: a traced riscv64 function after its prologue must not consume two fgraph entries
      Given a task running this arch's form of the spec's "function:" example:
        """
        function:
          addi sp, sp, -16
          sd ra, 8(sp)
          sd s0, 0(sp)
          addi s0, sp, 16
          call other_function
          ld ra, 8(sp)
          ld s0, 0(sp)
          addi sp, sp, 16
          ret
        """
      And function-graph tracing of sys_specfn
      And function-graph tracing of function
      And an IRQ is taken at every instruction boundary of function
      When a reliable stacktrace is requested from the interrupt handler
      Then no walk has a duplicated, inverted or spurious entry unless reported unreliable
      And the reliable share is recorded

    @id:riscv-spec-examples-sweep-no-duplicates @sweep @arch:riscv64
    Example: an IRQ at every instruction boundary of the riscv64 caller and callee
      Given a task running this arch's form of the spec's "caller:" example:
        """
        caller:
          addi sp, sp, -16
          sd ra, 8(sp)
          sd s0, 0(sp)
          addi s0, sp, 16
          la ra, callee
          jalr ra, 0(ra)
          ld ra, 8(sp)
          ld s0, 0(sp)
          addi sp, sp, 16
          ret
        """
      And an IRQ is taken at every instruction boundary of the task's kernel path
      When a reliable stacktrace is requested from the interrupt handler
      Then no walk has a duplicated, inverted or spurious entry unless reported unreliable
      And the reliable share is recorded

    @id:s390x-function-r14-duplicate-after-call-returns @arch:s390x
    Example: after other_function returns, %r14 still points into function
      Given a task running this arch's form of the spec's "function:" example:
        """
        function:
          stmg %r6,%r15,72(%r15)
          lgr %r1,%r15
          aghi %r15,-160
          stg %r1,152(%r15)
          brasl %r14,other_function
          lmg %r6,%r15,232(%r15)
          br %r14
        """
      And an IRQ is taken before "lmg %r6,%r15,232(%r15)" in function
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace has no duplicated, inverted or spurious entry, or is reported unreliable

    @id:s390x-caller-inverted-after-larl @arch:s390x
    Example: after larl %r14,callee, callee would appear to be the parent of caller
      Given a task running this arch's form of the spec's "caller:" example:
        """
        caller:
          stmg %r6,%r15,72(%r15)
          lgr %r1,%r15
          aghi %r15,-160
          stg %r1,152(%r15)
          larl %r14,callee
          basr %r14,%r14
          lmg %r6,%r15,232(%r15)
          br %r14
        """
      And an IRQ is taken before "basr %r14,%r14" in caller
      When a reliable stacktrace is requested from the interrupt handler
      Then the trace has no duplicated, inverted or spurious entry, or is reported unreliable

    @id:s390x-r14-slot-duplicates-psw-sweep @sweep @arch:s390x
    Example: an IRQ at every instruction boundary of sys_work: after work_a returns, the r14 slot work_a filled equals the interrupted address
      Given a task in a system call running work_a, which calls work_b, which calls work_c
      And an IRQ is taken at every instruction boundary of sys_work
      When a reliable stacktrace is requested from the interrupt handler
      Then no walk has a duplicated, inverted or spurious entry unless reported unreliable
      And the reliable share is recorded

  @req:lr-identified-by-metadata @may
  Rule: Metadata identifying LR or stack as the return address lets walks unwind across exceptions

    @id:function-example-after-prologue-unwound @arch:arm64
    Example: after the prologue, metadata says the frame record holds the return address
      Given a task running the spec's "function:" example:
        """
        function:
                STP X29, X30, [SP, -16]!
                MOV X29, SP
                BL <other_function>
                LDP X29, X30, [SP], #16
                RET
        """
      And an IRQ is taken before "BL <other_function>" in function
      When a reliable stacktrace is requested from the interrupt handler
      Then every function the task may return to appears in the trace

    @id:caller-example-after-adr-unwound @arch:arm64
    Example: after ADR LR, metadata says LR is not the caller's return address
      Given a task running the spec's "caller:" example:
        """
        caller:
                STP X29, X30, [SP, -16]!
                MOV X29, SP
                ADR LR, <callee>
                BLR LR
                LDP X29, X30, [SP], #16
                RET
        """
      And an IRQ is taken before "BLR LR" in caller
      When a reliable stacktrace is requested from the interrupt handler
      Then every function the task may return to appears in the trace

#!/usr/bin/env node
// A minimal powerpc64 harness: walks blocked tasks by the back chain, as arch_stack_walk_reliable() does,
// and answers "unreliable" for everything it does not handle (running tasks, return trampolines:
// return_to_handler, the rethook trampoline, livepatch_handler). Sound, and a starting point: add
// ftrace_graph_ret_addr() and the livepatch stack (task.livepatchSp) to approach the reference profile.
'use strict';
const readline = require('readline');

const send = (msg) => process.stdout.write(JSON.stringify(msg) + '\n'); // stdout: protocol only
const B = (h) => BigInt.asUintN(64, BigInt(h));
const hex = (v) => '0x' + v.toString(16);
const fail = (trace, reason) => ({ rc: -22, trace: trace.map(hex), reason });

function walk(s) {
  if (s.task.state !== 'blocked') return fail([], 'only blocked tasks are walked by this harness');
  const abi = s.abi;
  // memory: one Buffer per region with data; only the task's own stack may be read
  const regions = s.regions.filter((r) => r.data).map((r) => ({ base: B(r.base), buf: Buffer.from(r.data, 'base64') }));
  const stack = s.regions.find((r) => r.name === s.stacks.find((x) => x.type === 'task').region);
  const page = B(stack.base);
  const read = (a) => {
    if (a % 8n !== 0n || a < page || a + 8n > page + BigInt(stack.size)) throw new Error(`read of ${hex(a)} is not on the task stack`);
    const r = regions.find((x) => a >= x.base && a + 8n <= x.base + BigInt(x.buf.length));
    return r.buf.readBigUInt64LE(Number(a - r.base));
  };
  const syms = s.symbols.map((x) => ({ ...x, s: B(x.start), e: B(x.end) }));
  const symAt = (pc) => syms.find((x) => pc >= x.s && pc < x.e);
  const text = (pc) => s.regions.some((r) => ['kernel-text', 'module-text', 'bpf-jit'].includes(r.kind) && pc >= B(r.base) && pc < B(r.base) + BigInt(r.size));
  // stack_end: a kernel thread's initial minimal frame, or a user task's interrupt frame at PACAKSAVE
  const end = page + BigInt(abi.THREAD_SIZE) - BigInt(s.task.kind === 'kthread' ? abi.STACK_FRAME_MIN_SIZE : abi.STACK_USER_INT_FRAME_SIZE);
  const min = BigInt(abi.STACK_FRAME_MIN_SIZE);
  let sp = B(s.regs.r1);
  if (sp < page + BigInt(abi.THREAD_STRUCT_SIZE) || sp > end - min) return fail([], `sp ${hex(sp)} is not on the task stack`);
  const trace = [];
  // the return address in a frame's LR save slot (word 2), saved there by the frame's callee
  const report = (frame) => {
    const ip = read(frame + 8n * BigInt(abi.STACK_FRAME_LR_SAVE));
    const sym = symAt(ip);
    if (!text(ip)) return `${hex(ip)} is not kernel text`;
    if (sym && sym.kind === 'return-trampoline') return `${sym.name}: recovery not implemented`;
    trace.push(ip);
    return undefined;
  };
  try {
    for (let first = true; sp !== end; first = false) {
      if (sp % 16n !== 0n) return fail(trace, `sp ${hex(sp)} is misaligned`);
      const next = read(sp);
      if (next <= sp || (next !== end && next > end - min)) return fail(trace, `bad back chain ${hex(next)} at ${hex(sp)}`);
      if (!first) {
        // a "regs" marker: an interrupt frame (LR may have been live): unreliable
        if (sp <= end - BigInt(abi.STACK_INT_FRAME_SIZE) && read(sp + BigInt(abi.STACK_INT_FRAME_MARKER)) === BigInt(abi.STACK_FRAME_REGS_MARKER)) return fail(trace, `interrupt frame at ${hex(sp)}`);
        const e = report(sp);
        if (e) return fail(trace, e);
      }
      if (trace.length > 512) return fail(trace, 'too many frames');
      sp = next;
    }
    // the return into the entry code, in the stack_end frame's LR save slot
    const e = report(end);
    return e ? fail(trace, e) : { rc: 0, trace: trace.map(hex) };
  } catch (err) {
    return fail(trace, err.message);
  }
}

readline.createInterface({ input: process.stdin, crlfDelay: Infinity }).on('line', (line) => {
  const req = JSON.parse(line);
  switch (req.cmd) {
    case 'start':
      return send({
        version: 1,
        implementation: { name: 'my-powerpc64-bc', arch: 'powerpc64', unwinder: 'back-chain', description: 'blocked tasks only' },
        claims: {
          unwindsAcrossIrq: false, unwindsAcrossNmi: false, identifiesReliableExceptionUnwind: false,
          recoversFgraphReturns: false, recoversKretprobeReturns: false, unwindsInsideReturnToHandler: false,
          usesCompileTimeAnalysis: true, usesUnwindMetadata: false, checksTermination: true,
        },
      });
    case 'walk':
      try {
        return send({ seq: req.seq, ...walk(req.snapshot) });
      } catch (e) {
        return send({ seq: req.seq, errored: true, message: String(e && e.stack ? e.stack : e) });
      }
    case 'stop':
      return process.exit(0);
  }
});

#!/usr/bin/env node
// A minimal s390x harness: walks blocked tasks along the back chain (-mpacked-stack: the back chain is
// a frame's last word, the return address into the frame's function in its r14 slot) and answers
// "unreliable" for everything it does not handle (running tasks, pt_regs other than the task's final
// ones, return trampolines). Sound, and a starting point: add fgraph / rethook recovery keyed by the
// frame's sp to make it as useful as the reference profile s390x-bc.
'use strict';
const readline = require('readline');

const send = (msg) => process.stdout.write(JSON.stringify(msg) + '\n'); // stdout: protocol only
const B = (h) => BigInt.asUintN(64, BigInt(h));
const hex = (v) => '0x' + v.toString(16);
const fail = (trace, reason) => ({ rc: -22, trace: trace.map(hex), reason });

function walk(s) {
  if (s.task.state !== 'blocked') return fail([], 'only blocked tasks are walked by this harness');
  const abi = s.abi;
  const FRAME = BigInt(abi.STACK_FRAME_OVERHEAD), BC = BigInt(abi.SF_BACKCHAIN), R14 = BigInt(abi.SF_R14);
  // memory: one Buffer per region with data; only the task's own stack may be read
  const regions = s.regions.filter((r) => r.data).map((r) => ({ base: B(r.base), buf: Buffer.from(r.data, 'base64') }));
  const stack = s.regions.find((r) => r.name === s.stacks.find((x) => x.type === 'task').region);
  const lo = B(stack.base), hi = lo + BigInt(stack.size);
  const onStack = (a, len) => a % 8n === 0n && a >= lo && a + len <= hi;
  const read = (a) => {
    if (!onStack(a, 8n)) throw new Error(`read of ${hex(a)} is not on the task stack`);
    const r = regions.find((x) => a >= x.base && a + 8n <= x.base + BigInt(x.buf.length));
    return r.buf.readBigUInt64LE(Number(a - r.base));
  };
  const syms = s.symbols.map((x) => ({ ...x, s: B(x.start), e: B(x.end) }));
  const symAt = (pc) => syms.find((x) => pc >= x.s && pc < x.e);
  const text = (pc) => s.regions.some((r) => ['kernel-text', 'module-text', 'bpf-jit'].includes(r.kind) && pc >= B(r.base) && pc < B(r.base) + BigInt(r.size));
  // thread.ksp: __schedule's frame, whose r14 slot __switch_to filled
  let sp = B(s.regs.r15);
  const trace = [];
  try {
    if (!onStack(sp, FRAME)) return fail(trace, 'ksp is not on the task stack');
    let ip = read(sp + R14);
    for (let n = 0; n < 512; n++) {
      const sym = symAt(ip);
      if (sym && sym.kind === 'return-trampoline') return fail(trace, 'return trampoline: recovery not implemented');
      if (!text(ip)) return fail(trace, `${hex(ip)} is not kernel text`);
      trace.push(ip);
      const bc = read(sp + BC);
      if (bc === 0n) {
        // pt_regs follow: the end only at the task's final pt_regs (is_final_pt_regs)
        return sp + FRAME === B(s.ptRegs) ? { rc: 0, trace: trace.map(hex) } : fail(trace, `pt_regs at ${hex(sp + FRAME)} are not the task's final ones`);
      }
      if (bc <= sp || !onStack(bc, FRAME)) return fail(trace, `back chain ${hex(bc)} does not go up the task stack`);
      sp = bc;
      ip = read(sp + R14);
    }
  } catch (e) {
    return fail(trace, e.message);
  }
  return fail(trace, 'too many frames');
}

readline.createInterface({ input: process.stdin, crlfDelay: Infinity }).on('line', (line) => {
  const req = JSON.parse(line);
  switch (req.cmd) {
    case 'start':
      return send({
        version: 1,
        implementation: { name: 'my-s390x-bc', arch: 's390x', unwinder: 'back-chain', description: 'blocked tasks only' },
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

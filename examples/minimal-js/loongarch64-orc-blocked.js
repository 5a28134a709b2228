#!/usr/bin/env node
// A minimal loongarch64 harness: walks blocked tasks with the snapshot's ORC table (unwind.loongarchOrc)
// and answers "unreliable" for everything it does not handle (running tasks, pt_regs other than the
// final user-mode ones, return trampolines). Sound, and a starting point: add exception frames (REGS
// entries, the IRQ stack's next_sp), bt_address() and fgraph / rethook recovery to make it useful.
'use strict';
const readline = require('readline');

const send = (msg) => process.stdout.write(JSON.stringify(msg) + '\n'); // stdout: protocol only
const B = (h) => BigInt.asUintN(64, BigInt(h));
const hex = (v) => '0x' + v.toString(16);
const fail = (trace, reason) => ({ rc: -22, trace: trace.map(hex), reason });

function walk(s) {
  if (s.task.state !== 'blocked') return fail([], 'only blocked tasks are walked by this harness');
  const abi = s.abi;
  // memory: one Buffer per region with data; stacks: only the task's own stack may be read
  const regions = s.regions.filter((r) => r.data).map((r) => ({ base: B(r.base), buf: Buffer.from(r.data, 'base64') }));
  const stack = s.regions.find((r) => r.name === s.stacks.find((x) => x.type === 'task').region);
  const lo = B(stack.base), hi = lo + BigInt(stack.size);
  const read = (a) => {
    if (a % 8n !== 0n || a < lo || a + 8n > hi) throw new Error(`read of ${hex(a)} is not on the task stack`);
    const r = regions.find((x) => a >= x.base && a + 8n <= x.base + BigInt(x.buf.length));
    return r.buf.readBigUInt64LE(Number(a - r.base));
  };
  const syms = s.symbols.map((x) => ({ ...x, s: B(x.start), e: B(x.end) }));
  const symAt = (pc) => syms.find((x) => pc >= x.s && pc < x.e);
  const text = (pc) => s.regions.some((r) => ['kernel-text', 'module-text'].includes(r.kind) && pc >= B(r.base) && pc < B(r.base) + BigInt(r.size));
  const orc = (s.unwind.loongarchOrc || []).map((o) => ({ ...o, at: B(o.ip) })).sort((a, b) => (a.at < b.at ? -1 : 1));
  const orcFind = (pc) => {
    const sym = symAt(pc);
    let e;
    for (const o of orc) if (o.at <= pc) e = o;
    return sym && e && e.at >= sym.s ? e : undefined;
  };
  // bt_address(): an address in an exception vector (EENTRY + ecode * VECSIZE) is its handler's code
  const HANDLERS = { [abi.EXCCODE_PIL]: 'handle_tlb_load', [abi.EXCCODE_SYS]: 'handle_syscall', [abi.EXCCODE_BP]: 'handle_bp' };
  const btAddress = (a) => {
    const eentry = BigInt(abi.EENTRY) | 0xffff000000000000n, vec = BigInt(abi.VECSIZE);
    if (a < eentry || a >= eentry + BigInt(abi.EXCCODE_INT_END) * vec) return a;
    const type = Number((a - eentry) / vec);
    const h = syms.find((x) => x.name === (type >= abi.EXCCODE_INT_START ? 'handle_vint' : HANDLERS[type]));
    return h ? h.s + ((a - eentry) % vec) : 0n;
  };
  // the saved context: pc = thread.reg01, sp = thread.reg03, fp = thread.reg22
  let pc = B(s.regs.ra), sp = B(s.regs.sp), fp = B(s.regs.fp);
  const trace = [pc];
  try {
    for (let n = 0; n < 512; n++) {
      const o = orcFind(pc);
      if (!o || o.type === 'undefined') return fail(trace, `no usable ORC entry for ${hex(pc)}`);
      const cfa = o.spReg === 'sp' ? sp + BigInt(o.spOffset) : o.spReg === 'fp' ? fp : undefined;
      if (cfa === undefined || cfa < sp) return fail(trace, `bad CFA at ${hex(pc)}`);
      if (o.type === 'regs') {
        // the end: the user-mode pt_regs at task_pt_regs(), or a kernel thread's zeroed ones
        const user = (read(cfa + BigInt(abi.PT_PRMD)) & 3n) === 3n;
        const kthread = read(cfa + BigInt(abi.PT_R3)) === 0n && read(cfa + BigInt(abi.PT_R1)) === 0n;
        return cfa === B(s.ptRegs) && (user || kthread) ? { rc: 0, trace: trace.map(hex) } : fail(trace, `pt_regs at ${hex(cfa)} are not the end`);
      }
      if (o.type !== 'call' || o.raReg !== 'prev_sp') return fail(trace, `return address of ${hex(pc)} is not on the stack`);
      if (o.fpReg === 'prev_sp') fp = read(cfa + BigInt(o.fpOffset));
      const ra = read(cfa + BigInt(o.raOffset));
      const sym = symAt(ra);
      if (sym && sym.kind === 'return-trampoline') return fail(trace, 'return trampoline: recovery not implemented');
      if (!text(ra)) return fail(trace, `${hex(ra)} is not kernel text`);
      pc = btAddress(ra - 4n); // the call instruction, as unwind_orc.c reports it
      sp = cfa;
      trace.push(pc);
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
        implementation: { name: 'my-loongarch64-orc', arch: 'loongarch64', unwinder: 'orc', description: 'blocked tasks only' },
        claims: {
          unwindsAcrossIrq: false, unwindsAcrossNmi: false, identifiesReliableExceptionUnwind: false,
          recoversFgraphReturns: false, recoversKretprobeReturns: false, unwindsInsideReturnToHandler: false,
          usesCompileTimeAnalysis: true, usesUnwindMetadata: true, checksTermination: true,
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

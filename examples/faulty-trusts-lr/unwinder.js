#!/usr/bin/env node
// A deliberately FAULTY external arm64 unwinder, for checking that the suite catches it.
//
// It walks frame records like arch/arm64/kernel/stacktrace.c, but at an exception boundary
// (a PT_REGS frame_record_meta) it does what spec 3.6 warns against: it reports the saved PC,
// then TRUSTS the saved LR as the caller, then carries on from the saved x29. When the LR was
// stale (after a call returned) or clobbered (ADR LR, <callee>), the "reliable" trace has a
// function twice or a spurious parent: the suite must judge it not conformant on the
// LR-unreliability / exception-boundary requirements. Everything else is done properly.
'use strict';
const readline = require('readline');

const TEXT = new Set(['kernel-text', 'module-text', 'bpf-jit', 'trampoline-text']);

function load(snap) {
  const regions = snap.regions.map((r) => ({
    name: r.name,
    kind: r.kind,
    base: BigInt(r.base),
    size: BigInt(r.size),
    data: r.data !== undefined ? Buffer.from(r.data, 'base64') : null,
  }));
  const byName = new Map(regions.map((r) => [r.name, r]));
  const sym = (name) => {
    const s = snap.symbols.find((x) => x.name === name);
    return s ? BigInt(s.start) : -1n;
  };
  return {
    snap,
    regions,
    stacks: snap.stacks.map((s) => ({ ...byName.get(s.region), type: s.type })),
    abi: Object.fromEntries(Object.entries(snap.abi).map(([k, v]) => [k, BigInt(v)])),
    rth: sym('return_to_handler'),
    krt: sym('__kretprobe_trampoline'),
    reads: [],
  };
}

const find = (s, addr, size) => s.regions.find((r) => addr >= r.base && addr + size <= r.base + r.size);
function read64(s, addr) {
  s.reads.push({ addr: '0x' + addr.toString(16), size: 8 });
  const r = find(s, addr, 8n);
  return r && r.data ? r.data.readBigUInt64LE(Number(addr - r.base)) : 0n;
}
const kernelText = (s, addr) => {
  const r = find(s, addr, 1n);
  return !!r && TEXT.has(r.kind);
};

function walk(snap) {
  const s = load(snap);
  const A = s.abi;
  let pc = BigInt(snap.regs.pc);
  let fp = BigInt(snap.regs.x29);
  // Records move strictly upward within a stack, and a stack once left is never re-entered.
  let low = 0n;
  let cur = null;
  const left = new Set();
  let graphIdx = snap.fgraph ? snap.fgraph.stack.length : 0;
  let krCur = 0;
  const trace = [];
  const fail = (reason) => ({ rc: -22, trace: trace.map((a) => '0x' + a.toString(16)), reason, accesses: s.reads });
  const recover = () => {
    if (pc === s.rth) {
      const st = snap.fgraph ? snap.fgraph.stack : [];
      let i = graphIdx - 1;
      while (i >= 0 && BigInt(st[i].retp) !== fp) i--;
      if (i < 0) return false;
      graphIdx = i;
      pc = BigInt(st[i].ret);
    }
    if (pc === s.krt) {
      let i = krCur;
      while (i < snap.kretprobes.length && BigInt(snap.kretprobes[i].retp) !== fp) i++;
      if (i >= snap.kretprobes.length) return false;
      krCur = i + 1;
      pc = BigInt(snap.kretprobes[i].ret);
    }
    return true;
  };
  const stackOf = (addr, size) => s.stacks.find((st) => addr >= st.base && addr + size <= st.base + st.size);

  if (!recover()) return fail('cannot recover a rewritten return address');
  for (let n = 0; n < 512; n++) {
    if (!kernelText(s, pc)) return fail(`pc 0x${pc.toString(16)} is not kernel text`);
    trace.push(pc);
    const from = stackOf(fp, 16n);
    if (fp % 8n !== 0n || !from || left.has(from.name) || (from.name === cur && fp < low)) return fail(`bad frame record at 0x${fp.toString(16)}`);
    if (from.name !== cur) {
      if (cur) left.add(cur);
      cur = from.name;
    }
    const nfp = read64(s, fp);
    const npc = read64(s, fp + 8n);
    // A zeroed record is pt_regs->stackframe (v6.13+): its meta type says FINAL or PT_REGS.
    if (nfp === 0n && npc === 0n) {
      const type = read64(s, fp + A.S_STACKFRAME_TYPE - A.S_STACKFRAME);
      if (type === A.FRAME_META_TYPE_FINAL && fp === BigInt(snap.finalFrame)) {
        return { rc: 0, trace: trace.map((a) => '0x' + a.toString(16)), accesses: s.reads };
      }
      if (type !== A.FRAME_META_TYPE_PT_REGS) return fail(`bad meta record at 0x${fp.toString(16)}`);
      if (from.type === 'nmi') return fail('NMI boundary: not unwound');
      // THE BUG: trust the saved LR at an exception boundary.
      const regs = fp - A.S_STACKFRAME;
      const rpc = read64(s, regs + A.S_PC);
      const rlr = read64(s, regs + A.S_LR);
      const rfp = read64(s, regs + A.S_FP);
      if (!kernelText(s, rpc)) return fail('interrupted pc is not kernel text');
      trace.push(rpc);
      pc = rlr;
      fp = rfp;
      low = regs + A.PT_REGS_SIZE;
      if (!recover()) return fail('cannot recover a rewritten return address');
      continue;
    }
    low = fp + 16n;
    fp = nfp;
    pc = npc;
    if (!recover()) return fail('cannot recover a rewritten return address');
  }
  return fail('too many frames');
}

const send = (m) => process.stdout.write(JSON.stringify(m) + '\n');
readline.createInterface({ input: process.stdin, crlfDelay: Infinity }).on('line', (line) => {
  const req = JSON.parse(line);
  if (req.cmd === 'start') {
    send({
      version: 1,
      implementation: { name: 'faulty-trusts-lr', arch: 'arm64', unwinder: 'frame-pointer', description: 'FAULTY on purpose: trusts the LR at exception boundaries' },
      claims: {
        unwindsAcrossIrq: true, unwindsAcrossNmi: false, identifiesReliableExceptionUnwind: true,
        recoversFgraphReturns: true, recoversKretprobeReturns: true, unwindsInsideReturnToHandler: false,
        usesCompileTimeAnalysis: true, usesUnwindMetadata: false, checksTermination: true,
      },
    });
  } else if (req.cmd === 'walk') {
    if (req.snapshot.arch !== 'arm64') send({ seq: req.seq, skipped: true, reason: 'arm64 only' });
    else send({ seq: req.seq, ...walk(req.snapshot) });
  } else if (req.cmd === 'stop') process.exit(0);
});

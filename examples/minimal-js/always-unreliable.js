#!/usr/bin/env node
// The smallest complete harness: answers every walk "unreliable". Sound (never omits a live
// function) and useless for livepatch: a starting point. Replace walk() with your unwinder.
'use strict';
const readline = require('readline');

const send = (msg) => process.stdout.write(JSON.stringify(msg) + '\n'); // stdout: protocol only

function walk(snapshot) {
  // snapshot.regs.pc / .x29 (arm64) or .rip / .rbp / .rsp (x86_64), snapshot.regions[].data (base64),
  // snapshot.stacks, snapshot.finalFrame, snapshot.symbols, snapshot.abi, snapshot.fgraph, ...
  return { rc: -22, trace: [], reason: `not implemented yet (task ${snapshot.task.comm})` };
}

readline.createInterface({ input: process.stdin, crlfDelay: Infinity }).on('line', (line) => {
  const req = JSON.parse(line);
  switch (req.cmd) {
    case 'start':
      if (req.version !== 1) {
        process.stderr.write(`unsupported protocol version ${req.version}\n`);
        process.exit(2);
      }
      return send({
        version: 1,
        implementation: { name: 'my-arm64-unwinder', arch: 'arm64', unwinder: 'frame-pointer', description: 'starting point' },
        // The claims of profiles/arm64-always-unreliable.json (without compile-time analysis the
        // build-time SHOULDs fail); claim checksTermination once walks can succeed.
        claims: {
          unwindsAcrossIrq: false, unwindsAcrossNmi: false, identifiesReliableExceptionUnwind: false,
          recoversFgraphReturns: false, recoversKretprobeReturns: false, unwindsInsideReturnToHandler: false,
          usesCompileTimeAnalysis: true, usesUnwindMetadata: false, checksTermination: false,
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

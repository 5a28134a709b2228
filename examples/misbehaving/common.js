// Shared by the misbehaving test plugins: a correct start handshake, then `misbehave(req, send)`
// is called for every walk with an even seq (every walk with MISBEHAVE_ALL=1); other walks get a
// well-formed "unreliable" answer.
'use strict';
const readline = require('readline');

function run(misbehave, { version = 1 } = {}) {
  const send = (m) => process.stdout.write(JSON.stringify(m) + '\n');
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  rl.on('line', (line) => {
    const req = JSON.parse(line);
    if (req.cmd === 'start') {
      send({
        version,
        implementation: { name: 'misbehaving', arch: 'arm64', unwinder: 'test-plugin', description: 'misbehaves on purpose' },
        claims: {
          unwindsAcrossIrq: false, unwindsAcrossNmi: false, identifiesReliableExceptionUnwind: false,
          recoversFgraphReturns: false, recoversKretprobeReturns: false, unwindsInsideReturnToHandler: false,
          usesCompileTimeAnalysis: false, usesUnwindMetadata: false, checksTermination: false,
        },
      });
    } else if (req.cmd === 'walk') {
      if (req.seq % 2 === 0 || process.env.MISBEHAVE_ALL === '1') misbehave(req, send);
      else send({ seq: req.seq, rc: -22, trace: [], reason: 'well-behaved walk' });
    } else if (req.cmd === 'stop') {
      process.exit(0);
    }
  });
}
module.exports = { run };

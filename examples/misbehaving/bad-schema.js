// Answers even-seq walks with well-formed JSON that breaks the walk-response schema
// (trace entries are numbers, an unknown field): caught by --validate-protocol.
require('./common').run((req, send) => send({ seq: req.seq, rc: 0, trace: [4096], confidence: 'high' }));

// Answers even-seq walks with a seq that was never asked for.
require('./common').run((req, send) => send({ seq: req.seq + 1000, rc: 0, trace: [] }));

// Dies in the middle of even-seq walks, after writing to stderr.
require('./common').run((req) => {
  process.stderr.write(`crash.js: segfault-like death while walking seq ${req.seq}\n`);
  process.exit(139);
});

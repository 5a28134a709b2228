// Never answers even-seq walks (busy loop): the runner must time out, kill and restart it.
require('./common').run(() => {
  process.stderr.write('hang.js: spinning forever\n');
  for (;;);
});

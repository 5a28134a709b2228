// Announces protocol version 99 at start: the runner must refuse it clearly.
require('./common').run(() => {}, { version: 99 });

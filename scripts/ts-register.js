// Load TypeScript files through TypeScript's own transpileModule (no type-checking: tsc --noEmit does
// that once, in npm test), as ts-node's transpile-only mode did, with each file's output cached on disk
// (node_modules/.cache/ts-register, keyed by source, tsconfig and compiler version): a run compiles only
// what changed, and loads the compiler only then. CommonJS output keeps exports as data properties (the
// interpreters' hot loads rely on it; esbuild-based loaders turn every export into a getter).
// Inline source maps are emitted: run with NODE_OPTIONS=--enable-source-maps for TypeScript line numbers.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const TSCONFIG = process.env.TS_NODE_PROJECT || path.join(ROOT, 'tsconfig.json');
const CACHE = path.join(ROOT, 'node_modules', '.cache', 'ts-register');
const salt = [fs.readFileSync(TSCONFIG, 'utf8'), require('typescript/package.json').version, fs.readFileSync(__filename, 'utf8')].join('\0');

let ts;
let options;
function transpile(source, filename) {
  if (!ts) {
    ts = require('typescript');
    const cfg = ts.readConfigFile(TSCONFIG, ts.sys.readFile);
    if (cfg.error) throw new Error(ts.flattenDiagnosticMessageText(cfg.error.messageText, '\n'));
    options = ts.parseJsonConfigFileContent(cfg.config, ts.sys, path.dirname(TSCONFIG)).options;
    Object.assign(options, { sourceMap: false, inlineSourceMap: true, inlineSources: true, declaration: false, noEmit: false, isolatedModules: true });
  }
  const out = ts.transpileModule(source, { compilerOptions: options, fileName: filename, reportDiagnostics: false });
  return out.outputText;
}

function compiled(source, filename) {
  const key = crypto.createHash('sha256').update(salt).update('\0').update(filename).update('\0').update(source).digest('hex');
  const file = path.join(CACHE, `${key}.js`);
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    const js = transpile(source, filename);
    try {
      fs.mkdirSync(CACHE, { recursive: true });
      // Written whole, then renamed: a concurrent reader never sees half a file.
      const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
      fs.writeFileSync(tmp, js);
      fs.renameSync(tmp, file);
    } catch {
      // A read-only tree still runs, compiling every time.
    }
    return js;
  }
}

require.extensions['.ts'] = function loadTs(module, filename) {
  module._compile(compiled(fs.readFileSync(filename, 'utf8'), filename), filename);
};

// Load TypeScript through tsx (esbuild, transforms cached on disk) without type-checking (tsc --noEmit does that once, in npm test).
process.env.TSX_TSCONFIG_PATH = process.env.TSX_TSCONFIG_PATH || require('path').join(__dirname, '..', 'tsconfig.json');
require('tsx/cjs');

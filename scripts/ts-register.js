// Load TypeScript through ts-node without type-checking (tsc --noEmit does that once, in npm test).
process.env.TS_NODE_TRANSPILE_ONLY = 'true';
process.env.TS_NODE_PROJECT = process.env.TS_NODE_PROJECT || require('path').join(__dirname, '..', 'tsconfig.json');
require('ts-node/register');

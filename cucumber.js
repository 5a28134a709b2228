// Cucumber configuration. `npm run conformance` (cli/conformance.ts) runs this per profile,
// setting worldParameters ({ profile, unwinder?, resultsFile?, reportDir?, ... }) and the formats.
const { join } = require('path');

module.exports = {
  default: {
    paths: ['features/**/*.feature'],
    require: ['steps/**/*.ts'],
    // Absolute: Cucumber resolves requireModule from its own folder.
    requireModule: [join(__dirname, 'scripts', 'ts-register.js')],
    publish: false,
    strict: true,
  },
};

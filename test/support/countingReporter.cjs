// Mocha's spec output plus a JSON file of the counts, so the whole-suite runner can total every layer.
const { mkdirSync, writeFileSync } = require('node:fs');
const path = require('node:path');
const Mocha = require('mocha');

class CountingReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const out = options.reporterOption?.out;
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      if (!out) {
        return;
      }
      mkdirSync(path.dirname(out), { recursive: true });
      const { passes, failures, pending } = runner.stats;
      writeFileSync(out, JSON.stringify({ passed: passes, failed: failures, pending }));
    });
  }
}

module.exports = CountingReporter;

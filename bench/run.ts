// Runs every bench in turn, each with the arguments given: `npm run bench -- --quick`. npm appends arguments
// to a script's last command only, so a chain of `tsx a.ts && tsx b.ts` would run all but the last in full.
// One bench failing does not keep the others from running; the exit code still says it failed.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const benches = ['convBackprop.ts', 'trainStep.ts', 'birds.ts', 'synthesize.ts', 'heatmapGrid.ts'];
const args = process.argv.slice(2);
const failed: string[] = [];
for (const bench of benches) {
  const file = path.join(__dirname, bench);
  console.log(`\n== ${path.relative(process.cwd(), file)} ${args.join(' ')}`);
  const started = performance.now();
  // Each bench in its own process, so that one's TF.js backend and memory cannot sway the next one's times.
  const run = spawnSync(process.execPath, ['--import', 'tsx', file, ...args], { stdio: 'inherit' });
  console.log(`== ${bench}: ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (run.status !== 0) {
    failed.push(bench);
  }
}
if (failed.length > 0) {
  console.error(`failed: ${failed.join(', ')}`);
  process.exitCode = 1;
}

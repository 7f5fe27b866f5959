// Runs every bench in turn, each with the arguments given: `npm run bench -- --quick`. npm appends arguments
// to a script's last command only, so a chain of `tsx a.ts && tsx b.ts` would run all but the last in full.
// One bench failing does not keep the others from running; the exit code still says it failed.
// The last bench ends with the run's headline figure (`synthpair/pytorch images/s ratio: X.XX`), so the
// summary of the others is printed before it starts and nothing after it, unless it fails.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const benches = ['convBackprop.ts', 'birds.ts', 'synthesize.ts', 'heatmapGrid.ts', 'backends.ts'];
const args = process.argv.slice(2);
const started = performance.now();

/** Runs one bench in its own process, so that one's TF.js backend and memory cannot sway the next one's times. */
function run(bench: string): boolean {
  const file = path.join(__dirname, bench);
  console.log(`\n== ${path.relative(process.cwd(), file)} ${args.join(' ')}`);
  return spawnSync(process.execPath, ['--import', 'tsx', file, ...args], { stdio: 'inherit' }).status === 0;
}

const failed: string[] = [];
const last = benches.at(-1)!;
for (const bench of benches.slice(0, -1)) {
  const benchStarted = performance.now();
  if (!run(bench)) {
    failed.push(bench);
  }
  console.log(`== ${bench}: ${((performance.now() - benchStarted) / 1000).toFixed(0)} s`);
}
console.log(
  `\n== ${benches.length - 1} benches in ${((performance.now() - started) / 1000).toFixed(0)} s` +
    (failed.length > 0 ? `; failed: ${failed.join(', ')}` : ''),
);
if (!run(last)) {
  failed.push(last);
  console.error(`failed: ${failed.join(', ')}`);
}
if (failed.length > 0) {
  process.exitCode = 1;
}

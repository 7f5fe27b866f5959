// `npm test`: every layer in one command — build, type check, lint, unit, webview (Chromium) and integration
// (a real VS Code) — and a last line that totals them as `N passed, N failed`.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const results = path.join(root, 'test-results');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const reporter = ['--reporter', path.join(root, 'test/support/countingReporter.cjs')];

const steps = [
  { name: 'build', command: [process.execPath, 'scripts/build.mjs'] },
  { name: 'type check', command: [bin('tsc'), '-p', '.', '--noEmit'] },
  { name: 'lint', command: [bin('biome'), 'check', 'src', 'webview', 'test', 'scripts', 'bench'] },
  {
    name: 'unit',
    command: [bin('mocha'), ...reporter, '--reporter-option', `out=${path.join(results, 'unit.json')}`],
    counts: 'unit.json',
  },
  {
    name: 'webview',
    command: [
      bin('mocha'),
      '--config',
      'test/webview/.mocharc.json',
      ...reporter,
      '--reporter-option',
      `out=${path.join(results, 'webview.json')}`,
    ],
    counts: 'webview.json',
  },
  { name: 'integration', command: [bin('tsx'), 'test/integration/run.ts'], counts: 'integration.json' },
  // The README's other command: VS Code opens on the example workspace with SynthPair active.
  { name: 'main job (npm start -- --smoke)', command: [bin('tsx'), 'scripts/start.ts', '--smoke'] },
];

rmSync(results, { recursive: true, force: true });
const totals = { passed: 0, failed: 0, pending: 0 };
const summary = [];
const started = Date.now();
for (const step of steps) {
  console.log(`\n━━ ${step.name} ━━`);
  const stepStarted = Date.now();
  const run = spawnSync(step.command[0], step.command.slice(1), { cwd: root, stdio: 'inherit' });
  const seconds = ((Date.now() - stepStarted) / 1000).toFixed(1);
  const countsFile = step.counts && path.join(results, step.counts);
  if (countsFile && existsSync(countsFile)) {
    const counts = JSON.parse(readFileSync(countsFile, 'utf8'));
    // A runner that died after writing its counts still failed.
    const failed = counts.failed + (run.status !== 0 && counts.failed === 0 ? 1 : 0);
    totals.passed += counts.passed;
    totals.failed += failed;
    totals.pending += counts.pending ?? 0;
    summary.push(`${step.name}: ${counts.passed} passed, ${failed} failed (${seconds} s)`);
  } else {
    const ok = run.status === 0;
    totals.passed += ok ? 1 : 0;
    totals.failed += ok ? 0 : 1;
    summary.push(`${step.name}: ${ok ? 'ok' : `FAILED (exit ${run.status ?? run.signal})`} (${seconds} s)`);
  }
}
console.log(`\n━━ summary (${((Date.now() - started) / 1000).toFixed(1)} s) ━━`);
for (const line of summary) {
  console.log(`  ${line}`);
}
console.log(
  `${totals.passed} passed, ${totals.failed} failed${totals.pending ? `, ${totals.pending} skipped` : ''}`,
);
process.exit(totals.failed === 0 ? 0 : 1);

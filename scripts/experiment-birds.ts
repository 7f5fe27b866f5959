// Reproduces the table of docs/results.md: the SSL baselines (SimCLR, MoCo v2) against the synthesized-pair
// method on MoCo v2 with each mask criterion (variance only, Grad-CAM only, both), several seeds each, all from
// experiments/birds/method.synthpair.json through the built CLI, so the runs are what `synthpair run` makes.
//
//   npm run build && npx tsx scripts/experiment-birds.ts [--seeds 0,1,2] [--jobs 2] [--out DIR] [--data DIR] [--cli dist/cli.js]
//
// Runs that completed in an earlier invocation into the same --out are reused, so an interrupted experiment
// continues where it stopped. Prints the table (mean ± sample std over seeds) and writes it with every run's
// figures to DIR/results.json and DIR/results.md.
import { existsSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  type Figures,
  figuresOf,
  meanAndStd,
  metricLabels,
  readCompleted,
  repoRoot,
  reportedMetrics,
  runOrResume,
  runQueue,
  runStudy,
  studyInputs,
  writeResults,
} from './lib/studyRuns';

const { values: flags } = parseArgs({
  options: {
    seeds: { type: 'string', default: '0,1,2' },
    jobs: { type: 'string', default: String(Math.max(1, Math.min(2, os.availableParallelism()))) },
    out: { type: 'string', default: path.join('.synthpair', 'experiment-birds') },
    data: { type: 'string' },
    cli: { type: 'string' },
  },
});
const { cli, birds: dataRoot } = studyInputs(flags);
const configFile = path.join(repoRoot, 'experiments', 'birds', 'method.synthpair.json');
const outRoot = path.resolve(flags.out);
const seeds = flags.seeds.split(',').map(Number);
const jobs = Number(flags.jobs);

interface Condition {
  id: string;
  label: string;
  overrides: string[];
}

const baseline = ['loss.alpha=0', 'loss.nu=0'];
const conditions: Condition[] = [
  { id: 'simclr', label: 'SimCLR baseline', overrides: ['ssl.method=simclr', ...baseline] },
  { id: 'mocov2', label: 'MoCo v2 baseline', overrides: ['ssl.method=mocov2', ...baseline] },
  {
    id: 'method-variance',
    label: 'MoCo v2 + pairs, variance only',
    overrides: ['analysis.combine=variance'],
  },
  { id: 'method-gradcam', label: 'MoCo v2 + pairs, Grad-CAM only', overrides: ['analysis.combine=gradcam'] },
  { id: 'method-both', label: 'MoCo v2 + pairs, both (union)', overrides: ['analysis.combine=union'] },
];

const metrics = reportedMetrics;

interface RunFigures {
  condition: string;
  seed: number;
  runDir: string;
  wallSeconds: number;
  backend: string | undefined;
  figures: Figures;
}

const runDirOf = (condition: Condition, seed: number) => path.join(outRoot, `${condition.id}.seed-${seed}`);

function figuresOfRun(condition: Condition, seed: number): RunFigures {
  const { runDir, wallSeconds, backend, last } = readCompleted(runDirOf(condition, seed))!;
  return { condition: condition.id, seed, runDir, wallSeconds, backend, figures: figuresOf(last) };
}

function runOne(condition: Condition, seed: number): Promise<void> {
  const overrides = [
    `data.root=${dataRoot}`,
    `seed=${seed}`,
    `name=birds-${condition.id}`,
    ...condition.overrides,
  ];
  return runOrResume(
    cli,
    { configFile, runDir: runDirOf(condition, seed), overrides },
    `${condition.id} seed ${seed}`,
  );
}

function table(runs: RunFigures[]): string {
  const header = `| condition | ${metrics.map((metric) => `${metricLabels[metric]} (%)`).join(' | ')} | wall time per run (s) |`;
  const rule = `|---|${metrics.map(() => '---:').join('|')}|---:|`;
  const rows = conditions.map((condition) => {
    const own = runs.filter((run) => run.condition === condition.id);
    const cells = metrics.map((metric) => {
      const { mean, std } = meanAndStd(own.map((run) => run.figures[metric] * 100));
      return `${mean.toFixed(2)} ± ${std.toFixed(2)}`;
    });
    const wall = meanAndStd(own.map((run) => run.wallSeconds));
    return `| ${condition.label} (n=${own.length}) | ${cells.join(' | ')} | ${wall.mean.toFixed(0)} |`;
  });
  return [header, rule, ...rows].join('\n');
}

async function main(): Promise<void> {
  if (!existsSync(cli)) throw new Error('dist/cli.js is missing: run `npm run build` first');
  if (!existsSync(dataRoot)) throw new Error(`${dataRoot}: no such data set; pass --data`);
  mkdirSync(outRoot, { recursive: true });
  const started = Date.now();
  await runQueue(
    seeds.flatMap((seed) => conditions.map((condition) => () => runOne(condition, seed))),
    jobs,
  );
  const runs = seeds.flatMap((seed) => conditions.map((condition) => figuresOfRun(condition, seed)));
  const markdown = `${table(runs)}\n\nSeeds ${seeds.join(', ')}; backend ${[...new Set(runs.map((run) => run.backend))].join(', ')}; ${jobs} run(s) at a time; this invocation took ${((Date.now() - started) / 60_000).toFixed(1)} min.\n`;
  writeResults(outRoot, markdown, { config: path.relative(repoRoot, configFile), conditions, seeds, runs });
}

runStudy(main);

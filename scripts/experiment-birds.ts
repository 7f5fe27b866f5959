// Reproduces the table of docs/results.md: the SSL baselines (SimCLR, MoCo v2) against the synthesized-pair
// method on MoCo v2 with each mask criterion (variance only, Grad-CAM only, both), several seeds each, all from
// experiments/birds/method.synthpair.json through the built CLI, so the runs are what `synthpair run` makes.
//
//   npm run build && npx tsx scripts/experiment-birds.ts [--seeds 0,1,2] [--jobs 2] [--out DIR] [--data DIR] [--cli dist/cli.js]
//
// Runs that completed in an earlier invocation into the same --out are reused, so an interrupted experiment
// continues where it stopped. Prints the table (mean ± sample std over seeds) and writes it with every run's
// figures to DIR/results.json and DIR/results.md.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { evalRecord, runStatus } from '../src/shared/protocol/runFiles';

const { values: flags } = parseArgs({
  options: {
    seeds: { type: 'string', default: '0,1,2' },
    jobs: { type: 'string', default: String(Math.max(1, Math.min(2, os.availableParallelism()))) },
    out: { type: 'string', default: path.join('.synthpair', 'experiment-birds') },
    data: { type: 'string' },
    // A copy of dist/ keeps a long experiment on one build while the working tree is rebuilt.
    cli: { type: 'string' },
  },
});
const repoRoot = path.resolve(__dirname, '..');
const cli = path.resolve(flags.cli ?? path.join(repoRoot, 'dist', 'cli.js'));
const configFile = path.join(repoRoot, 'experiments', 'birds', 'method.synthpair.json');
const dataRoot = path.resolve(
  flags.data ??
    process.env.SYNTHPAIR_BIRDS_DATA ??
    path.join(repoRoot, '..', 'shared', 'datasets', 'cub200-subset100-96'),
);
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

const metrics = ['knnTop1', 'linearTop1', 'rank1', 'mAP'] as const;
type Metric = (typeof metrics)[number];

interface RunFigures {
  condition: string;
  seed: number;
  runDir: string;
  wallSeconds: number;
  backend: string | undefined;
  figures: Record<Metric, number>;
}

function readCompleted(runDir: string): RunFigures | undefined {
  const statusFile = path.join(runDir, 'run.json');
  if (!existsSync(statusFile)) return undefined;
  const status = runStatus.parse(JSON.parse(readFileSync(statusFile, 'utf8')));
  if (status.state !== 'completed') return undefined;
  const lines = readFileSync(path.join(runDir, 'eval.jsonl'), 'utf8').trim().split('\n');
  const last = evalRecord.parse(JSON.parse(lines.at(-1)!));
  const figures = Object.fromEntries(metrics.map((metric) => [metric, last[metric] ?? Number.NaN])) as Record<
    Metric,
    number
  >;
  const [condition, seed] = path.basename(runDir).split('.seed-') as [string, string];
  return {
    condition,
    seed: Number(seed),
    runDir,
    wallSeconds: (Date.parse(status.endedAt!) - Date.parse(status.startedAt)) / 1000,
    backend: status.backend,
    figures,
  };
}

function runOne(condition: Condition, seed: number): Promise<void> {
  const runDir = path.join(outRoot, `${condition.id}.seed-${seed}`);
  if (readCompleted(runDir)) {
    console.log(`reusing ${path.relative(process.cwd(), runDir)}`);
    return Promise.resolve();
  }
  const args = [
    cli,
    'run',
    configFile,
    '--out',
    runDir,
    '--set',
    `data.root=${dataRoot}`,
    `seed=${seed}`,
    `name=birds-${condition.id}`,
    ...condition.overrides,
  ];
  console.log(`starting ${condition.id} seed ${seed}`);
  return new Promise((resolve, reject) => {
    // An unfinished folder from an interrupted invocation would be refused as an existing run.
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const keep = (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('exit', (code) => {
      if (code === 0) {
        console.log(`finished ${condition.id} seed ${seed}`);
        resolve();
      } else {
        reject(new Error(`${condition.id} seed ${seed} exited with ${code}:\n${tail}`));
      }
    });
  });
}

async function runAll(): Promise<void> {
  const queue = seeds.flatMap((seed) => conditions.map((condition) => ({ condition, seed })));
  const workers = Array.from({ length: jobs }, async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      await runOne(next.condition, next.seed);
    }
  });
  await Promise.all(workers);
}

function meanAndStd(values: number[]): { mean: number; std: number } {
  const mean = values.reduce((total, value) => total + value, 0) / values.length;
  const variance =
    values.length > 1
      ? values.reduce((total, value) => total + (value - mean) ** 2, 0) / (values.length - 1)
      : 0;
  return { mean, std: Math.sqrt(variance) };
}

function table(runs: RunFigures[]): string {
  const header = `| condition | ${metrics.map((metric) => `${metric} (%)`).join(' | ')} | wall time per run (s) |`;
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
  await runAll();
  const runs = seeds.flatMap((seed) =>
    conditions.map((condition) => readCompleted(path.join(outRoot, `${condition.id}.seed-${seed}`))!),
  );
  const markdown = `${table(runs)}\n\nSeeds ${seeds.join(', ')}; backend ${[...new Set(runs.map((run) => run.backend))].join(', ')}; ${jobs} run(s) at a time; this invocation took ${((Date.now() - started) / 60_000).toFixed(1)} min.\n`;
  console.log(`\n${markdown}`);
  writeFileSync(path.join(outRoot, 'results.md'), markdown);
  writeFileSync(
    path.join(outRoot, 'results.json'),
    `${JSON.stringify({ config: path.relative(repoRoot, configFile), conditions, seeds, runs }, null, 2)}\n`,
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

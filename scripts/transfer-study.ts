// The transfer study of docs/results.md. The 100 bird species are split by class index into halves A (0–49)
// and B (50–99). scripts/pretrain-supervised.py trains the encoder with labels on A; on B, from those weights:
// the weights alone (no SSL training), MoCo v2, and MoCo v2 with synthesized pairs under each mask criterion,
// for several seeds, from experiments/birds/transfer.synthpair.json through the built CLI.
//
//   npm run build && npx tsx scripts/transfer-study.ts [--seeds 0,1,2] [--jobs 1] [--out DIR] [--data DIR]
//
// Writes under --out (default .synthpair/transfer-study): birds-B/ (B's class folders, linked, not copied),
// birds-A.pth (A's weights, trained once; --weights names another file), one run folder per condition and
// seed (completed ones are reused, so an interrupted study continues), init.seed-N.json (the weights alone,
// measured), and results.md / results.json: each figure for the best checkpoint by validation and for the
// last one, mean ± std over seeds, and each condition's paired difference to MoCo v2 with its 95 % interval.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  type Figures,
  figuresOf,
  meanAndStd,
  metricLabels,
  pairedDifference,
  readCompleted,
  repoRoot,
  reportedMetrics,
  runCli,
  runOrResume,
  runQueue,
  runStudy,
  studyInputs,
  writeResults,
} from './lib/studyRuns';

const { values: flags } = parseArgs({
  options: {
    seeds: { type: 'string', default: '0,1,2' },
    // One run at a time: the onednn backend already trains on every core.
    jobs: { type: 'string', default: '1' },
    out: { type: 'string', default: path.join('.synthpair', 'transfer-study') },
    data: { type: 'string' },
    weights: { type: 'string' },
    cli: { type: 'string' },
  },
});
const { cli, birds } = studyInputs(flags);
const configFile = path.join(repoRoot, 'experiments', 'birds', 'transfer.synthpair.json');
const outRoot = path.resolve(flags.out);
const halfB = path.join(outRoot, 'birds-B');
const weights = path.resolve(flags.weights ?? path.join(outRoot, 'birds-A.pth'));
const seeds = flags.seeds.split(',').map(Number);
const jobs = Number(flags.jobs);
/** Debian's python3, with the torch and torchvision the reference scripts use. */
const torchPython = '/usr/bin/python3';
const pretrainScript = path.join(repoRoot, 'scripts', 'pretrain-supervised.py');

interface Condition {
  id: string;
  label: string;
  overrides: string[];
}

const baseline: Condition = {
  id: 'mocov2',
  label: 'MoCo v2',
  // Without a decoder the analysis only observes; after the last epoch is enough.
  overrides: ['loss.alpha=0', 'loss.nu=0', 'analysis.everyEpochs=0'],
};
const trained: Condition[] = [
  baseline,
  { id: 'pairs-variance', label: 'MoCo v2 + pairs, variance', overrides: ['analysis.combine=variance'] },
  { id: 'pairs-gradcam', label: 'MoCo v2 + pairs, Grad-CAM', overrides: ['analysis.combine=gradcam'] },
  { id: 'pairs-union', label: 'MoCo v2 + pairs, both (union)', overrides: ['analysis.combine=union'] },
];
const initOnly = { id: 'init', label: "A's weights alone" };

function python(args: string[]): void {
  const result = spawnSync(torchPython, args, { stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`${torchPython} ${args.join(' ')} exited with ${result.status}`);
}

/** B's class folders, and A's weights at the study's image size, made once. */
function prepare(): void {
  python([pretrainScript, '--data', birds, '--classes', '50-99', '--link-split', halfB]);
  if (!existsSync(weights)) {
    const imageSize = 32;
    python([
      pretrainScript,
      '--data',
      birds,
      '--classes',
      '0-49',
      '--image-size',
      String(imageSize),
      '--epochs',
      '15',
      '--eval-every',
      '5',
      '--out',
      weights,
    ]);
  }
}

const common = (seed: number) => [`data.root=${halfB}`, `model.init=${weights}`, `seed=${seed}`];
const runDirOf = (condition: Condition, seed: number) => path.join(outRoot, `${condition.id}.seed-${seed}`);
const initFileOf = (seed: number) => path.join(outRoot, `init.seed-${seed}.json`);

function runOne(condition: Condition, seed: number): Promise<void> {
  const overrides = [...common(seed), `name=transfer-${condition.id}`, ...condition.overrides];
  return runOrResume(
    cli,
    { configFile, runDir: runDirOf(condition, seed), overrides },
    `${condition.id} seed ${seed}`,
  );
}

/** The weights alone, measured as a run measures its encoder; the seed draws the linear probe's start. */
async function measureInit(seed: number): Promise<void> {
  if (existsSync(initFileOf(seed))) return;
  const stdout = await runCli(
    cli,
    ['eval', configFile, '--json', '--set', ...common(seed)],
    `init seed ${seed}`,
  );
  const result = stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { event: string })
    .find((event) => event.event === 'result');
  writeFileSync(initFileOf(seed), `${JSON.stringify(result, null, 2)}\n`);
}

interface ConditionFigures {
  id: string;
  label: string;
  /** Per seed, in the order of `seeds`. */
  best: Figures[];
  last: Figures[];
  wallSeconds: number[];
}

function collect(): ConditionFigures[] {
  const init = seeds.map((seed) => figuresOf(JSON.parse(readFileSync(initFileOf(seed), 'utf8'))));
  return [
    { ...initOnly, best: init, last: init, wallSeconds: [] },
    ...trained.map((condition) => {
      const runs = seeds.map((seed) => readCompleted(runDirOf(condition, seed))!);
      return {
        id: condition.id,
        label: condition.label,
        best: runs.map((run) => figuresOf(run.last.best ?? run.last)),
        last: runs.map((run) => figuresOf(run.last)),
        wallSeconds: runs.map((run) => run.wallSeconds),
      };
    }),
  ];
}

const percent = (value: number) => (100 * value).toFixed(2);
const signed = (value: number) => `${value >= 0 ? '+' : '−'}${percent(Math.abs(value))}`;

/** Mean ± std per condition and metric. */
function figuresTable(conditions: ConditionFigures[], which: 'best' | 'last'): string {
  const header = `| condition | ${reportedMetrics.map((metric) => `${metricLabels[metric]} (%)`).join(' | ')} |`;
  const rule = `|---|${reportedMetrics.map(() => '---:').join('|')}|`;
  const rows = conditions.map((condition) => {
    const cells = reportedMetrics.map((metric) => {
      const { mean, std } = meanAndStd(condition[which].map((figures) => figures[metric]));
      return `${percent(mean)} ± ${percent(std)}`;
    });
    return `| ${condition.label} | ${cells.join(' | ')} |`;
  });
  return [header, rule, ...rows].join('\n');
}

/** Each condition's mean paired difference to MoCo v2 with its 95 % interval, in points. */
function differencesTable(conditions: ConditionFigures[], which: 'best' | 'last'): string {
  const reference = conditions.find((condition) => condition.id === baseline.id)!;
  const header = `| Δ to MoCo v2, points [95 % CI] | ${reportedMetrics.map((metric) => metricLabels[metric]).join(' | ')} |`;
  const rule = `|---|${reportedMetrics.map(() => '---:').join('|')}|`;
  const rows = conditions
    .filter((condition) => condition.id !== baseline.id)
    .map((condition) => {
      const cells = reportedMetrics.map((metric) => {
        const { mean, low, high } = pairedDifference(
          condition[which].map((figures) => figures[metric]),
          reference[which].map((figures) => figures[metric]),
        );
        const text = `${signed(mean)} [${signed(low)}, ${signed(high)}]`;
        return low > 0 || high < 0 ? `**${text}**` : text;
      });
      return `| ${condition.label} | ${cells.join(' | ')} |`;
    });
  return [header, rule, ...rows].join('\n');
}

async function main(): Promise<void> {
  if (!existsSync(cli)) throw new Error('dist/cli.js is missing: run `npm run build` first');
  if (!existsSync(birds)) throw new Error(`${birds}: no such data set; pass --data`);
  mkdirSync(outRoot, { recursive: true });
  const started = Date.now();
  prepare();
  await runQueue(
    [
      ...seeds.map((seed) => () => measureInit(seed)),
      ...seeds.flatMap((seed) => trained.map((condition) => () => runOne(condition, seed))),
    ],
    jobs,
  );
  const conditions = collect();
  const wall = conditions
    .filter((condition) => condition.wallSeconds.length > 0)
    .map((condition) => `${condition.label} ${meanAndStd(condition.wallSeconds).mean.toFixed(0)} s`)
    .join(', ');
  const markdown = [
    '### Best checkpoint by validation mAP',
    '',
    figuresTable(conditions, 'best'),
    '',
    differencesTable(conditions, 'best'),
    '',
    '### Last checkpoint',
    '',
    figuresTable(conditions, 'last'),
    '',
    differencesTable(conditions, 'last'),
    '',
    `Mean ± sample std over seeds ${seeds.join(', ')}; Δ: mean paired difference to MoCo v2 over seeds, in percentage points, with its 95 % interval (Student's t, ${seeds.length - 1} degrees of freedom), in bold where it excludes 0. Wall time per run: ${wall}; this invocation took ${((Date.now() - started) / 60_000).toFixed(1)} min.`,
    '',
  ].join('\n');
  writeResults(outRoot, markdown, {
    config: path.relative(repoRoot, configFile),
    weights,
    seeds,
    conditions,
  });
}

runStudy(main);

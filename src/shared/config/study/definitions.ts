import * as z from 'zod/mini';
import '../../protocol/zodLocale';
import { experimentFileSuffix } from '../experiment/choices';

/**
 * The single typed source of the study file (`*.study.json`): the parser validates with this schema, and the
 * JSON schema contributed to VS Code and docs/study.md are generated from it, so a key's type, default and
 * documentation cannot drift apart. Descriptions are markdown. The experiment keys a condition overrides are
 * the experiment file's own (src/shared/config/experiment/definitions.ts), spliced in by the JSON schema.
 */

/** The suffix that makes a file a study: the schema, the CodeLens, the Runs view and the CLI key on it. */
export const studyFileSuffix = '.study.json';
export const studyFileGlob = `**/*${studyFileSuffix}`;

export function isStudyFileName(file: string): boolean {
  return file.endsWith(studyFileSuffix);
}

/** The figures a study can report: each is a fraction on the test split, reported in percent. */
export const studyMetrics = ['knnTop1', 'linearTop1', 'rank1', 'rank5', 'mAP'] as const;
export type StudyMetric = (typeof studyMetrics)[number];
export const studyMetricLabels: Record<StudyMetric, string> = {
  knnTop1: 'kNN top-1',
  linearTop1: 'linear top-1',
  rank1: 'rank-1',
  rank5: 'rank-5',
  mAP: 'mAP',
};

export const studyCheckpoints = ['best', 'last'] as const;
export type StudyCheckpoint = (typeof studyCheckpoints)[number];

export const executorKinds = ['local', 'slurm'] as const;
export type ExecutorKind = (typeof executorKinds)[number];

/** A condition's name is also its trial folders' prefix and a Slurm log's: letters, digits, `-` and `_`. */
export const conditionNamePattern = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

const describe = z.describe;

/** Experiment keys in dotted form with the values they take, as `--set` would give them. */
const overrides = (description: string) =>
  z.optional(z.record(z.string(), z.unknown()).check(describe(description)));

const condition = z
  .strictObject({
    name: z
      .string()
      .check(
        z.regex(conditionNamePattern, 'letters, digits, - and _ only, starting with a letter or digit'),
        z.maxLength(64),
        describe(
          'Short name of the condition: its trials are the run folders `<name>.seed-<seed>` in the study folder. Letters, digits, `-` and `_`.',
        ),
      ),
    label: z.optional(
      z.string().check(describe('How the tables name the condition; the name when left out.')),
    ),
    baseline: z.optional(
      z
        .boolean()
        .check(
          describe(
            'The condition every other one is compared with, seed by seed. One condition of a study is the baseline; the first when none says so.',
          ),
        ),
    ),
    set: overrides(
      'Experiment keys this condition changes, in dotted form: `{ "loss.alpha": 0, "ssl.method": "simclr" }`. Applied after the study\'s own `set`.',
    ),
  })
  .check(describe('A named set of overrides of the base experiment: a baseline, the method, an ablation.'));

const localExecutor = z.strictObject({
  concurrency: z._default(
    z
      .int()
      .check(
        z.minimum(1),
        z.maximum(64),
        describe(
          'Trials trained at once on this machine. Each is a process that uses every core its backend gets, so more than 1 rarely helps on one CPU.',
        ),
      ),
    1,
  ),
});

/** Slurm's `--time` forms: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS. */
const slurmTimePattern = /^(\d+-)?\d+(:\d{1,2}){0,2}$/;

const slurmExecutor = z.strictObject({
  partition: z.optional(
    z
      .string()
      .check(
        z.minLength(1),
        describe("`--partition`: the queue the trials wait in; the cluster's default when left out."),
      ),
  ),
  time: z._default(
    z
      .string()
      .check(
        z.regex(slurmTimePattern, 'a Slurm time: minutes, HH:MM:SS or D-HH:MM:SS'),
        describe(
          "`--time`: each trial's time limit (`HH:MM:SS`, `D-HH:MM:SS`). Before it, Slurm signals the trial, which checkpoints after its current step and requeues itself to go on.",
        ),
      ),
    '04:00:00',
  ),
  cpusPerTask: z._default(
    z.int().check(z.minimum(1), z.maximum(1024), describe('`--cpus-per-task`: cores of each trial.')),
    4,
  ),
  mem: z._default(
    z
      .string()
      .check(
        z.regex(/^\d+[KMGT]?$/, 'a Slurm size such as 16G or 4000M'),
        describe('`--mem`: memory of each trial, e.g. `16G`.'),
      ),
    '16G',
  ),
  gres: z.optional(
    z.string().check(z.minLength(1), describe('`--gres`: generic resources of each trial, e.g. `gpu:1`.')),
  ),
  maxParallel: z.optional(
    z
      .int()
      .check(
        z.minimum(1),
        describe(
          "At most this many of the study's trials run at once (the array's `%N`); no limit when left out.",
        ),
      ),
  ),
  signalSeconds: z._default(
    z
      .int()
      .check(
        z.minimum(10),
        z.maximum(3600),
        describe(
          'How long before the time limit Slurm warns a trial (`--signal=B:USR1@N`): long enough for a step and a checkpoint.',
        ),
      ),
    120,
  ),
  sbatch: z._default(
    z
      .array(z.string().check(z.regex(/^--?[A-Za-z]/, 'an sbatch option, such as --account=lab')))
      .check(
        describe(
          'More sbatch options, each written as an `#SBATCH` line: `["--account=lab", "--qos=long"]`.',
        ),
      ),
    [],
  ),
  setup: z._default(
    z
      .array(z.string())
      .check(describe('Shell lines run on the node before each trial, e.g. `["module load nodejs/20"]`.')),
    [],
  ),
  command: z.optional(
    z
      .string()
      .check(
        z.minLength(1),
        describe(
          "The shell words that run SynthPair's CLI on the cluster's nodes, e.g. `synthpair` or `node /opt/synthpair/dist/cli.js`. When left out, this Node and this CLI, by their absolute paths: right when the nodes share the file system and the processor architecture of the machine that submits.",
        ),
      ),
  ),
});

export const studyFileSchema = z
  .strictObject({
    $schema: z.optional(
      z.string().check(describe('The schema of this file; VS Code needs none for *.study.json.')),
    ),
    name: z
      .string()
      .check(
        z.regex(conditionNamePattern, 'letters, digits, - and _ only, starting with a letter or digit'),
        z.maxLength(64),
        describe('Name of the study: its folder, its Slurm jobs and its tables carry it. Required.'),
      ),
    experiment: z
      .string()
      .check(
        z.minLength(1),
        describe(
          `The base experiment file (\`*${experimentFileSuffix}\`), relative to this file: every trial is it with overrides. Required.`,
        ),
      ),
    out: z.optional(
      z
        .string()
        .check(
          z.minLength(1),
          describe(
            'The study folder, relative to this file; `.synthpair/studies/<name>` beside it when left out. It holds a run folder per trial, their logs and the tables.',
          ),
        ),
    ),
    set: overrides(
      'Experiment keys every trial changes, in dotted form, e.g. `{ "data.root": "../data/cub" }`. Relative paths are resolved against this file\'s folder.',
    ),
    seeds: z._default(
      z
        .array(z.int().check(z.minimum(0), z.maximum(2 ** 31 - 1)))
        .check(
          z.minLength(1),
          describe(
            "The seeds every condition runs with (the experiment's `seed`). The same seed pairs the conditions: the same initial heads, data order and augmentations, so differences are taken seed by seed.",
          ),
        ),
      [0, 1, 2],
    ),
    conditions: z
      .array(condition)
      .check(
        z.minLength(1),
        describe('The conditions compared: one is the baseline, the others are compared with it. Required.'),
      ),
    grid: z.optional(
      z
        .record(z.string(), z.array(z.unknown()).check(z.minLength(1)))
        .check(
          describe(
            'Crosses every condition but the baseline with every combination of these values: `{ "perturb.strength": [0.5, 1, 2] }` makes three conditions of each. Not with `list`.',
          ),
        ),
    ),
    list: z.optional(
      z
        .array(z.record(z.string(), z.unknown()))
        .check(
          z.minLength(1),
          describe(
            'Crosses every condition but the baseline with each of these sets of values, as written (not their combinations). Not with `grid`.',
          ),
        ),
    ),
    metrics: z._default(
      z
        .array(z.enum(studyMetrics))
        .check(
          z.minLength(1),
          describe(
            'The test figures reported, in percent: `knnTop1`, `linearTop1`, `rank1`, `rank5`, `mAP`. Each must be one the experiment evaluates.',
          ),
        ),
      ['knnTop1', 'linearTop1', 'rank1', 'mAP'],
    ),
    checkpoint: z._default(
      z
        .enum(studyCheckpoints)
        .check(
          describe(
            "`best`: the figures of the checkpoint validation chose (`eval.validation`), the last epoch's when a run chose none. `last`: the last epoch's.",
          ),
        ),
      'best',
    ),
    executor: z._default(
      z
        .strictObject({
          kind: z._default(
            z
              .enum(executorKinds)
              .check(
                describe(
                  'Where `Run Study` and `synthpair study run` train: this machine, or a Slurm job array. `--executor` overrides it.',
                ),
              ),
            'local',
          ),
          local: z._default(localExecutor.check(describe('Settings of the local executor.')), {
            concurrency: 1,
          }),
          slurm: z._default(
            slurmExecutor.check(
              describe('Settings of the Slurm executor: one job array per submission, a task per trial.'),
            ),
            { time: '04:00:00', cpusPerTask: 4, mem: '16G', signalSeconds: 120, sbatch: [], setup: [] },
          ),
        })
        .check(describe('Where the trials train, and with what.')),
      {
        kind: 'local',
        local: { concurrency: 1 },
        slurm: { time: '04:00:00', cpusPerTask: 4, mem: '16G', signalSeconds: 120, sbatch: [], setup: [] },
      },
    ),
  })
  .check(
    describe(
      'A SynthPair study: conditions × seeds of one experiment, trained locally or as a Slurm job array, and a table of each condition against the baseline.',
    ),
  );

export type StudyFile = z.infer<typeof studyFileSchema>;
export type StudyConditionSpec = StudyFile['conditions'][number];
export type SlurmSettings = StudyFile['executor']['slurm'];

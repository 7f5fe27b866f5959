import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { selectBackend } from '../engine/backends/selectBackend';
import { embeddingSplits } from '../engine/embed/embedding';
import { formatBackendReport } from '../shared/backendReportText';
import { experimentFileSuffix } from '../shared/config/experiment/choices';
import {
  type ExecutorKind,
  executorKinds,
  type StudyCheckpoint,
  studyCheckpoints,
  studyFileSuffix,
} from '../shared/config/study/definitions';
import { type BackendPreference, backendPreference } from '../shared/protocol/backend';
import { type EmbedCommandOptions, embedCommand } from './embedCommand';
import { evalCommand } from './evalCommand';
import { exportCommand } from './exportCommand';
import { runCommand, UsageError } from './runCommand';
import {
  type StudyCommandContext,
  studyCancelCommand,
  studyRunCommand,
  studyStatusCommand,
  studyTableCommand,
} from './study/studyCommand';
import { trialCommand } from './study/trialCommand';
import { synthesizeCommand } from './synthesizeCommand';

/** Exit codes the CLI promises to scripts and schedulers. */
const exitCodes = { success: 0, failure: 1, usage: 2 } as const;

const distDir = __dirname;

function version(): string {
  const manifest = JSON.parse(readFileSync(path.join(distDir, '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}

function parseBackend(value: string): BackendPreference {
  const parsed = backendPreference.safeParse(value);
  if (!parsed.success) {
    throw new InvalidArgumentError(`expected one of ${backendPreference.options.join(', ')}`);
  }
  return parsed.data;
}

function backendOption(): Option {
  return new Option('--backend <name>', 'force a backend').argParser(parseBackend);
}

function checkpointOption(): Option {
  return new Option(
    '--checkpoint <name>',
    "a run's kept checkpoint instead of the latest: epoch-NNNN, or best (the one validation chose)",
  );
}

/** Where the engine's files are and which version writes the run folders. */
function engine(): { wasmDir: string; version: string } {
  return { wasmDir: path.join(distDir, 'wasm'), version: version() };
}

async function main(argv: readonly string[]): Promise<void> {
  const program = new Command()
    .name('synthpair')
    .description('Self-supervised fine-grained visual recognition from synthesized pairs, headless.')
    .version(version())
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text) });

  program
    .command('backend')
    .description('select a TF.js backend as the engine would and report why each faster one was skipped')
    .addOption(backendOption().default('auto'))
    .option('--native-module-path <dir...>', 'extra folders searched for @tensorflow/tfjs-node(-gpu)', [])
    .option('--json', 'print the report as JSON')
    .action(async (options: { backend: BackendPreference; nativeModulePath: string[]; json?: boolean }) => {
      const { report } = await selectBackend({
        preference: options.backend,
        wasmDir: engine().wasmDir,
        nativeModulePaths: options.nativeModulePath,
        synthpairVersion: engine().version,
      });
      process.stdout.write(
        options.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatBackendReport(report)}\n`,
      );
    });

  program
    .command('run')
    .description('train an experiment into a new run folder, or resume one')
    .argument('[config]', `the experiment file (*${experimentFileSuffix})`)
    .option('--out <dir>', 'run folder (default: .synthpair/runs/<name>-<time> under the current folder)')
    .option('--set <key=value...>', 'override config keys, e.g. --set train.epochs=10 ssl.method=mocov2', [])
    .option('--resume <runDir>', 'continue a stopped or killed run from its last checkpoint')
    .addOption(backendOption())
    .addHelpText(
      'after',
      '\nExit codes: 0 completed, 1 failed, 2 bad config, arguments, data or run folder, 130 stopped by Ctrl-C (resume it).',
    )
    .action(
      async (
        config: string | undefined,
        options: { out?: string; set: string[]; resume?: string; backend?: BackendPreference },
      ) => {
        process.exitCode = await runCommand(config, { ...options, ...engine() });
      },
    );

  program
    .command('eval')
    .description("measure a run's latest checkpoint: kNN, linear probe, retrieval rank-1/5 and mAP")
    .argument('<runDir>', 'a run folder written by `synthpair run` or the extension')
    .addOption(checkpointOption())
    .option(
      '--set <key=value...>',
      'change how it is measured, or where the data now is: eval.* keys, data.root, data.layout',
      [],
    )
    .addOption(backendOption())
    .option('--json', 'print the result as a JSON line even on a terminal')
    .addHelpText(
      'after',
      '\nThe run folder is only read. Exit codes: 0 evaluated, 1 failed, 2 bad run folder, arguments or data.',
    )
    .action(
      async (
        runDir: string,
        options: { checkpoint?: string; set: string[]; backend?: BackendPreference; json?: boolean },
      ) => {
        process.exitCode = await evalCommand(runDir, { ...options, ...engine() });
      },
    );

  program
    .command('embed')
    .description(
      "write the features h of a split or an image folder as .npy, from a run's checkpoint or an experiment's model.init",
    )
    .argument(
      '<source>',
      `a run folder (its latest checkpoint), or an experiment file (*${experimentFileSuffix}): the encoder model.init starts it from, untrained`,
    )
    .addOption(
      new Option(
        '--split <name>',
        "the data set's split (validation: the training images data.validation held out); all is train, validation, then test (default: test)",
      ).choices(embeddingSplits),
    )
    .option(
      '--images <folder>',
      'every .jpg/.png under a folder instead: labelled by their sub-folder of it, -1 directly in it',
    )
    .addOption(checkpointOption())
    .option('--out <dir>', 'where the files go (default: embeddings/<run>-<checkpoint>-<split> here)')
    .option(
      '--set <key=value...>',
      'where the data now is: data.root, data.layout (an experiment file takes any key)',
      [],
    )
    .addOption(backendOption())
    .option('--json', 'print the result as a JSON line even on a terminal')
    .addHelpText(
      'after',
      `
Writes features.npy (float32, images × features: h in eval mode, each image's centre view at data.imageSize, as
evaluation computes it), labels.npy (int64), files.txt (each row's image, relative to the data root or folder),
classes.json (label k's name at k) and embedding.json (where they came from). An existing embedding is not
replaced. The run folder is only read. Exit codes: 0 written, 1 failed, 2 bad source, arguments or data.`,
    )
    .action(async (source: string, options: Omit<EmbedCommandOptions, 'wasmDir' | 'version'>) => {
      process.exitCode = await embedCommand(source, { ...options, ...engine() });
    });

  program
    .command('export')
    .description("write a run's encoder in torchvision's ResNet layout and names, for PyTorch")
    .argument('<runDir>', 'a run folder of a ResNet (resnet18, resnet50)')
    .addOption(checkpointOption())
    .option('--out <file>', 'the .safetensors file (default: <run>-<checkpoint>.safetensors here)')
    .option('--pth', 'also write the state dict as torch.save does, beside it as .pth')
    .option('--json', 'print the result as a JSON line even on a terminal')
    .addHelpText(
      'after',
      `
The online encoder only: no projector, predictor or classifier. Load it into torchvision's ResNet with its fc
replaced by nn.Identity(), strictly:
  model = torchvision.models.resnet18(); model.fc = torch.nn.Identity()
  model.load_state_dict(state_dict, strict=True)   # then model(x) is h
Feed it images as the run did: model.inputNorm imagenet normalises them with ImageNet's mean and std. A
model.stem cifar run exports a 3×3 conv1 (set model.conv1 to a 3×3, stride 1 convolution and model.maxpool to
nn.Identity()); a model.width other than 1 exports narrower tensors than torchvision builds. The
__metadata__ of the .safetensors file says all of this. An existing file is not replaced; the run folder is
only read. Exit codes: 0 written, 1 failed, 2 bad run folder, model or arguments.`,
    )
    .action(
      async (
        runDir: string,
        options: { checkpoint?: string; out?: string; pth?: boolean; json?: boolean },
      ) => {
        process.exitCode = await exportCommand(runDir, { ...options, ...engine() });
      },
    );

  program
    .command('synthesize')
    .description(
      "redraw a run's probe pairs from its latest checkpoint and analysis with other perturbation or mask settings",
    )
    .argument('<runDir>', 'a run folder trained with a decoder (loss.alpha or loss.nu above 0)')
    .option(
      '--set <key=value...>',
      'perturb.mode|strength|fraction, analysis.variance.quantile, analysis.gradcam.quantile|variant, analysis.combine, analysis.probes.samples',
      [],
    )
    .option('--out <file>', 'the pair grid PNG, outside the run folder', 'synthesized.png')
    .addOption(backendOption())
    .option('--json', 'print the result as a JSON line even on a terminal')
    .addHelpText(
      'after',
      '\nEach grid row: probe, d(h), the perturbed d(h′) copies, |d(h) − d(h′₁)| ×4. The run folder is only read.\nExit codes: 0 written, 1 failed, 2 bad run folder or arguments.',
    )
    .action(
      async (
        runDir: string,
        options: { set: string[]; out: string; backend?: BackendPreference; json?: boolean },
      ) => {
        process.exitCode = await synthesizeCommand(runDir, { ...options, ...engine() });
      },
    );

  const study = program
    .command('study')
    .description(
      'run conditions × seeds of an experiment from a study file, locally or as a Slurm job array, and tabulate them',
    )
    .addHelpText(
      'after',
      `
A study file (*${studyFileSuffix}) names a base experiment, its conditions (one the baseline), seeds and where
to train. Each trial is an ordinary run folder, <condition>.seed-<seed>, in the study folder. docs/studies.md
describes the file and the folder.`,
    );
  const studyContext = (backend?: BackendPreference): StudyCommandContext => ({
    node: process.execPath,
    cliScript: path.join(distDir, 'cli.js'),
    ...(backend ? { backend } : {}),
  });
  const studyFileArgument = `the study file (*${studyFileSuffix})`;

  study
    .command('run')
    .description(
      'train the trials not yet completed: reuse completed ones, resume stopped ones, retry failed ones',
    )
    .argument('<study>', studyFileArgument)
    .addOption(
      new Option('--executor <kind>', "where to train; the study file's executor.kind by default").choices(
        executorKinds,
      ),
    )
    .option(
      '--concurrency <n>',
      'local executor: trials at once (default: executor.local.concurrency)',
      (value) => {
        const parsed = Number(value);
        if (!Number.isInteger(parsed) || parsed < 1)
          throw new InvalidArgumentError('expected a whole number ≥ 1');
        return parsed;
      },
    )
    .option(
      '--wait',
      'slurm executor: follow the job array until every trial has ended, then print the table',
    )
    .addOption(backendOption())
    .addHelpText(
      'after',
      '\nExit codes: 0 every trial completed (slurm: submitted), 1 a trial failed, 2 bad study file or arguments, 130 stopped (run it again to resume).',
    )
    .action(
      async (
        file: string,
        options: {
          executor?: ExecutorKind;
          concurrency?: number;
          wait?: boolean;
          backend?: BackendPreference;
        },
      ) => {
        process.exitCode = await studyRunCommand(file, options, studyContext(options.backend));
      },
    );

  study
    .command('status')
    .description(
      "each trial's state (from its run folder, and from squeue/sacct on Slurm), and the log of each failed one",
    )
    .argument('<study>', studyFileArgument)
    .option('--json', 'print it as one JSON object')
    .action(async (file: string, options: { json?: boolean }) => {
      process.exitCode = await studyStatusCommand(file, options, studyContext());
    });

  study
    .command('cancel')
    .description(
      'stop the local queue and cancel the Slurm job arrays of a study; training trials stop after their current step',
    )
    .argument('<study>', studyFileArgument)
    .action(async (file: string) => {
      process.exitCode = await studyCancelCommand(file, studyContext());
    });

  study
    .command('table')
    .description(
      "mean ± std per condition and metric, and each condition's paired difference to the baseline with its 95 % interval",
    )
    .argument('<study>', studyFileArgument)
    .addOption(new Option('--format <format>', 'what to print').choices(['md', 'csv', 'json']).default('md'))
    .addOption(
      new Option(
        '--checkpoint <which>',
        "whose figures: best (chosen by validation) or last; the study file's checkpoint by default",
      ).choices(studyCheckpoints),
    )
    .addHelpText(
      'after',
      "\nAlso writes table.md, table.csv and table.json into the study folder (of the study file's checkpoint).",
    )
    .action(
      async (file: string, options: { format: 'md' | 'csv' | 'json'; checkpoint?: StudyCheckpoint }) => {
        process.exitCode = await studyTableCommand(file, options, studyContext());
      },
    );

  study
    .command('trial')
    .description('train one trial of a study: what a local queue or a Slurm array task runs')
    .argument('<studyDir>', 'the study folder')
    .argument('<trial>', 'the trial, <condition>.seed-<seed>')
    .addOption(backendOption())
    .action(async (studyDir: string, trial: string, options: { backend?: BackendPreference }) => {
      process.exitCode = await trialCommand(studyDir, trial, { ...options, ...engine() });
    });

  try {
    await program.parseAsync(argv, { from: 'node' });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') {
      process.exitCode = exitCodes.success;
      return;
    }
    if (typeof code === 'string' && code.startsWith('commander.')) {
      process.exitCode = exitCodes.usage;
      return;
    }
    process.stderr.write(`synthpair: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = error instanceof UsageError ? exitCodes.usage : exitCodes.failure;
  }
}

void main(process.argv);

// One of the CLI's commands on one backend, from the TypeScript sources: the steps of a whole run and of what
// reads it afterwards. A child process of test/unit/engine/webgpuRun.test.ts, since the Vulkan driver Dawn
// uses is chosen by the environment the process starts with (LD_LIBRARY_PATH is read once, by the dynamic
// linker). One process a command, as `synthpair` runs them: a second selection of webgpu in one process
// ended in a segmentation fault inside Dawn. The command runs in `folder`, which holds
// tiny.synthpair.json and its data, prints its JSON lines (stdout is not a terminal), and the process exits
// with the command's exit code.
//
//   node --import tsx test/support/backendRun.ts <folder> <backend> <step>
import path from 'node:path';
import { embedCommand } from '../../src/cli/embedCommand';
import { evalCommand } from '../../src/cli/evalCommand';
import { runCommand } from '../../src/cli/runCommand';
import { synthesizeCommand } from '../../src/cli/synthesizeCommand';
import { backendPreference } from '../../src/shared/protocol/backend';

export const backendRunFiles = {
  experiment: 'tiny.synthpair.json',
  run: 'run',
  embedding: 'embedding',
  pairs: 'pairs.png',
} as const;

type Engine = Parameters<typeof evalCommand>[1] & { json: true };

/**
 * In order: train the experiment; measure its latest checkpoint; write h of its test split; redraw its pairs
 * with another strength; measure the experiment with its encoder started from the run (`model.init`).
 */
export const backendRunSteps = {
  run: (engine: Engine) =>
    runCommand(backendRunFiles.experiment, { ...engine, out: path.resolve(backendRunFiles.run) }),
  eval: (engine: Engine) => evalCommand(backendRunFiles.run, engine),
  embed: (engine: Engine) =>
    embedCommand(backendRunFiles.run, { ...engine, split: 'test', out: backendRunFiles.embedding }),
  synthesize: (engine: Engine) =>
    synthesizeCommand(backendRunFiles.run, {
      ...engine,
      set: ['perturb.strength=2'],
      out: backendRunFiles.pairs,
    }),
  evalInit: (engine: Engine) =>
    evalCommand(backendRunFiles.experiment, {
      ...engine,
      set: [`model.init=${path.resolve(backendRunFiles.run)}`],
    }),
} as const;

export type BackendRunStep = keyof typeof backendRunSteps;

if (require.main === module) {
  const [folder, backend, step] = process.argv.slice(2) as [string, string, BackendRunStep];
  // The commands read the experiment and keep their image cache relative to the current folder.
  process.chdir(folder);
  backendRunSteps[step]({
    backend: backendPreference.parse(backend),
    set: [],
    json: true,
    wasmDir: path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')),
    version: 'test',
  }).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}

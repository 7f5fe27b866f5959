// One training step of each case on the cpu backend and then on webgpu, from the same weights and batch; a
// child process of test/unit/engine/webgpuTraining.test.ts, since the Vulkan driver Dawn uses is chosen by
// the environment the process starts with (LD_LIBRARY_PATH is read once, by the dynamic linker). Prints one
// JSON line: each case's loss terms and gradients on both backends, compared.
//
//   node --import tsx test/support/webgpuStepParity.ts [case …]
import { tryWebGpu } from '../../src/engine/backends/webgpu/webgpuBackend';
import { type CaseComparison, compareCase, parityCases } from './webgpuParity';

export type ParityOutcome =
  | { status: 'ok'; adapter: string; cases: CaseComparison[] }
  | { status: 'no-adapter'; reason: string };

async function main(): Promise<void> {
  const attempt = await tryWebGpu({ forced: true });
  if (attempt.outcome !== 'selected') {
    const outcome: ParityOutcome = { status: 'no-adapter', reason: attempt.reason };
    process.stdout.write(`${JSON.stringify(outcome)}\n`);
    return;
  }
  const names = process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(parityCases);
  const cases: CaseComparison[] = [];
  for (const name of names) cases.push(await compareCase(name));
  const outcome: ParityOutcome = { status: 'ok', adapter: attempt.details?.webgpu?.adapter ?? '', cases };
  process.stdout.write(`${JSON.stringify(outcome)}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

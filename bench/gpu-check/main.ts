// The GPU check's one entry, bundled by bench/gpu-check/prepare.ts and started by bench/gpu-check.sh: with
// a child's name first it is that child (bench/gpu-check/children.ts), else the check itself
// (bench/gpu-check/orchestrate.ts). The check then starts its children from the same file, so the bundle
// needs no second one. Each side is imported only when it runs, so the parent never loads TF.js.
//
//   node --import tsx bench/gpu-check/main.ts [options]   from the sources, with node_modules
const childNames = ['adapter', 'parity', 'step'];

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (childNames.includes(args[0] ?? '')) {
    const { runChild } = await import('./children');
    await runChild(args);
  } else {
    const { runCheck } = await import('./orchestrate');
    process.exitCode = await runCheck(args);
  }
}

main().then(
  // Dawn's threads can keep a process alive after its work is done.
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

// `npm run package`: a VSIX for this platform. vsce first runs `vscode:prepublish`, the production build, which
// puts this platform's sharp, libvips and run-lock addon beside the bundles (copyNativeRuntime in build.mjs),
// so the VSIX is marked with vsce's target of the same name.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
execFileSync(
  path.join(root, 'node_modules', '.bin', 'vsce'),
  [
    'package',
    '--no-dependencies',
    '--target',
    `${process.platform}-${process.arch}`,
    ...process.argv.slice(2),
  ],
  { cwd: root, stdio: 'inherit' },
);

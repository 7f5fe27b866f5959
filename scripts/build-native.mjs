// Builds the optional oneDNN addon (native/) with node-gyp; `npm install` runs it. A machine without a C++
// compiler or oneDNN's headers still installs: the build's failure is written, in words, where the engine
// looks for the addon, and the backend report quotes it when it passes over the onednn backend.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const nativeDir = path.join(root, 'native');
const outputDir = path.join(nativeDir, 'build', 'Release');
const unavailableFile = path.join(outputDir, 'synthpair_onednn.unavailable.txt');

if (process.env.SYNTHPAIR_SKIP_NATIVE) {
  explainUnavailable('SYNTHPAIR_SKIP_NATIVE was set when the extension was installed');
  process.exit(0);
}

let nodeGyp;
try {
  nodeGyp = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
} catch {
  explainUnavailable('node-gyp is not installed (it is a development dependency)');
  process.exit(0);
}

const args = [nodeGyp, 'rebuild', '--jobs', 'max'];
// node-gyp downloads Node's headers unless told where they are; a distribution's Node ships them beside
// itself, and a machine that reaches only the npm registry could not download them.
const bundledHeaders = path.resolve(path.dirname(process.execPath), '..');
if (existsSync(path.join(bundledHeaders, 'include', 'node', 'node_api.h'))) {
  args.push(`--nodedir=${bundledHeaders}`);
}

console.log('building the oneDNN addon (optional)…');
const build = spawnSync(process.execPath, args, { cwd: nativeDir, encoding: 'utf8' });
if (build.status === 0) {
  console.log(`oneDNN addon built: ${path.relative(root, path.join(outputDir, 'synthpair_onednn.node'))}`);
  process.exit(0);
}
const log = `${build.stdout ?? ''}\n${build.stderr ?? ''}`;
explainUnavailable(diagnose(log));
console.log(log.split('\n').slice(-30).join('\n'));
process.exit(0);

function diagnose(output) {
  if (/dnnl\.hpp: No such file/.test(output)) {
    return 'oneDNN headers were not found (Debian/Ubuntu: apt install libdnnl-dev), so the addon was not built';
  }
  if (/cannot find -ldnnl/.test(output)) {
    return 'the oneDNN library was not found (Debian/Ubuntu: apt install libdnnl-dev), so the addon was not built';
  }
  // make's "g++: not found", or gyp failing to run the compiler it probes at configure time.
  const compilerMissing =
    /(g\+\+|c\+\+|cc|clang\+*|make): (command )?not found|FileNotFoundError: \[Errno 2\] No such file|spawn (make|g\+\+|c\+\+) ENOENT/;
  if (compilerMissing.test(output)) {
    return 'no C++ compiler or make was found (Debian/Ubuntu: apt install g++ make), so the addon was not built';
  }
  if (/Could not find any Python|gyp ERR! find Python/.test(output)) {
    return 'node-gyp found no Python 3, so the addon was not built';
  }
  const firstError = output.split('\n').find((line) => /error|ERR!/.test(line));
  return `node-gyp failed${firstError ? `: ${firstError.trim()}` : ''}`;
}

function explainUnavailable(reason) {
  rmSync(path.join(outputDir, 'synthpair_onednn.node'), { force: true });
  mkdirSync(outputDir, { recursive: true });
  writeFileSync(unavailableFile, `${reason}\n`);
  console.log(`oneDNN addon not built: ${reason}; SynthPair will use the wasm backend`);
}

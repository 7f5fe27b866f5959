import { execFileSync } from 'node:child_process';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { quickstartFolder } from '../../scripts/quickstart';
import { makeTempDir } from '../fixtures/makeImages';
import { repoRoot } from './paths';

/**
 * What a fresh clone has of examples/quickstart, in a temporary folder: the files git tracks, nothing a start
 * generated or a run wrote there.
 */
export async function freshQuickstart(): Promise<string> {
  const folder = await makeTempDir('quickstart');
  const relativeFolder = path.relative(repoRoot, quickstartFolder);
  const tracked = execFileSync('git', ['ls-files', '-z', '--', relativeFolder], {
    cwd: repoRoot,
    encoding: 'utf8',
  })
    .split('\0')
    .filter((file) => file !== '');
  for (const file of tracked) {
    const target = path.join(folder, path.relative(relativeFolder, file));
    await mkdir(path.dirname(target), { recursive: true });
    await copyFile(path.join(repoRoot, file), target);
  }
  return folder;
}

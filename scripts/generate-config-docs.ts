// Writes the files generated from the experiment and study definitions: the JSON schemas VS Code validates
// `*.synthpair.json` and `*.study.json` with, docs/config.md and docs/study-config.md. `npm run generate` runs it through generate-manifest.ts;
// with `--check` it only reports stale files, which the unit tests rely on.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { experimentJsonSchema } from '../src/shared/config/experiment/jsonSchema';
import { experimentConfigMarkdown } from '../src/shared/config/experiment/markdown';
import { studyJsonSchema } from '../src/shared/config/study/jsonSchema';
import { studyConfigMarkdown } from '../src/shared/config/study/markdown';

const root = path.join(__dirname, '..');

export const experimentSchemaPath = 'media/schema/experiment.schema.json';
export const configDocsPath = 'docs/config.md';
export const studySchemaPath = 'media/schema/study.schema.json';
export const studyDocsPath = 'docs/study-config.md';

/** Each generated file's path relative to the repository root, with the text it must have. */
export function generatedConfigFiles(): Map<string, string> {
  return new Map([
    [experimentSchemaPath, `${JSON.stringify(experimentJsonSchema(), null, 2)}\n`],
    [configDocsPath, experimentConfigMarkdown()],
    [studySchemaPath, `${JSON.stringify(studyJsonSchema(), null, 2)}\n`],
    [studyDocsPath, studyConfigMarkdown()],
  ]);
}

function currentText(relativePath: string): string | undefined {
  try {
    return readFileSync(path.join(root, relativePath), 'utf8');
  } catch {
    return undefined;
  }
}

/** The generated files whose content on disk differs from what the definitions produce. */
export function staleConfigFiles(): string[] {
  return [...generatedConfigFiles()]
    .filter(([relativePath, text]) => currentText(relativePath) !== text)
    .map(([relativePath]) => relativePath);
}

export function writeConfigFiles(): void {
  for (const [relativePath, text] of generatedConfigFiles()) {
    if (currentText(relativePath) === text) continue;
    const target = path.join(root, relativePath);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, text);
    console.log(`${relativePath} regenerated`);
  }
}

export function checkConfigFiles(): boolean {
  const stale = staleConfigFiles();
  for (const relativePath of stale) console.error(`${relativePath} is stale: run \`npm run generate\``);
  return stale.length === 0;
}

if (require.main === module) {
  if (process.argv.includes('--check')) {
    if (!checkConfigFiles()) process.exit(1);
  } else {
    writeConfigFiles();
  }
}

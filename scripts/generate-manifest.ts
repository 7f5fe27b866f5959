// Writes the manifest sections that are generated from typed sources (`npm run generate`), and the
// experiment config's schema and reference through generate-config-docs.ts, so one command regenerates
// everything; with `--check` it only reports whether any of them is stale, which the unit tests rely on.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { manifestContributions, restrictedConfigurations } from '../src/host/manifest/contributions';
import { checkConfigFiles, writeConfigFiles } from './generate-config-docs';

const manifestPath = path.join(__dirname, '..', 'package.json');

interface Manifest {
  contributes?: Record<string, unknown>;
  capabilities?: { untrustedWorkspaces?: Record<string, unknown> };
}

export function generatedManifest(current: string): string {
  const manifest = JSON.parse(current) as Manifest;
  manifest.contributes = { ...manifest.contributes, ...manifestContributions() };
  manifest.capabilities = {
    ...manifest.capabilities,
    untrustedWorkspaces: {
      ...manifest.capabilities?.untrustedWorkspaces,
      restrictedConfigurations: restrictedConfigurations(),
    },
  };
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

if (require.main === module) {
  const current = readFileSync(manifestPath, 'utf8');
  const next = generatedManifest(current);
  if (process.argv.includes('--check')) {
    const manifestFresh = next === current;
    if (!manifestFresh) console.error('package.json is stale: run `npm run generate`');
    if (!checkConfigFiles() || !manifestFresh) process.exit(1);
  } else {
    if (next !== current) {
      writeFileSync(manifestPath, next);
      console.log('package.json contributions regenerated');
    }
    writeConfigFiles();
  }
}

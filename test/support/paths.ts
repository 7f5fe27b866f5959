import path from 'node:path';

/** The repository's root, for tests that read its files or start its bundles wherever they sit in test/. */
export const repoRoot = path.resolve(__dirname, '..', '..');

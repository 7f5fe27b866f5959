import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  cachedDownload,
  cachedWeightsFile,
  type DownloadProgress,
  expectedDigestPrefix,
} from '../../../src/engine/weights/download';
import { WeightsFileError } from '../../../src/engine/weights/importedTensors';
import { assertCliBuilt, cliPath, jsonEvents, tinyConfig, writeTinyExperiment } from '../../support/cli';
import { WeightsServer } from '../../support/weightsServer';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('downloading model.init from an address, into a cache the CLI and the extension share', function () {
  this.timeout(300_000);
  let cache: string;
  let server: WeightsServer;
  let base: string;
  const payload = randomBytes(3_000_000);
  const named = `/models/weights-${sha256(payload).slice(0, 8)}.pth`;
  const misnamed = '/models/weights-00000000.pth';
  const plain = '/hub/model.safetensors';

  beforeEach(async () => {
    cache = mkdtempSync(path.join(os.tmpdir(), 'synthpair-weights-cache-'));
    server = new WeightsServer(
      new Map([
        [named, payload],
        [misnamed, payload],
        [plain, payload],
      ]),
    );
    base = await server.start();
  });

  afterEach(async () => {
    await server.stop();
    rmSync(cache, { recursive: true, force: true });
  });

  it('keeps a download under its host and path, checks the sha256 prefix of its name, and reads it from there offline', async () => {
    assert.equal(expectedDigestPrefix('resnet50-0676ba61.pth'), '0676ba61');
    assert.equal(expectedDigestPrefix('model.safetensors'), undefined);
    const seen: DownloadProgress[] = [];
    const file = await cachedDownload(`${base}${named}`, {
      cacheFolder: cache,
      onProgress: (p) => seen.push(p),
    });
    assert.equal(file, path.join(cache, `127.0.0.1_${new URL(base).port}`, ...named.split('/').slice(1)));
    assert.deepEqual(readFileSync(file), payload);
    assert.deepEqual(seen.at(-1), { received: payload.length, total: payload.length });
    assert.ok(seen.length > 1, 'progress was reported along the way');
    await server.stop();
    assert.equal(
      await cachedDownload(`${base}${named}`, { cacheFolder: cache }),
      file,
      'offline, from the cache',
    );
  });

  it('continues an interrupted download where it stopped', async () => {
    server.dropOnce.add(plain);
    const url = `${base}${plain}`;
    await assert.rejects(cachedDownload(url, { cacheFolder: cache }), (error: Error) => {
      assert.ok(error instanceof WeightsFileError);
      assert.match(
        error.message,
        /cannot be downloaded .*what arrived is kept, and the next start continues it/,
      );
      return true;
    });
    const kept = readFileSync(`${cachedWeightsFile(url, cache)}.partial`).length;
    assert.ok(kept > 0 && kept < payload.length, `${kept} bytes kept`);
    const file = await cachedDownload(url, { cacheFolder: cache });
    assert.deepEqual(readFileSync(file), payload);
    assert.deepEqual(server.requests.at(-1), { path: plain, range: `bytes=${kept}-` });
  });

  it('deletes a download whose sha256 is not the one its name says', async () => {
    const url = `${base}${misnamed}`;
    await assert.rejects(
      cachedDownload(url, { cacheFolder: cache }),
      new RegExp(`sha256 is ${sha256(payload).slice(0, 8)}…, but its name says 00000000…; it was deleted`),
    );
    assert.equal(existsSync(cachedWeightsFile(url, cache)), false);
    assert.equal(existsSync(`${cachedWeightsFile(url, cache)}.partial`), false);
  });

  it('says where to put the file when it cannot be downloaded', async () => {
    await server.stop();
    const url = `${base}${named}`;
    await assert.rejects(cachedDownload(url, { cacheFolder: cache }), (error: Error) => {
      assert.ok(error.message.startsWith(`${url}: cannot be downloaded (ECONNREFUSED`), error.message);
      assert.ok(
        error.message.endsWith(`Or download it yourself and put it at ${cachedWeightsFile(url, cache)}`),
      );
      return true;
    });
  });

  it('trains from torchvision weights at an address, downloaded once with its progress reported (bundled dist/cli.js)', async () => {
    assertCliBuilt();
    const folder = mkdtempSync(path.join(os.tmpdir(), 'synthpair-download-run-'));
    try {
      const weights = path.join(folder, 'weights');
      mkdirSync(weights);
      const script = path.join(__dirname, '..', '..', 'reference', 'torch_weights.py');
      const made = spawnSync('/usr/bin/python3', [script, weights], { encoding: 'utf8' });
      assert.equal(made.status, 0, made.stderr);
      const bytes = readFileSync(path.join(weights, 'resnet18.pth'));
      const served = `/models/resnet18-${sha256(bytes).slice(0, 8)}.pth`;
      await server.stop();
      server = new WeightsServer(new Map([[served, bytes]]));
      base = await server.start();
      await writeTinyExperiment(folder);
      const url = `${base}${served}`;
      await writeFile(
        path.join(folder, 'tiny.synthpair.json'),
        JSON.stringify(tinyConfig({ model: { arch: 'resnet18', stem: 'imagenet', width: 1, init: url } })),
      );
      // Asynchronously: the server answers from this process.
      const run = (out: string) =>
        promisify(execFile)(process.execPath, [cliPath, 'run', 'tiny.synthpair.json', '--out', out], {
          cwd: folder,
          env: { ...process.env, SYNTHPAIR_CACHE: cache },
        });
      const first = jsonEvents((await run('first')).stdout);
      const downloads = first.filter((event) => event.event === 'download');
      assert.deepEqual(downloads.at(-1), {
        event: 'download',
        url,
        received: bytes.length,
        total: bytes.length,
      });
      const started = first.find((event) => /^the encoder starts from /.test(event.message ?? ''));
      assert.ok(
        started?.message?.startsWith(
          `the encoder starts from ${cachedWeightsFile(url, path.join(cache, 'weights'))};`,
        ),
      );
      const saved = JSON.parse(readFileSync(path.join(folder, 'first', 'config.json'), 'utf8'));
      assert.deepEqual([saved.model.init, saved.model.inputNorm], [url, 'imagenet']);
      const second = jsonEvents((await run('second')).stdout);
      assert.equal(
        second.filter((event) => event.event === 'download').length,
        0,
        'the second run used the cache',
      );
      assert.equal(server.requests.length, 1);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

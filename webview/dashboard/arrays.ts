import type { AnalysisArray } from '../../src/shared/protocol/runFiles';
import type { AnalysisStepRef } from '../../src/shared/protocol/webview';

export type ArrayData = Float32Array | Uint8Array;

export interface LoadedArray {
  data: ArrayData;
  shape: readonly number[];
}

const cache = new Map<string, Promise<LoadedArray>>();

/**
 * Fetches one array of an analysis step from the run folder, once per step: a step's files never change
 * after it appears (it is renamed into place whole).
 */
export function loadAnalysisArray(step: AnalysisStepRef, name: string): Promise<LoadedArray> {
  const entry = step.manifest.arrays[name];
  if (!entry) {
    return Promise.reject(new Error(`analysis step ${step.epoch} has no array '${name}'`));
  }
  const url = `${step.folderUri}/${encodeURIComponent(entry.file)}`;
  // A resume deletes the steps after its checkpoint and writes new ones under the same names: the time the
  // step was taken tells them apart.
  const key = `${url}@${step.manifest.time}`;
  let loading = cache.get(key);
  if (!loading) {
    loading = fetchArray(url, entry);
    // A failed fetch (a step deleted by a resume, a network hiccup over remote) must not stick.
    loading.catch(() => cache.delete(key));
    cache.set(key, loading);
  }
  return loading;
}

async function fetchArray(url: string, entry: AnalysisArray): Promise<LoadedArray> {
  const response = await fetch(url);
  if (!response.ok) {
    throw new Error(`could not read ${entry.file}: HTTP ${response.status}`);
  }
  const buffer = await response.arrayBuffer();
  const count = entry.shape.reduce((product, size) => product * size, 1);
  const bytesPerValue = entry.dtype === 'float32' ? 4 : 1;
  if (buffer.byteLength !== count * bytesPerValue) {
    throw new Error(
      `${entry.file} holds ${buffer.byteLength} bytes, its shape [${entry.shape}] needs ${count * bytesPerValue}`,
    );
  }
  // The files are little-endian, as is every machine a webview runs on.
  const data = entry.dtype === 'float32' ? new Float32Array(buffer) : new Uint8Array(buffer);
  return { data, shape: entry.shape };
}

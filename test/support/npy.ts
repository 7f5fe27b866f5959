import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

export interface NpyContents {
  /** NumPy's dtype string: `<f4`, `<i8`. */
  dtype: string;
  shape: number[];
  fortranOrder: boolean;
  /** Every element, row-major, as NumPy's tolist gives them (a float32 exactly, as a double). */
  values: number[];
}

/** An .npy file as NumPy itself reads it (without pickle), independently of SynthPair's writer. */
export function readNpy(file: string): NpyContents {
  const script = [
    'import json, sys, numpy',
    'a = numpy.load(sys.argv[1], allow_pickle=False)',
    'print(json.dumps({"dtype": a.dtype.str, "shape": list(a.shape), "fortranOrder": bool(a.ndim > 1 and a.flags.f_contiguous and not a.flags.c_contiguous), "values": a.ravel().tolist()}))',
  ].join('\n');
  const read = spawnSync('/usr/bin/python3', ['-c', script, file], { encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(read.status, 0, read.stderr);
  return JSON.parse(read.stdout) as NpyContents;
}

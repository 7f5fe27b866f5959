import assert from 'node:assert/strict';
import { explainNativeFailure } from '../../../src/engine/backends/selectBackend';

/** A missing library as dlopen reports it; the explanations go by the library's name alone. */
const missing = (library: string) =>
  new Error(`${library}: cannot open shared object file: No such file or directory`);

describe('native backend failure explanations', () => {
  const cuda11Only = [
    'libcudart.so.11.0',
    'libcublas.so.11',
    'libcublasLt.so.11',
    'libcusparse.so.11',
    'libcufft.so.10',
    'libcudnn.so.8',
    'cudart64_110.dll',
    'cudnn64_8.dll',
  ];
  for (const library of cuda11Only) {
    it(`blames CUDA 12 for a missing ${library}`, () => {
      const explained = explainNativeFailure(missing(library));
      assert.ok(explained.startsWith(missing(library).message), 'the original message comes first');
      assert.match(explained, /needs CUDA 11\.2 and cuDNN 8\.1; a CUDA 12 machine cannot load it/);
    });
  }

  for (const library of ['libcusolver.so.11', 'libcurand.so.10', 'curand64_10.dll']) {
    it(`says no CUDA libraries are found when ${library}, shared by CUDA 11 and 12, is missing`, () => {
      const explained = explainNativeFailure(missing(library));
      assert.match(explained, /CUDA libraries are not on the library path/);
      assert.doesNotMatch(explained, /CUDA 12 machine/);
    });
  }

  it('does not take CUDA 12 libraries for CUDA 11 ones', () => {
    for (const library of ['libcudart.so.12', 'libcublas.so.12', 'libcufft.so.11', 'libcudnn.so.9']) {
      assert.equal(explainNativeFailure(missing(library)), missing(library).message);
    }
  });

  it('asks for a newer driver when the driver is older than the runtime', () => {
    const explained = explainNativeFailure(
      new Error(
        'cudaGetDevice() failed. Status: CUDA driver version is insufficient for CUDA runtime version',
      ),
    );
    assert.match(explained, /NVIDIA driver is older .* update the driver$/);
  });

  it('blames an old C library, not a missing download, when the binding needs a newer glibc', () => {
    const explained = explainNativeFailure(
      new Error(
        "/lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.29' not found (required by /x/lib/napi-v8/tfjs_binding.node)",
      ),
    );
    assert.match(explained, /C or C\+\+ runtime is older/);
    assert.doesNotMatch(explained, /not downloaded/);
  });

  it('still says libtensorflow was not downloaded when the binding is absent', () => {
    assert.match(
      explainNativeFailure(new Error("Cannot find module '/x/lib/napi-v8/tfjs_binding.node'")),
      /libtensorflow was not downloaded/,
    );
  });

  it('passes other messages and non-errors through unchanged', () => {
    assert.equal(explainNativeFailure(new Error('something else')), 'something else');
    assert.equal(explainNativeFailure('a thrown string'), 'a thrown string');
  });
});

/**
 * tfjs-backend-webgpu is written for browsers: it reads WebGPU's constants (GPUBufferUsage, GPUMapMode) and
 * classes (`instanceof GPUBuffer`) as globals, and its backend refuses to be constructed unless navigator.gpu
 * exists. Dawn for Node hands all of these over as plain objects instead. This installs only what the
 * runtime lacks, so a runtime with WebGPU of its own is left alone, and returns how to take it all back.
 */
export function installWebGpuGlobals(gpu: GPU, globals: Readonly<Record<string, unknown>>): () => void {
  const scope = globalThis as Record<string, unknown>;
  const added: string[] = [];
  for (const [name, value] of Object.entries(globals)) {
    if (!(name in scope)) {
      Object.defineProperty(scope, name, { value, configurable: true, writable: true });
      added.push(name);
    }
  }

  let removeGpu = (): void => {};
  const navigator = scope.navigator as { gpu?: unknown } | undefined;
  if (navigator === undefined) {
    // Node 20 has no navigator at all; Node 21 and later have one without gpu.
    Object.defineProperty(scope, 'navigator', { value: { gpu }, configurable: true, writable: true });
    removeGpu = () => delete scope.navigator;
  } else if (navigator.gpu === undefined) {
    Object.defineProperty(navigator, 'gpu', { value: gpu, configurable: true });
    removeGpu = () => delete navigator.gpu;
  }

  return () => {
    removeGpu();
    for (const name of added) {
      delete scope[name];
    }
  };
}

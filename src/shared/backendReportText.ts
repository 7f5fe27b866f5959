import type { BackendReport } from './protocol/backend';

const outcomeLabels: Record<BackendReport['attempts'][number]['outcome'], string> = {
  selected: 'selected',
  'not-installed': 'not installed',
  failed: 'failed',
  unusable: 'unusable',
  'not-tried': 'not tried',
};

/** The backend report as plain text, for the output channel and the CLI. */
export function formatBackendReport(report: BackendReport): string {
  const lines = [
    `Backend: ${report.selected} (TF.js backend '${report.tfjsBackend}', preference '${report.preference}', ready in ${report.startupMillis} ms)`,
  ];
  if (report.wasm) {
    lines.push(
      `WebAssembly: SIMD ${report.wasm.simd ? 'on' : 'off'}, ${report.wasm.threads ? `${report.wasm.threadCount} threads` : 'single thread'}; training kernels: ${report.wasm.trainingKernels.join(', ')}`,
    );
  }
  if (report.onednn) {
    lines.push(
      `oneDNN ${report.onednn.library}${report.onednn.libraryFile ? ` from ${report.onednn.libraryFile}` : ''}, ${report.onednn.threads} threads; native kernels: ${report.onednn.nativeKernels.join(', ')}`,
    );
  }
  if (report.webgpu) {
    lines.push(
      `WebGPU adapter: ${report.webgpu.adapter}${report.webgpu.software ? ' (software, forced)' : ''}`,
    );
  }
  lines.push('Backends tried, fastest first:');
  const width = Math.max(...report.attempts.map((attempt) => attempt.name.length));
  for (const attempt of report.attempts) {
    const millis = attempt.millis === undefined ? '' : ` [${attempt.millis} ms]`;
    lines.push(
      `  ${attempt.name.padEnd(width)}  ${outcomeLabels[attempt.outcome].padEnd(13)} ${attempt.reason}${millis}`,
    );
  }
  lines.push(
    `TF.js ${report.versions.tfjs}, Node ${report.versions.node}, SynthPair ${report.versions.synthpair}; ${report.platform.os} ${report.platform.arch}, ${report.platform.cpus} × ${report.platform.cpuModel}`,
  );
  return lines.join('\n');
}

import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { chromiumPath } from '../integration/run';

/**
 * Chromium ships SwiftShader, a Vulkan driver that runs on the CPU, with the Vulkan loader beside it. Pointed
 * at it, Dawn finds a software adapter on a machine without a GPU, so the webgpu backend can be checked
 * wherever the webview tests run. Undefined where Chromium brings no SwiftShader.
 */
export function swiftShaderBesideChromium(): string | undefined {
  if (!existsSync(chromiumPath)) return undefined;
  // Debian's /usr/bin/chromium is a script that starts the binary in /usr/lib/chromium.
  const folders = [path.dirname(realpathSync(chromiumPath)), '/usr/lib/chromium'];
  return folders
    .map((folder) => path.join(folder, 'vk_swiftshader_icd.json'))
    .find((file) => existsSync(file));
}

/**
 * The environment of a child process whose Dawn finds SwiftShader: the Vulkan loader reads the driver's
 * manifest from VK_DRIVER_FILES, and the dynamic linker finds the loader beside it only through
 * LD_LIBRARY_PATH, read once when the process starts.
 */
export function swiftShaderEnvironment(icd: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    VK_DRIVER_FILES: icd,
    LD_LIBRARY_PATH: [path.dirname(icd), process.env.LD_LIBRARY_PATH].filter(Boolean).join(path.delimiter),
  };
}

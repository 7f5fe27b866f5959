import { createByol } from './byol';
import type { MethodOptions, SslMethod } from './method';
import { createMocoV2 } from './mocov2';
import { createSimClr } from './simclr';
import { createSimSiam } from './simsiam';

export const methodFactories = {
  simclr: createSimClr,
  mocov2: createMocoV2,
  simsiam: createSimSiam,
  byol: createByol,
} satisfies Record<string, (options: MethodOptions) => SslMethod>;

export type MethodName = keyof typeof methodFactories;

export function createMethod(name: MethodName, options: MethodOptions): SslMethod {
  return methodFactories[name](options);
}

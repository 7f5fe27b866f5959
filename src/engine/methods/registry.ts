import { inputNormOf } from '../../shared/config/experiment/choices';
import type { ResolvedConfig } from '../../shared/config/experiment/definitions';
import type { MethodName, MethodOptions } from '../../shared/config/methods/registry';
import type { InitialEncoder } from '../weights/initialEncoder';
import { createByol } from './byol';
import type { NetworkOptions, SslMethod } from './method';
import { createMocoV2 } from './mocov2';
import { createSimClr } from './simclr';
import { createSimSiam } from './simsiam';

type MethodFactory<Name extends MethodName> = (
  network: NetworkOptions,
  options: MethodOptions<Name>,
) => SslMethod;

/** Each method's implementation: one the shared registry (src/shared/config/methods) lists but this lacks fails to compile. */
const methodFactories: { [Name in MethodName]: MethodFactory<Name> } = {
  simclr: createSimClr,
  mocov2: createMocoV2,
  simsiam: createSimSiam,
  byol: createByol,
};

export function createMethod<Name extends MethodName>(
  name: Name,
  network: NetworkOptions,
  options: MethodOptions<Name>,
): SslMethod {
  return methodFactories[name](network, options);
}

/** The method a config selects, built as a run builds it; its encoders start from `initialEncoder` if given. */
export function createMethodFor(config: ResolvedConfig, initialEncoder?: InitialEncoder): SslMethod {
  const { seed, model, ssl } = config;
  return createMethod(
    ssl.method,
    {
      seed,
      encoder: {
        arch: model.arch,
        width: model.width,
        stem: model.stem,
        padding: model.padding,
        inputNorm: inputNormOf(model),
        batchNorm: model.batchNorm,
      },
      projector: model.projector,
      predictor: model.predictor,
      ...(initialEncoder ? { initialEncoder } : {}),
    },
    ssl[ssl.method],
  );
}

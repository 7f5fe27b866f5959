import type { ImportanceVariant } from '../../../../src/shared/config/experiment/choices';
import type { AnalysisStepRef } from '../../../../src/shared/protocol/webview';
import { loadAnalysisArray } from '../../arrays';

/** The arrays of the step shown, with the importance of the variant the config asks for. */
export interface LoadedStep {
  step: AnalysisStepRef;
  variance: Float32Array;
  importance: Float32Array;
  variant: ImportanceVariant;
  savedMask: Uint8Array;
}

export async function loadStep(step: AnalysisStepRef, variant: ImportanceVariant): Promise<LoadedStep> {
  const [variance, importance, mask] = await Promise.all([
    loadAnalysisArray(step, 'variance'),
    loadAnalysisArray(step, `importance.${variant}`),
    loadAnalysisArray(step, 'mask'),
  ]);
  if (!(variance.data instanceof Float32Array) || !(importance.data instanceof Float32Array)) {
    throw new Error(`epoch ${step.epoch}: variance and importance must be float32`);
  }
  if (variance.data.length !== importance.data.length || variance.data.length !== mask.data.length) {
    throw new Error(`epoch ${step.epoch}: variance, importance and mask differ in length`);
  }
  return {
    step,
    variance: variance.data,
    importance: importance.data,
    variant,
    savedMask: Uint8Array.from(mask.data),
  };
}

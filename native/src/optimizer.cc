// One pass per parameter for an optimiser update. TF.js composes Adam's update from about fifteen kernels per
// parameter, each a full pass over memory and a dispatch; across a ResNet's sixty-odd parameters those
// dispatches outnumber every other kernel of a training step.
#include <cmath>

#include "common.h"

namespace synthpair {
namespace {

// adam(variable, gradient, first, second, newVariable, newFirst, newSecond, settings) with settings
// [rate, beta1, beta2, epsilon, correction1, correction2, weightDecay]: PyTorch's Adam with L2 decay.
Napi::Value Adam(const Napi::CallbackInfo& info) {
  auto variableArray = info[0].As<Napi::Float32Array>();
  const float* variable = floats(info[0]);
  const float* gradient = floats(info[1]);
  const float* first = floats(info[2]);
  const float* second = floats(info[3]);
  float* newVariable = floats(info[4]);
  float* newFirst = floats(info[5]);
  float* newSecond = floats(info[6]);
  const float* settings = floats(info[7]);
  const float rate = settings[0], beta1 = settings[1], beta2 = settings[2], epsilon = settings[3];
  const float correction1 = settings[4], correction2 = settings[5], weightDecay = settings[6];
  const int64_t size = static_cast<int64_t>(variableArray.ElementLength());
#pragma omp parallel for simd schedule(static) if (size >= parallelThreshold)
  for (int64_t i = 0; i < size; ++i) {
    const float g = gradient[i] + weightDecay * variable[i];
    const float m = first[i] * beta1 + g * (1.f - beta1);
    const float v = second[i] * beta2 + g * g * (1.f - beta2);
    newFirst[i] = m;
    newSecond[i] = v;
    newVariable[i] = variable[i] - rate * ((m / correction1) / (std::sqrt(v / correction2) + epsilon));
  }
  return info.Env().Undefined();
}

// momentum(variable, gradient, buffer, newVariable, newBuffer, settings) with settings
// [rate, momentum, weightDecay, scale]: SGD with momentum; LARS passes its trust ratio as the scale.
Napi::Value Momentum(const Napi::CallbackInfo& info) {
  auto variableArray = info[0].As<Napi::Float32Array>();
  const float* variable = floats(info[0]);
  const float* gradient = floats(info[1]);
  const float* buffer = floats(info[2]);
  float* newVariable = floats(info[3]);
  float* newBuffer = floats(info[4]);
  const float* settings = floats(info[5]);
  const float rate = settings[0], momentum = settings[1], weightDecay = settings[2], scale = settings[3];
  const int64_t size = static_cast<int64_t>(variableArray.ElementLength());
#pragma omp parallel for simd schedule(static) if (size >= parallelThreshold)
  for (int64_t i = 0; i < size; ++i) {
    const float b = buffer[i] * momentum + (gradient[i] + weightDecay * variable[i]) * scale;
    newBuffer[i] = b;
    newVariable[i] = variable[i] - b * rate;
  }
  return info.Env().Undefined();
}

}  // namespace

void registerOptimizer(Napi::Env env, Napi::Object exports) {
  exportKernel<Adam>(env, exports, "adam");
  exportKernel<Momentum>(env, exports, "momentum");
}

}  // namespace synthpair

// Batch normalisation in training, forward and backward in one primitive each: the batch's mean and biased
// variance come out of the forward pass, and the backward pass returns the gradients of the input, scale and
// shift with the dependence of the moments on the input included.
#include <cmath>

#include "common.h"

namespace synthpair {
namespace {

using dnnl::normalization_flags;
using dnnl::prop_kind;

// sizes: N, H, W, C (a [rows, C] matrix is passed as N = rows, H = W = 1), then epsilon × 1e9 as an integer
// so the cache key stays exact.
struct Normalization {
  dnnl::memory::desc data, channels;
  dnnl::batch_normalization_forward forward;
  dnnl::batch_normalization_backward backward;
};

Normalization buildNormalization(const std::vector<int64_t>& s) {
  dnnl::memory::desc data({s[0], s[3], s[1], s[2]}, dt::f32, tag::nhwc);
  dnnl::memory::desc channels({s[3]}, dt::f32, tag::a);
  float epsilon = static_cast<float>(s[4]) * 1e-9f;
  auto flags = normalization_flags::use_scale | normalization_flags::use_shift;
  dnnl::batch_normalization_forward::desc forwardDesc(prop_kind::forward_training, data, epsilon, flags);
  dnnl::batch_normalization_forward::primitive_desc forwardPd(forwardDesc, cpuEngine());
  dnnl::batch_normalization_backward::desc backwardDesc(prop_kind::backward, data, data, epsilon, flags);
  dnnl::batch_normalization_backward::primitive_desc backwardPd(backwardDesc, cpuEngine(), forwardPd);
  return {data, channels, dnnl::batch_normalization_forward(forwardPd),
          dnnl::batch_normalization_backward(backwardPd)};
}

std::unordered_map<std::string, std::unique_ptr<Normalization>> normalizations;

Normalization& entryFor(const Napi::Value& sizesValue) {
  auto sizes = integers(sizesValue);
  return cached(normalizations, cacheKey("n", sizes), buildNormalization, sizes);
}

// batchNormTrain(x, scale, shift, y, mean, variance, sizes)
Napi::Value BatchNormTrain(const Napi::CallbackInfo& info) {
  auto& entry = entryFor(info[6]);
  auto memory = [&](const dnnl::memory::desc& desc, int index) {
    return dnnl::memory(desc, cpuEngine(), floats(info[index]));
  };
  entry.forward.execute(cpuStream(), {{DNNL_ARG_SRC, memory(entry.data, 0)},
                                      {DNNL_ARG_SCALE, memory(entry.channels, 1)},
                                      {DNNL_ARG_SHIFT, memory(entry.channels, 2)},
                                      {DNNL_ARG_DST, memory(entry.data, 3)},
                                      {DNNL_ARG_MEAN, memory(entry.channels, 4)},
                                      {DNNL_ARG_VARIANCE, memory(entry.channels, 5)}});
  cpuStream().wait();
  return info.Env().Undefined();
}

// batchNormTrainGrad(dy, x, scale, mean, variance, dx, dScale, dShift, sizes)
Napi::Value BatchNormTrainGrad(const Napi::CallbackInfo& info) {
  auto& entry = entryFor(info[8]);
  auto memory = [&](const dnnl::memory::desc& desc, int index) {
    return dnnl::memory(desc, cpuEngine(), floats(info[index]));
  };
  entry.backward.execute(cpuStream(), {{DNNL_ARG_DIFF_DST, memory(entry.data, 0)},
                                       {DNNL_ARG_SRC, memory(entry.data, 1)},
                                       {DNNL_ARG_SCALE, memory(entry.channels, 2)},
                                       {DNNL_ARG_MEAN, memory(entry.channels, 3)},
                                       {DNNL_ARG_VARIANCE, memory(entry.channels, 4)},
                                       {DNNL_ARG_DIFF_SRC, memory(entry.data, 5)},
                                       {DNNL_ARG_DIFF_SCALE, memory(entry.channels, 6)},
                                       {DNNL_ARG_DIFF_SHIFT, memory(entry.channels, 7)},
                                       // oneDNN 2.6 refers to a shift argument in the backward pass without
                                       // reading it; any buffer of the right size satisfies the check.
                                       {DNNL_ARG_SHIFT, memory(entry.channels, 7)}});
  cpuStream().wait();
  return info.Env().Undefined();
}

// batchNormInference(x, mean, variance, offset, scale, y, epsilon): x as rows of C channels, the statistics and
// the optional offset and scale (empty arrays when absent) per channel. The frozen encoder's pass for the
// decoder and evaluation normalises this way; each channel's factor is taken in double, as TF.js's loop does.
Napi::Value BatchNormInference(const Napi::CallbackInfo& info) {
  auto xArray = info[0].As<Napi::Float32Array>();
  auto meanArray = info[1].As<Napi::Float32Array>();
  auto offsetArray = info[3].As<Napi::Float32Array>();
  auto scaleArray = info[4].As<Napi::Float32Array>();
  const float* x = floats(xArray);
  const float* mean = floats(meanArray);
  const float* variance = floats(info[2]);
  float* y = floats(info[5]);
  double epsilon = info[6].As<Napi::Number>().DoubleValue();
  int64_t channels = static_cast<int64_t>(meanArray.ElementLength());
  int64_t size = static_cast<int64_t>(xArray.ElementLength());
  if (channels == 0 || size % channels != 0 || info[5].As<Napi::Float32Array>().ElementLength() != xArray.ElementLength() ||
      info[2].As<Napi::Float32Array>().ElementLength() != meanArray.ElementLength()) {
    throw Napi::RangeError::New(info.Env(), "batchNormInference: sizes do not match");
  }
  bool hasOffset = offsetArray.ElementLength() > 0;
  bool hasScale = scaleArray.ElementLength() > 0;
  std::vector<double> factor(channels), shift(channels);
  for (int64_t c = 0; c < channels; ++c) {
    factor[c] = (hasScale ? scaleArray.Data()[c] : 1.0) / std::sqrt(static_cast<double>(variance[c]) + epsilon);
    shift[c] = hasOffset ? offsetArray.Data()[c] : 0.0;
  }
  int64_t rows = size / channels;
#pragma omp parallel for schedule(static) if (size >= parallelThreshold)
  for (int64_t row = 0; row < rows; ++row) {
    const float* in = x + row * channels;
    float* out = y + row * channels;
    for (int64_t c = 0; c < channels; ++c) {
      out[c] = static_cast<float>(shift[c] + (static_cast<double>(in[c]) - mean[c]) * factor[c]);
    }
  }
  return info.Env().Undefined();
}

}  // namespace

void registerNormalization(Napi::Env env, Napi::Object exports) {
  exportKernel<BatchNormTrain>(env, exports, "batchNormTrain");
  exportKernel<BatchNormTrainGrad>(env, exports, "batchNormTrainGrad");
  exportKernel<BatchNormInference>(env, exports, "batchNormInference");
}

}  // namespace synthpair

// Batch normalisation in training, forward and backward in one primitive each: the batch's mean and biased
// variance come out of the forward pass, and the backward pass returns the gradients of the input, scale and
// shift with the dependence of the moments on the input included.
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

}  // namespace

void registerNormalization(Napi::Env env, Napi::Object exports) {
  exportKernel<BatchNormTrain>(env, exports, "batchNormTrain");
  exportKernel<BatchNormTrainGrad>(env, exports, "batchNormTrainGrad");
}

}  // namespace synthpair

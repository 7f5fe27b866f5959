// Max and average pooling with their gradients. TF.js's MaxPoolGrad hands over the forward input rather than
// the argmax, so the backward pass reruns the forward in training mode to get oneDNN's workspace: one cheap
// pass over the input instead of a search per window.
#include "common.h"

namespace synthpair {
namespace {

using dnnl::algorithm;
using dnnl::prop_kind;

// sizes: N, H, W, C, OH, OW, KH, KW, strideH, strideW, padTop, padLeft, padBottom, padRight, isMax
struct Pooling {
  dnnl::memory::desc source, destination;
  dnnl::pooling_forward inference;
  dnnl::pooling_forward training;
  dnnl::pooling_backward backward;
  dnnl::memory workspace;
  dnnl::memory scratchDestination;
  bool isMax;
};

Pooling buildPooling(const std::vector<int64_t>& s) {
  dnnl::memory::desc source({s[0], s[3], s[1], s[2]}, dt::f32, tag::nhwc);
  dnnl::memory::desc destination({s[0], s[3], s[4], s[5]}, dt::f32, tag::nhwc);
  bool isMax = s[14] != 0;
  // TF averages over the window's cells inside the image only.
  auto kind = isMax ? algorithm::pooling_max : algorithm::pooling_avg_exclude_padding;
  dims strides{s[8], s[9]}, kernel{s[6], s[7]}, padBefore{s[10], s[11]}, padAfter{s[12], s[13]};
  auto describe = [&](prop_kind propagation) {
    return dnnl::pooling_forward::primitive_desc(
        dnnl::pooling_forward::desc(propagation, kind, source, destination, strides, kernel, padBefore, padAfter),
        cpuEngine());
  };
  auto trainingPd = describe(prop_kind::forward_training);
  dnnl::pooling_backward::primitive_desc backwardPd(
      dnnl::pooling_backward::desc(kind, source, destination, strides, kernel, padBefore, padAfter), cpuEngine(),
      trainingPd);
  return {source,
          destination,
          dnnl::pooling_forward(describe(prop_kind::forward_inference)),
          dnnl::pooling_forward(trainingPd),
          dnnl::pooling_backward(backwardPd),
          dnnl::memory(trainingPd.workspace_desc(), cpuEngine()),
          dnnl::memory(destination, cpuEngine()),
          isMax};
}

std::unordered_map<std::string, std::unique_ptr<Pooling>> poolings;

Pooling& entryFor(const Napi::Value& sizesValue) {
  auto sizes = integers(sizesValue);
  return cached(poolings, cacheKey("p", sizes), buildPooling, sizes);
}

// pool(x, y, sizes)
Napi::Value Pool(const Napi::CallbackInfo& info) {
  auto& entry = entryFor(info[2]);
  entry.inference.execute(cpuStream(), {{DNNL_ARG_SRC, dnnl::memory(entry.source, cpuEngine(), floats(info[0]))},
                                        {DNNL_ARG_DST, dnnl::memory(entry.destination, cpuEngine(), floats(info[1]))}});
  cpuStream().wait();
  return info.Env().Undefined();
}

// poolGrad(dy, x, dx, sizes): x is only read for max pooling.
Napi::Value PoolGrad(const Napi::CallbackInfo& info) {
  auto& entry = entryFor(info[3]);
  if (entry.isMax) {
    entry.training.execute(cpuStream(), {{DNNL_ARG_SRC, dnnl::memory(entry.source, cpuEngine(), floats(info[1]))},
                                         {DNNL_ARG_DST, entry.scratchDestination},
                                         {DNNL_ARG_WORKSPACE, entry.workspace}});
  }
  entry.backward.execute(cpuStream(),
                         {{DNNL_ARG_DIFF_DST, dnnl::memory(entry.destination, cpuEngine(), floats(info[0]))},
                          {DNNL_ARG_DIFF_SRC, dnnl::memory(entry.source, cpuEngine(), floats(info[2]))},
                          {DNNL_ARG_WORKSPACE, entry.workspace}});
  cpuStream().wait();
  return info.Env().Undefined();
}

}  // namespace

void registerPooling(Napi::Env env, Napi::Object exports) {
  exportKernel<Pool>(env, exports, "pool");
  exportKernel<PoolGrad>(env, exports, "poolGrad");
}

}  // namespace synthpair

// Convolution forward, backward-data (also TF.js's transposed convolution) and backward-weights, on NHWC
// activations and TF.js's [kh, kw, in, out] filters. The filter is relaid per call into whatever blocked
// layout oneDNN's fastest implementation wants: filters are small next to activations, and they change
// every step anyway.
#include "common.h"

namespace synthpair {
namespace {

using dnnl::algorithm;
using dnnl::prop_kind;

// sizes: N, H, W, IC, OC, KH, KW, OH, OW, strideH, strideW, dilationH, dilationW, padTop, padLeft, padBottom,
// padRight (TF.js's convInfo; dilation 1 means none).
struct Geometry {
  dnnl::memory::desc source, filter, destination, anyFilter;
  dims strides, dilations, padBefore, padAfter;

  explicit Geometry(const std::vector<int64_t>& s)
      : source({s[0], s[3], s[1], s[2]}, dt::f32, tag::nhwc),
        filter({s[4], s[3], s[5], s[6]}, dt::f32, tag::hwio),
        destination({s[0], s[4], s[7], s[8]}, dt::f32, tag::nhwc),
        anyFilter({s[4], s[3], s[5], s[6]}, dt::f32, tag::any),
        strides{s[9], s[10]},
        dilations{s[11] - 1, s[12] - 1},
        padBefore{s[13], s[14]},
        padAfter{s[15], s[16]} {}

  dnnl::convolution_forward::primitive_desc forward() const {
    dnnl::convolution_forward::desc desc(prop_kind::forward_training, algorithm::convolution_direct, source,
                                         anyFilter, destination, strides, dilations, padBefore, padAfter);
    return dnnl::convolution_forward::primitive_desc(desc, cpuEngine());
  }
};

struct Forward {
  Geometry geometry;
  dnnl::convolution_forward primitive;
  Relayout filterIn;
  dnnl::memory filter;
};

Forward buildForward(const std::vector<int64_t>& sizes) {
  Geometry geometry(sizes);
  auto pd = geometry.forward();
  Relayout filterIn(geometry.filter, pd.weights_desc());
  dnnl::memory filter(pd.weights_desc(), cpuEngine());
  return {geometry, dnnl::convolution_forward(pd), filterIn, filter};
}

struct BackwardData {
  Geometry geometry;
  dnnl::convolution_backward_data primitive;
  Relayout filterIn;
  dnnl::memory filter;
};

BackwardData buildBackwardData(const std::vector<int64_t>& sizes) {
  Geometry geometry(sizes);
  dnnl::convolution_backward_data::desc desc(algorithm::convolution_direct, geometry.source, geometry.anyFilter,
                                             geometry.destination, geometry.strides, geometry.dilations,
                                             geometry.padBefore, geometry.padAfter);
  dnnl::convolution_backward_data::primitive_desc pd(desc, cpuEngine(), geometry.forward());
  Relayout filterIn(geometry.filter, pd.weights_desc());
  dnnl::memory filter(pd.weights_desc(), cpuEngine());
  return {geometry, dnnl::convolution_backward_data(pd), filterIn, filter};
}

struct BackwardFilter {
  Geometry geometry;
  dnnl::convolution_backward_weights primitive;
  Relayout filterOut;
  dnnl::memory filter;
};

BackwardFilter buildBackwardFilter(const std::vector<int64_t>& sizes) {
  Geometry geometry(sizes);
  dnnl::convolution_backward_weights::desc desc(algorithm::convolution_direct, geometry.source,
                                                geometry.anyFilter, geometry.destination, geometry.strides,
                                                geometry.dilations, geometry.padBefore, geometry.padAfter);
  dnnl::convolution_backward_weights::primitive_desc pd(desc, cpuEngine(), geometry.forward());
  Relayout filterOut(pd.diff_weights_desc(), geometry.filter);
  dnnl::memory filter(pd.diff_weights_desc(), cpuEngine());
  return {geometry, dnnl::convolution_backward_weights(pd), filterOut, filter};
}

std::unordered_map<std::string, std::unique_ptr<Forward>> forwards;
std::unordered_map<std::string, std::unique_ptr<BackwardData>> backwardDatas;
std::unordered_map<std::string, std::unique_ptr<BackwardFilter>> backwardFilters;

// conv2d(x, filter, y, sizes)
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  auto sizes = integers(info[3]);
  auto& entry = cached(forwards, cacheKey("f", sizes), buildForward, sizes);
  const auto& g = entry.geometry;
  dnnl::memory source(g.source, cpuEngine(), floats(info[0]));
  dnnl::memory destination(g.destination, cpuEngine(), floats(info[2]));
  dnnl::memory filter = entry.filter;
  if (entry.filterIn.needed()) {
    entry.filterIn.run(g.filter, floats(info[1]), filter);
  } else {
    filter = dnnl::memory(g.filter, cpuEngine(), floats(info[1]));
  }
  entry.primitive.execute(cpuStream(), {{DNNL_ARG_SRC, source}, {DNNL_ARG_WEIGHTS, filter},
                                        {DNNL_ARG_DST, destination}});
  cpuStream().wait();
  return info.Env().Undefined();
}

// conv2dBackpropInput(dy, filter, dx, sizes): sizes describe the forward convolution whose input is dx.
Napi::Value Conv2dBackpropInput(const Napi::CallbackInfo& info) {
  auto sizes = integers(info[3]);
  auto& entry = cached(backwardDatas, cacheKey("d", sizes), buildBackwardData, sizes);
  const auto& g = entry.geometry;
  dnnl::memory gradientOut(g.destination, cpuEngine(), floats(info[0]));
  dnnl::memory gradientIn(g.source, cpuEngine(), floats(info[2]));
  dnnl::memory filter = entry.filter;
  if (entry.filterIn.needed()) {
    entry.filterIn.run(g.filter, floats(info[1]), filter);
  } else {
    filter = dnnl::memory(g.filter, cpuEngine(), floats(info[1]));
  }
  entry.primitive.execute(cpuStream(), {{DNNL_ARG_DIFF_DST, gradientOut}, {DNNL_ARG_WEIGHTS, filter},
                                        {DNNL_ARG_DIFF_SRC, gradientIn}});
  cpuStream().wait();
  return info.Env().Undefined();
}

// conv2dBackpropFilter(x, dy, dFilter, sizes)
Napi::Value Conv2dBackpropFilter(const Napi::CallbackInfo& info) {
  auto sizes = integers(info[3]);
  auto& entry = cached(backwardFilters, cacheKey("w", sizes), buildBackwardFilter, sizes);
  const auto& g = entry.geometry;
  dnnl::memory source(g.source, cpuEngine(), floats(info[0]));
  dnnl::memory gradientOut(g.destination, cpuEngine(), floats(info[1]));
  dnnl::memory userFilter(g.filter, cpuEngine(), floats(info[2]));
  dnnl::memory filter = entry.filterOut.needed() ? entry.filter : userFilter;
  entry.primitive.execute(cpuStream(), {{DNNL_ARG_SRC, source}, {DNNL_ARG_DIFF_DST, gradientOut},
                                        {DNNL_ARG_DIFF_WEIGHTS, filter}});
  if (entry.filterOut.needed()) {
    entry.filterOut.run(entry.filter.get_desc(), entry.filter.get_data_handle(), userFilter);
  }
  cpuStream().wait();
  return info.Env().Undefined();
}

}  // namespace

void registerConvolution(Napi::Env env, Napi::Object exports) {
  exportKernel<Conv2d>(env, exports, "conv2d");
  exportKernel<Conv2dBackpropInput>(env, exports, "conv2dBackpropInput");
  exportKernel<Conv2dBackpropFilter>(env, exports, "conv2dBackpropFilter");
}

}  // namespace synthpair

// Convolution forward, backward-data (also TF.js's transposed convolution) and backward-weights, on NHWC
// activations and TF.js's [kh, kw, in, out] filters. The filter is relaid per call into whatever blocked
// layout oneDNN's fastest implementation wants: filters are small next to activations, and they change
// every step anyway.
#include <algorithm>
#include <stdexcept>

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

// A convolution over a map so small that most of each window is padding (a ResNet's last stage at 64 px sees
// 2×2 maps through 3×3 windows): oneDNN's direct kernels ran it at a third of their speed on larger maps.
// Written as one dense matrix over whole maps instead, W[(y, x, in), (oy, ox, out)] holding the filter tap
// that joins input pixel (y, x) to output pixel (oy, ox), or zeros, it is a single GEMM per direction with
// fewer multiplications than the windows hold.
struct SmallMap {
  int64_t batch, inputPixels, outputPixels, inChannels, outChannels, taps;
  // For each (input pixel, output pixel) pair, the tap joining them, or -1.
  std::vector<int64_t> tapOf;
  std::vector<float> dense;

  // The dense matrix's rows (input pixels × channels) and columns (output pixels × channels).
  int64_t rows() const { return inputPixels * inChannels; }
  int64_t columns() const { return outputPixels * outChannels; }
};

bool smallMapSuits(const std::vector<int64_t>& s) {
  bool undilated = s[11] == 1 && s[12] == 1;
  // The dense matrix multiplies H·W inputs into every output where the windows multiply KH·KW.
  return undilated && 2 * s[1] * s[2] <= s[5] * s[6];
}

SmallMap buildSmallMap(const std::vector<int64_t>& s) {
  SmallMap map{s[0], s[1] * s[2], s[7] * s[8], s[3], s[4], s[5] * s[6], {}, {}};
  map.tapOf.assign(map.inputPixels * map.outputPixels, -1);
  for (int64_t y = 0; y < s[1]; ++y) {
    for (int64_t x = 0; x < s[2]; ++x) {
      for (int64_t oy = 0; oy < s[7]; ++oy) {
        for (int64_t ox = 0; ox < s[8]; ++ox) {
          int64_t ky = y - oy * s[9] + s[13];
          int64_t kx = x - ox * s[10] + s[14];
          if (ky >= 0 && ky < s[5] && kx >= 0 && kx < s[6]) {
            map.tapOf[(y * s[2] + x) * map.outputPixels + oy * s[8] + ox] = ky * s[6] + kx;
          }
        }
      }
    }
  }
  map.dense.assign(map.rows() * map.columns(), 0.f);
  return map;
}

// Row (pixel i, channel c), column (pixel o, channel d) of the dense matrix: it holds IC rows of OC per block.
void spreadFilter(SmallMap& map, const float* filter) {
  int64_t columns = map.columns();
  for (int64_t i = 0; i < map.inputPixels; ++i) {
    for (int64_t o = 0; o < map.outputPixels; ++o) {
      int64_t tap = map.tapOf[i * map.outputPixels + o];
      for (int64_t c = 0; c < map.inChannels; ++c) {
        float* row = map.dense.data() + (i * map.inChannels + c) * columns + o * map.outChannels;
        if (tap < 0) {
          std::fill(row, row + map.outChannels, 0.f);
        } else {
          std::copy_n(filter + (tap * map.inChannels + c) * map.outChannels, map.outChannels, row);
        }
      }
    }
  }
}

// The filter gradient: each tap's blocks of the dense gradient summed, and zero for taps no pair uses.
void gatherFilter(const SmallMap& map, float* filter) {
  int64_t columns = map.columns();
  int64_t block = map.inChannels * map.outChannels;
  std::fill(filter, filter + map.taps * block, 0.f);
  for (int64_t i = 0; i < map.inputPixels; ++i) {
    for (int64_t o = 0; o < map.outputPixels; ++o) {
      int64_t tap = map.tapOf[i * map.outputPixels + o];
      if (tap < 0) continue;
      for (int64_t c = 0; c < map.inChannels; ++c) {
        const float* row = map.dense.data() + (i * map.inChannels + c) * columns + o * map.outChannels;
        float* target = filter + (tap * map.inChannels + c) * map.outChannels;
        for (int64_t d = 0; d < map.outChannels; ++d) target[d] += row[d];
      }
    }
  }
}

void sgemm(char transposeA, char transposeB, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
           const float* b, int64_t ldb, float* c, int64_t ldc) {
  auto status = dnnl_sgemm(transposeA, transposeB, m, n, k, 1.f, a, lda, b, ldb, 0.f, c, ldc);
  if (status != dnnl_success) throw std::runtime_error("oneDNN sgemm failed with status " + std::to_string(status));
}

std::unordered_map<std::string, std::unique_ptr<SmallMap>> smallMaps;

SmallMap& smallMapFor(const std::vector<int64_t>& sizes) {
  return cached(smallMaps, cacheKey("s", sizes), buildSmallMap, sizes);
}

std::unordered_map<std::string, std::unique_ptr<Forward>> forwards;
std::unordered_map<std::string, std::unique_ptr<BackwardData>> backwardDatas;
std::unordered_map<std::string, std::unique_ptr<BackwardFilter>> backwardFilters;

// conv2d(x, filter, y, sizes)
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  auto sizes = integers(info[3]);
  if (smallMapSuits(sizes)) {
    auto& map = smallMapFor(sizes);
    spreadFilter(map, floats(info[1]));
    sgemm('N', 'N', map.batch, map.columns(), map.rows(), floats(info[0]), map.rows(), map.dense.data(),
          map.columns(), floats(info[2]), map.columns());
    return info.Env().Undefined();
  }
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
  if (smallMapSuits(sizes)) {
    auto& map = smallMapFor(sizes);
    spreadFilter(map, floats(info[1]));
    sgemm('N', 'T', map.batch, map.rows(), map.columns(), floats(info[0]), map.columns(), map.dense.data(),
          map.columns(), floats(info[2]), map.rows());
    return info.Env().Undefined();
  }
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
  if (smallMapSuits(sizes)) {
    auto& map = smallMapFor(sizes);
    sgemm('T', 'N', map.rows(), map.columns(), map.batch, floats(info[0]), map.rows(), floats(info[1]),
          map.columns(), map.dense.data(), map.columns());
    gatherFilter(map, floats(info[2]));
    return info.Env().Undefined();
  }
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

// The memory-bound kernels that take over a training step's profile once convolutions are fast: binary
// arithmetic with broadcasting, unary activations and reductions. oneDNN JIT-compiles them for the CPU it
// runs on and spreads them over the OpenMP threads, where TF.js's cpu kernels run one scalar loop.
#include <omp.h>

#include <cmath>

#include "common.h"

namespace synthpair {
namespace {

using dnnl::algorithm;

dnnl::memory::desc plain(const dims& shape) {
  dims strides(shape.size(), 1);
  for (int axis = static_cast<int>(shape.size()) - 2; axis >= 0; --axis) {
    strides[axis] = strides[axis + 1] * shape[axis + 1];
  }
  return dnnl::memory::desc(shape, dt::f32, strides);
}

// Kinds, in the order the JavaScript side numbers them.
// oneDNN's max and min return the other operand where one is NaN, and its relu and exp turn NaN into 0 and
// infinity; TF.js keeps NaN, which is how a diverging run shows, so those stay out or run in loops below.
const algorithm binaryKinds[] = {algorithm::binary_add, algorithm::binary_sub, algorithm::binary_mul,
                                 algorithm::binary_div};
const algorithm unaryKinds[] = {algorithm::eltwise_log,  algorithm::eltwise_sqrt, algorithm::eltwise_square,
                                algorithm::eltwise_abs,  algorithm::eltwise_tanh, algorithm::eltwise_logistic};
const algorithm reductionKinds[] = {algorithm::reduction_sum, algorithm::reduction_mean};

template <typename Kinds>
algorithm kindAt(const Kinds& kinds, const Napi::Value& value) {
  auto index = value.As<Napi::Number>().Int32Value();
  if (index < 0 || index >= static_cast<int>(std::size(kinds))) {
    throw Napi::RangeError::New(value.Env(), "unknown kernel kind");
  }
  return kinds[index];
}

struct Binary {
  dnnl::memory::desc first, second;
  dnnl::binary primitive;
};

std::unordered_map<std::string, std::unique_ptr<Binary>> binaries;

// What may follow a binary operation in the same pass, numbered as on the JavaScript side: a negation or a
// reciprocal lets b − a and b / a run with the broadcast operand second (oneDNN broadcasts only that one),
// and a square makes a squared difference.
dnnl::post_ops followingOperation(int kind) {
  dnnl::post_ops operations;
  switch (kind) {
    case 1:
      operations.append_eltwise(1.f, algorithm::eltwise_linear, -1.f, 0.f);
      break;
    case 2:
      operations.append_eltwise(1.f, algorithm::eltwise_pow, 1.f, -1.f);
      break;
    case 3:
      operations.append_eltwise(1.f, algorithm::eltwise_square, 0.f, 0.f);
      break;
    default:
      break;
  }
  return operations;
}

// binary(kind, a, b, out, shapeOfA, shapeOfB, following): out has a's shape; b's sizes are a's or 1
// (broadcast).
Napi::Value RunBinary(const Napi::CallbackInfo& info) {
  auto kind = kindAt(binaryKinds, info[0]);
  auto firstShape = integers(info[4]);
  auto secondShape = integers(info[5]);
  int following = info[6].As<Napi::Number>().Int32Value();
  auto key = cacheKey("b", firstShape) + cacheKey("|", secondShape) + "|" + std::to_string(static_cast<int>(kind)) +
             "|" + std::to_string(following);
  auto found = binaries.find(key);
  if (found == binaries.end()) {
    auto first = plain(firstShape);
    auto second = plain(secondShape);
    dnnl::primitive_attr attributes;
    attributes.set_post_ops(followingOperation(following));
    dnnl::binary::primitive_desc pd(dnnl::binary::desc(kind, first, second, first), attributes, cpuEngine());
    found = binaries.emplace(key, std::make_unique<Binary>(Binary{first, second, dnnl::binary(pd)})).first;
  }
  auto& entry = *found->second;
  entry.primitive.execute(cpuStream(), {{DNNL_ARG_SRC_0, dnnl::memory(entry.first, cpuEngine(), floats(info[1]))},
                                        {DNNL_ARG_SRC_1, dnnl::memory(entry.second, cpuEngine(), floats(info[2]))},
                                        {DNNL_ARG_DST, dnnl::memory(entry.first, cpuEngine(), floats(info[3]))}});
  cpuStream().wait();
  return info.Env().Undefined();
}

struct Unary {
  dnnl::memory::desc data;
  dnnl::eltwise_forward primitive;
};

std::unordered_map<std::string, std::unique_ptr<Unary>> unaries;

// unary(kind, x, y, size)
Napi::Value RunUnary(const Napi::CallbackInfo& info) {
  auto kind = kindAt(unaryKinds, info[0]);
  int64_t size = info[3].As<Napi::Number>().Int64Value();
  auto key = "u" + std::to_string(static_cast<int>(kind)) + "," + std::to_string(size);
  auto found = unaries.find(key);
  if (found == unaries.end()) {
    auto data = plain({size});
    dnnl::eltwise_forward::primitive_desc pd(
        dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, kind, data, 0.f, 0.f), cpuEngine());
    found = unaries.emplace(key, std::make_unique<Unary>(Unary{data, dnnl::eltwise_forward(pd)})).first;
  }
  auto& entry = *found->second;
  entry.primitive.execute(cpuStream(), {{DNNL_ARG_SRC, dnnl::memory(entry.data, cpuEngine(), floats(info[1]))},
                                        {DNNL_ARG_DST, dnnl::memory(entry.data, cpuEngine(), floats(info[2]))}});
  cpuStream().wait();
  return info.Env().Undefined();
}

// pointwise(kind, x, y, alpha) with kind 0 step (1 where x > 0, alpha elsewhere: the mask of ReLU's
// gradient), 1 relu, 2 exp; each keeps NaN.
Napi::Value RunPointwise(const Napi::CallbackInfo& info) {
  int kind = info[0].As<Napi::Number>().Int32Value();
  auto input = info[1].As<Napi::Float32Array>();
  const float* x = floats(input);
  float* y = floats(info[2]);
  float alpha = info[3].As<Napi::Number>().FloatValue();
  int64_t size = static_cast<int64_t>(input.ElementLength());
  switch (kind) {
    case 0:
#pragma omp parallel for simd schedule(static) if (size >= parallelThreshold)
      for (int64_t i = 0; i < size; ++i) y[i] = std::isnan(x[i]) ? x[i] : (x[i] > 0.f ? 1.f : alpha);
      break;
    case 1:
#pragma omp parallel for simd schedule(static) if (size >= parallelThreshold)
      for (int64_t i = 0; i < size; ++i) y[i] = x[i] <= 0.f ? 0.f : x[i];
      break;
    case 2:
#pragma omp parallel for schedule(static) if (size >= parallelThreshold)
      for (int64_t i = 0; i < size; ++i) y[i] = std::exp(x[i]);
      break;
    default:
      throw Napi::RangeError::New(info.Env(), "unknown kernel kind");
  }
  return info.Env().Undefined();
}

// reluGrad(dy, y, dx) with y = relu(x): dy where y > 0 (where x > 0), else dy × 0, and NaN where y (x) is NaN:
// what TF.js's gradient of Relu, dy × Step(x), computes in two kernels and an intermediate mask.
Napi::Value RunReluGrad(const Napi::CallbackInfo& info) {
  auto gradient = info[0].As<Napi::Float32Array>();
  const float* dy = floats(gradient);
  const float* y = floats(info[1]);
  float* dx = floats(info[2]);
  int64_t size = static_cast<int64_t>(gradient.ElementLength());
  if (info[1].As<Napi::Float32Array>().ElementLength() != gradient.ElementLength() ||
      info[2].As<Napi::Float32Array>().ElementLength() != gradient.ElementLength()) {
    throw Napi::RangeError::New(info.Env(), "reluGrad: sizes do not match");
  }
#pragma omp parallel for simd schedule(static) if (size >= parallelThreshold)
  for (int64_t i = 0; i < size; ++i) {
    // x != x is NaN's test written so that the loop vectorises.
    float mask = y[i] != y[i] ? y[i] : (y[i] > 0.f ? 1.f : 0.f);
    dx[i] = dy[i] * mask;
  }
  return info.Env().Undefined();
}

struct Reduction {
  dnnl::memory::desc source, destination;
  dnnl::reduction primitive;
};

std::unordered_map<std::string, std::unique_ptr<Reduction>> reductions;

// A reduction over one block of adjacent axes, x viewed as [outer, reduced, inner]: a loss's mean (all axes), a
// bias's gradient (all but the channels) and global average pooling (the pixels). oneDNN 2.6 runs these in a
// reference loop on one thread, which took a decoder step 15 ms for one bias gradient. Sums in double, as TF.js's
// loops sum in JavaScript numbers.
struct Block {
  int64_t outer = 1, reduced = 1, inner = 1;
};

// Whether the axes reduced (size 1 in y, more in x) are adjacent, and the block they make.
bool adjacentBlock(const std::vector<int64_t>& source, const std::vector<int64_t>& destination, Block& block) {
  int first = -1, last = -1;
  for (int axis = 0; axis < static_cast<int>(source.size()); ++axis) {
    if (destination[axis] != source[axis]) {
      if (first < 0) first = axis;
      last = axis;
    }
  }
  if (first < 0) return false;
  for (int axis = 0; axis < static_cast<int>(source.size()); ++axis) {
    if (axis < first) {
      block.outer *= source[axis];
    } else if (axis > last) {
      block.inner *= source[axis];
    } else if (destination[axis] != 1) {
      return false;
    } else {
      block.reduced *= source[axis];
    }
  }
  return true;
}

void reduceBlock(algorithm kind, const float* x, float* y, const Block& block) {
  double scale = kind == algorithm::reduction_mean ? 1.0 / static_cast<double>(block.reduced) : 1.0;
  int64_t size = block.outer * block.reduced * block.inner;
  if (block.outer >= omp_get_max_threads() || size < parallelThreshold) {
#pragma omp parallel for schedule(static) if (size >= parallelThreshold)
    for (int64_t o = 0; o < block.outer; ++o) {
      std::vector<double> sums(block.inner, 0.0);
      const float* rows = x + o * block.reduced * block.inner;
      for (int64_t r = 0; r < block.reduced; ++r) {
        for (int64_t i = 0; i < block.inner; ++i) sums[i] += rows[r * block.inner + i];
      }
      for (int64_t i = 0; i < block.inner; ++i) y[o * block.inner + i] = static_cast<float>(sums[i] * scale);
    }
    return;
  }
  // Fewer outer rows than threads: the threads split the reduced axis and add up their partial sums.
  for (int64_t o = 0; o < block.outer; ++o) {
    std::vector<double> sums(block.inner, 0.0);
    const float* rows = x + o * block.reduced * block.inner;
#pragma omp parallel
    {
      std::vector<double> partial(block.inner, 0.0);
#pragma omp for schedule(static)
      for (int64_t r = 0; r < block.reduced; ++r) {
        for (int64_t i = 0; i < block.inner; ++i) partial[i] += rows[r * block.inner + i];
      }
#pragma omp critical
      for (int64_t i = 0; i < block.inner; ++i) sums[i] += partial[i];
    }
    for (int64_t i = 0; i < block.inner; ++i) y[o * block.inner + i] = static_cast<float>(sums[i] * scale);
  }
}

// reduce(kind, x, y, shapeOfX, shapeOfY): y's sizes are x's, or 1 on the reduced axes.
Napi::Value RunReduce(const Napi::CallbackInfo& info) {
  auto kind = kindAt(reductionKinds, info[0]);
  auto sourceShape = integers(info[3]);
  auto destinationShape = integers(info[4]);
  Block block;
  if (destinationShape.size() == sourceShape.size() && adjacentBlock(sourceShape, destinationShape, block)) {
    reduceBlock(kind, floats(info[1]), floats(info[2]), block);
    return info.Env().Undefined();
  }
  auto key = cacheKey("r", sourceShape) + cacheKey("|", destinationShape) + "|" +
             std::to_string(static_cast<int>(kind));
  auto found = reductions.find(key);
  if (found == reductions.end()) {
    auto source = plain(sourceShape);
    auto destination = plain(destinationShape);
    dnnl::reduction::primitive_desc pd(dnnl::reduction::desc(kind, source, destination, 0.f, 0.f), cpuEngine());
    found = reductions.emplace(key, std::make_unique<Reduction>(Reduction{source, destination, dnnl::reduction(pd)}))
                .first;
  }
  auto& entry = *found->second;
  entry.primitive.execute(cpuStream(),
                          {{DNNL_ARG_SRC, dnnl::memory(entry.source, cpuEngine(), floats(info[1]))},
                           {DNNL_ARG_DST, dnnl::memory(entry.destination, cpuEngine(), floats(info[2]))}});
  cpuStream().wait();
  return info.Env().Undefined();
}

}  // namespace

void registerElementwise(Napi::Env env, Napi::Object exports) {
  exportKernel<RunBinary>(env, exports, "binary");
  exportKernel<RunUnary>(env, exports, "unary");
  exportKernel<RunPointwise>(env, exports, "pointwise");
  exportKernel<RunReduce>(env, exports, "reduce");
  exportKernel<RunReluGrad>(env, exports, "reluGrad");
}

}  // namespace synthpair

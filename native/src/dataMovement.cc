// Slices, splits and concatenations as copies of boxes between strided arrays. In JavaScript each contiguous
// run cost a subarray and a set: the decoder's nearest-neighbour upsampling concatenates along the channels,
// runs of 16 values, and its gradient splits them again, which took a tenth of the decoder's step.
#include <cstring>
#include <stdexcept>

#include "common.h"

namespace synthpair {
namespace {

// The furthest element a box reaches from its start, plus one; the box must lie inside its array.
int64_t reach(const std::vector<int64_t>& extents, const std::vector<int64_t>& strides, int64_t start) {
  int64_t last = start;
  for (size_t axis = 0; axis < extents.size(); ++axis) last += (extents[axis] - 1) * strides[axis];
  return last + 1;
}

// copyBox(source, sourceStart, sourceStrides, destination, destinationStart, destinationStrides, extents): the
// last axis is contiguous in both arrays (its stride is 1 and not passed), so each of its runs is one memcpy.
Napi::Value CopyBox(const Napi::CallbackInfo& info) {
  auto sourceArray = info[0].As<Napi::Float32Array>();
  auto destinationArray = info[3].As<Napi::Float32Array>();
  const float* source = floats(sourceArray);
  float* destination = floats(destinationArray);
  int64_t sourceStart = info[1].As<Napi::Number>().Int64Value();
  int64_t destinationStart = info[4].As<Napi::Number>().Int64Value();
  auto sourceStrides = integers(info[2]);
  auto destinationStrides = integers(info[5]);
  auto extents = integers(info[6]);
  if (extents.empty() || sourceStrides.size() + 1 != extents.size() ||
      destinationStrides.size() + 1 != extents.size()) {
    throw Napi::RangeError::New(info.Env(), "copyBox: strides must name every axis but the last");
  }
  for (auto extent : extents) {
    if (extent <= 0) throw Napi::RangeError::New(info.Env(), "copyBox: empty box");
  }
  int64_t run = extents.back();
  std::vector<int64_t> outerExtents(extents.begin(), extents.end() - 1);
  auto withRun = [&](std::vector<int64_t> strides) {
    strides.push_back(1);
    return strides;
  };
  if (sourceStart < 0 || destinationStart < 0 ||
      reach(extents, withRun(sourceStrides), sourceStart) > static_cast<int64_t>(sourceArray.ElementLength()) ||
      reach(extents, withRun(destinationStrides), destinationStart) >
          static_cast<int64_t>(destinationArray.ElementLength())) {
    throw Napi::RangeError::New(info.Env(), "copyBox: the box reaches outside an array");
  }
  int64_t runs = 1;
  for (auto extent : outerExtents) runs *= extent;
  int rank = static_cast<int>(outerExtents.size());
#pragma omp parallel for schedule(static) if (runs * run >= parallelThreshold)
  for (int64_t index = 0; index < runs; ++index) {
    int64_t from = sourceStart;
    int64_t to = destinationStart;
    int64_t rest = index;
    for (int axis = rank - 1; axis >= 0; --axis) {
      int64_t position = rest % outerExtents[axis];
      rest /= outerExtents[axis];
      from += position * sourceStrides[axis];
      to += position * destinationStrides[axis];
    }
    std::memcpy(destination + to, source + from, static_cast<size_t>(run) * sizeof(float));
  }
  return info.Env().Undefined();
}

// The sizes N, H, W, C of the smaller map, checked against both arrays.
std::vector<int64_t> upsampleSizes(const Napi::CallbackInfo& info, const Napi::Value& small, const Napi::Value& large) {
  auto sizes = integers(info[2]);
  if (sizes.size() != 4) throw Napi::RangeError::New(info.Env(), "upsample: sizes are N, H, W, C");
  int64_t pixels = sizes[0] * sizes[1] * sizes[2] * sizes[3];
  if (static_cast<int64_t>(small.As<Napi::Float32Array>().ElementLength()) != pixels ||
      static_cast<int64_t>(large.As<Napi::Float32Array>().ElementLength()) != 4 * pixels) {
    throw Napi::RangeError::New(info.Env(), "upsample: the arrays do not hold N×H×W×C and four times as many");
  }
  return sizes;
}

// upsampleNearest2x(x, y, sizes): y [N, 2H, 2W, C] repeats each pixel of x [N, H, W, C] over a 2×2 block, in one
// pass where the decoder's composition of two concatenations wrote the image twice.
Napi::Value UpsampleNearest2x(const Napi::CallbackInfo& info) {
  auto sizes = upsampleSizes(info, info[0], info[1]);
  const float* x = floats(info[0]);
  float* y = floats(info[1]);
  int64_t height = sizes[1], width = sizes[2], channels = sizes[3];
  int64_t rows = sizes[0] * height;
  size_t pixelBytes = static_cast<size_t>(channels) * sizeof(float);
#pragma omp parallel for schedule(static) if (4 * rows * width * channels >= parallelThreshold)
  for (int64_t row = 0; row < rows; ++row) {
    const float* in = x + row * width * channels;
    float* top = y + row * 4 * width * channels;
    float* bottom = top + 2 * width * channels;
    for (int64_t column = 0; column < width; ++column) {
      const float* pixel = in + column * channels;
      std::memcpy(top + 2 * column * channels, pixel, pixelBytes);
      std::memcpy(top + (2 * column + 1) * channels, pixel, pixelBytes);
    }
    std::memcpy(bottom, top, 2 * width * pixelBytes);
  }
  return info.Env().Undefined();
}

// upsampleNearest2xGrad(dy, dx, sizes): each pixel's gradient is the sum over its 2×2 block, added in the order
// the composition's split gradients add them, (top-left + bottom-left) + (top-right + bottom-right), so both
// give the same float32 sums.
Napi::Value UpsampleNearest2xGrad(const Napi::CallbackInfo& info) {
  auto sizes = upsampleSizes(info, info[1], info[0]);
  const float* dy = floats(info[0]);
  float* dx = floats(info[1]);
  int64_t height = sizes[1], width = sizes[2], channels = sizes[3];
  int64_t rows = sizes[0] * height;
#pragma omp parallel for schedule(static) if (4 * rows * width * channels >= parallelThreshold)
  for (int64_t row = 0; row < rows; ++row) {
    const float* top = dy + row * 4 * width * channels;
    const float* bottom = top + 2 * width * channels;
    float* out = dx + row * width * channels;
    for (int64_t column = 0; column < width; ++column) {
      for (int64_t c = 0; c < channels; ++c) {
        int64_t left = 2 * column * channels + c;
        int64_t right = left + channels;
        out[column * channels + c] = (top[left] + bottom[left]) + (top[right] + bottom[right]);
      }
    }
  }
  return info.Env().Undefined();
}

}  // namespace

void registerDataMovement(Napi::Env env, Napi::Object exports) {
  exportKernel<CopyBox>(env, exports, "copyBox");
  exportKernel<UpsampleNearest2x>(env, exports, "upsampleNearest2x");
  exportKernel<UpsampleNearest2xGrad>(env, exports, "upsampleNearest2xGrad");
}

}  // namespace synthpair

// Batch normalisation in training, forward and backward, over x as rows of C channels (NHWC with the pixels
// of every image as rows): the batch's mean and biased variance come out of the forward pass, and the backward
// pass returns the gradients of the input, scale and shift with the dependence of the moments on the input
// included. oneDNN 2.6's primitives for this ran slower on two threads than on one where other work shared the
// cores (8 MB forward: 3.4 against 1.6 ms); these loops split the rows among the threads, sum each channel in
// double, and stay on one thread for small tensors.
#include <omp.h>

#include <cmath>
#include <vector>

#include "common.h"

namespace synthpair {
namespace {

// A batch norm of fewer values than this runs on one thread: waking the other for a few hundred microseconds of
// work cost more than it saved, four times more where other processes shared the cores.
constexpr int64_t normalizationParallelThreshold = 1 << 18;

struct Layout {
  int64_t rows, channels;
  double epsilon;
};

// sizes: rows, 1, 1, C, then epsilon × 1e9 as an integer (the JavaScript side's layout).
Layout layoutOf(const Napi::Value& sizesValue) {
  auto sizes = integers(sizesValue);
  if (sizes.size() != 5 || sizes[0] <= 0 || sizes[3] <= 0) {
    throw Napi::RangeError::New(sizesValue.Env(), "batch norm: sizes are rows, 1, 1, channels, epsilon × 1e9");
  }
  return {sizes[0] * sizes[1] * sizes[2], sizes[3], static_cast<double>(sizes[4]) * 1e-9};
}

void checkLength(const Napi::Value& array, int64_t length, const char* what) {
  if (static_cast<int64_t>(array.As<Napi::Float32Array>().ElementLength()) != length) {
    throw Napi::RangeError::New(array.Env(), std::string("batch norm: wrong length of ") + what);
  }
}

// Per channel, Σ first(row values) and Σ second(row values) over all rows, each thread summing its own rows.
template <typename First, typename Second>
void channelSums(const Layout& layout, std::vector<double>& firstSums, std::vector<double>& secondSums, First first,
                 Second second) {
  int64_t channels = layout.channels;
  firstSums.assign(channels, 0.0);
  secondSums.assign(channels, 0.0);
#pragma omp parallel if (layout.rows * channels >= normalizationParallelThreshold)
  {
    std::vector<double> firstPartial(channels, 0.0), secondPartial(channels, 0.0);
#pragma omp for schedule(static)
    for (int64_t row = 0; row < layout.rows; ++row) {
      for (int64_t c = 0; c < channels; ++c) {
        int64_t index = row * channels + c;
        firstPartial[c] += first(index, c);
        secondPartial[c] += second(index, c);
      }
    }
#pragma omp critical
    for (int64_t c = 0; c < channels; ++c) {
      firstSums[c] += firstPartial[c];
      secondSums[c] += secondPartial[c];
    }
  }
}

// Calls write(index, channel) for every value, the rows split among the threads when there are enough.
template <typename Write>
void forEachValue(const Layout& layout, Write write) {
  int64_t channels = layout.channels;
#pragma omp parallel for schedule(static) if (layout.rows * channels >= normalizationParallelThreshold)
  for (int64_t row = 0; row < layout.rows; ++row) {
    for (int64_t c = 0; c < channels; ++c) write(row * channels + c, c);
  }
}

// batchNormTrain(x, scale, shift, y, mean, variance, sizes)
Napi::Value BatchNormTrain(const Napi::CallbackInfo& info) {
  auto layout = layoutOf(info[6]);
  int64_t size = layout.rows * layout.channels;
  for (int index : {0, 3}) checkLength(info[index], size, "x or y");
  for (int index : {1, 2, 4, 5}) checkLength(info[index], layout.channels, "a per-channel array");
  const float* x = floats(info[0]);
  const float* scale = floats(info[1]);
  const float* shift = floats(info[2]);
  float* y = floats(info[3]);
  float* mean = floats(info[4]);
  float* variance = floats(info[5]);
  std::vector<double> sums, squares;
  channelSums(
      layout, sums, squares, [&](int64_t i, int64_t) { return static_cast<double>(x[i]); },
      [&](int64_t i, int64_t) { return static_cast<double>(x[i]) * x[i]; });
  int64_t channels = layout.channels;
  // Centred before scaling: x·factor + (shift − μ·factor) would cancel where the mean is large beside the spread.
  std::vector<float> factor(channels);
  for (int64_t c = 0; c < channels; ++c) {
    double channelMean = sums[c] / static_cast<double>(layout.rows);
    double channelVariance = std::max(0.0, squares[c] / static_cast<double>(layout.rows) - channelMean * channelMean);
    mean[c] = static_cast<float>(channelMean);
    variance[c] = static_cast<float>(channelVariance);
    double channelFactor = scale[c] / std::sqrt(channelVariance + layout.epsilon);
    factor[c] = static_cast<float>(channelFactor);
  }
  forEachValue(layout, [&](int64_t i, int64_t c) { y[i] = (x[i] - mean[c]) * factor[c] + shift[c]; });
  return info.Env().Undefined();
}

// batchNormTrainGrad(dy, x, scale, mean, variance, dx, dScale, dShift, sizes)
Napi::Value BatchNormTrainGrad(const Napi::CallbackInfo& info) {
  auto layout = layoutOf(info[8]);
  int64_t size = layout.rows * layout.channels;
  for (int index : {0, 1, 5}) checkLength(info[index], size, "dy, x or dx");
  for (int index : {2, 3, 4, 6, 7}) checkLength(info[index], layout.channels, "a per-channel array");
  const float* dy = floats(info[0]);
  const float* x = floats(info[1]);
  const float* scale = floats(info[2]);
  const float* mean = floats(info[3]);
  const float* variance = floats(info[4]);
  float* dx = floats(info[5]);
  float* dScale = floats(info[6]);
  float* dShift = floats(info[7]);
  std::vector<double> dySums, dyCentredSums;
  channelSums(
      layout, dySums, dyCentredSums, [&](int64_t i, int64_t) { return static_cast<double>(dy[i]); },
      [&](int64_t i, int64_t c) { return static_cast<double>(dy[i]) * (static_cast<double>(x[i]) - mean[c]); });
  int64_t channels = layout.channels;
  double rows = static_cast<double>(layout.rows);
  // dx = scale·σ⁻¹·(dy − Σdy/N − (x − μ)·σ⁻²·Σdy(x − μ)/N), as coefficients of dy, x − μ and 1 per channel.
  std::vector<float> dyFactor(channels), centredFactor(channels), constant(channels);
  for (int64_t c = 0; c < channels; ++c) {
    double inverseDeviation = 1.0 / std::sqrt(static_cast<double>(variance[c]) + layout.epsilon);
    dShift[c] = static_cast<float>(dySums[c]);
    dScale[c] = static_cast<float>(dyCentredSums[c] * inverseDeviation);
    double gain = scale[c] * inverseDeviation;
    double slope = gain * inverseDeviation * inverseDeviation * dyCentredSums[c] / rows;
    dyFactor[c] = static_cast<float>(gain);
    centredFactor[c] = static_cast<float>(-slope);
    constant[c] = static_cast<float>(-gain * dySums[c] / rows);
  }
  forEachValue(layout, [&](int64_t i, int64_t c) {
    dx[i] = dy[i] * dyFactor[c] + (x[i] - mean[c]) * centredFactor[c] + constant[c];
  });
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

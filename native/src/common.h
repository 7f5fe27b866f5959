// Shared by every kernel: one oneDNN engine and stream for the process, the zero-copy view of a JS typed
// array, and a cache of ready primitives keyed by everything that shapes them.
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"

namespace synthpair {

using dims = dnnl::memory::dims;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

dnnl::engine& cpuEngine();
dnnl::stream& cpuStream();

// TF.js keeps a tensor's values in a Float32Array the kernels read and write in place, so no tensor is
// copied on its way into or out of oneDNN.
inline float* floats(const Napi::Value& value) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(value.Env(), "expected a Float32Array");
  }
  return value.As<Napi::Float32Array>().Data();
}

inline std::vector<int64_t> integers(const Napi::Value& value) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw Napi::TypeError::New(value.Env(), "expected an Int32Array of sizes");
  }
  auto array = value.As<Napi::Int32Array>();
  return std::vector<int64_t>(array.Data(), array.Data() + array.ElementLength());
}

// Loops this short finish on one thread before an OpenMP team would have woken.
constexpr int64_t parallelThreshold = 1 << 15;

inline std::string cacheKey(const char* kernel, const std::vector<int64_t>& sizes) {
  std::string key(kernel);
  for (auto size : sizes) {
    key += ',';
    key += std::to_string(size);
  }
  return key;
}

// Creating a primitive descriptor walks oneDNN's implementation list and JIT-compiles code; a training step
// runs the same few shapes thousands of times, so each is built once.
template <typename Entry>
Entry& cached(std::unordered_map<std::string, std::unique_ptr<Entry>>& cache, const std::string& key,
              Entry (*build)(const std::vector<int64_t>&), const std::vector<int64_t>& sizes) {
  auto found = cache.find(key);
  if (found == cache.end()) {
    found = cache.emplace(key, std::make_unique<Entry>(build(sizes))).first;
  }
  return *found->second;
}

// Moves data between the layout TF.js uses and the one a primitive prefers, skipping the work when they agree.
class Relayout {
 public:
  Relayout() = default;
  Relayout(const dnnl::memory::desc& from, const dnnl::memory::desc& to);
  bool needed() const { return needed_; }
  const dnnl::memory::desc& target() const { return to_; }
  void run(const dnnl::memory::desc& fromDesc, void* from, dnnl::memory& to);

 private:
  bool needed_ = false;
  dnnl::memory::desc to_;
  dnnl::reorder reorder_;
};

// oneDNN reports failures as dnnl::error, which node-addon-api would let terminate the process; every
// exported function turns them into JavaScript exceptions instead.
template <Napi::Value (*Kernel)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  try {
    return Kernel(info);
  } catch (const dnnl::error& error) {
    throw Napi::Error::New(info.Env(), std::string("oneDNN: ") + error.what() + " (status " +
                                           std::to_string(static_cast<int>(error.status)) + ")");
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& error) {
    throw Napi::Error::New(info.Env(), error.what());
  }
}

template <Napi::Value (*Kernel)(const Napi::CallbackInfo&)>
void exportKernel(Napi::Env env, Napi::Object exports, const char* name) {
  exports.Set(name, Napi::Function::New(env, guarded<Kernel>, name));
}

void registerConvolution(Napi::Env env, Napi::Object exports);
void registerMatmul(Napi::Env env, Napi::Object exports);
void registerNormalization(Napi::Env env, Napi::Object exports);
void registerPooling(Napi::Env env, Napi::Object exports);
void registerElementwise(Napi::Env env, Napi::Object exports);
void registerOptimizer(Napi::Env env, Napi::Object exports);
void registerDataMovement(Napi::Env env, Napi::Object exports);

}  // namespace synthpair

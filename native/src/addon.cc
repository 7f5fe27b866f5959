#include <dlfcn.h>
#include <omp.h>

#include "common.h"

namespace synthpair {

dnnl::engine& cpuEngine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& cpuStream() {
  static dnnl::stream stream(cpuEngine());
  return stream;
}

Relayout::Relayout(const dnnl::memory::desc& from, const dnnl::memory::desc& to)
    : needed_(from != to), to_(to) {
  if (needed_) {
    reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(cpuEngine(), from, cpuEngine(), to));
  }
}

void Relayout::run(const dnnl::memory::desc& fromDesc, void* from, dnnl::memory& to) {
  dnnl::memory source(fromDesc, cpuEngine(), from);
  reorder_.execute(cpuStream(), source, to);
}

namespace {

Napi::Value Describe(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  const dnnl_version_t* version = dnnl_version();
  auto result = Napi::Object::New(env);
  result.Set("version", std::to_string(version->major) + "." + std::to_string(version->minor) + "." +
                            std::to_string(version->patch));
  result.Set("cpuRuntime", version->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other");
  result.Set("threads", omp_get_max_threads());
  result.Set("isa", static_cast<int>(dnnl::get_effective_cpu_isa()));
  // Which libdnnl the loader chose: the copy a packaged extension carries beside the addon, or the system's.
  Dl_info library{};
  if (dladdr(reinterpret_cast<void*>(&dnnl_version), &library) != 0 && library.dli_fname != nullptr) {
    result.Set("libraryFile", library.dli_fname);
  }
  return result;
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exportKernel<Describe>(env, exports, "describe");
  registerConvolution(env, exports);
  registerMatmul(env, exports);
  registerNormalization(env, exports);
  registerPooling(env, exports);
  registerElementwise(env, exports);
  registerOptimizer(env, exports);
  registerDataMovement(env, exports);
  return exports;
}

}  // namespace synthpair

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return synthpair::Init(env, exports); }

NODE_API_MODULE(synthpair_onednn, InitAddon)

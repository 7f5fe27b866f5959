// Batched matrix multiply with TF.js's transpose flags expressed as strides, so a transposed operand is read
// in place, and a batch of one broadcast against the other operand's batch.
#include "common.h"

namespace synthpair {
namespace {

// sizes: batchA, batchB, M, K, N, transposeA, transposeB
struct Matmul {
  dnnl::memory::desc a, b, c;
  dnnl::matmul primitive;
};

dnnl::memory::desc operand(int64_t batch, int64_t rows, int64_t columns, bool transposed) {
  // Logical [batch, rows, columns]; a transposed operand is stored [batch, columns, rows].
  return dnnl::memory::desc({batch, rows, columns}, dt::f32,
                            transposed ? dims{rows * columns, 1, rows} : dims{rows * columns, columns, 1});
}

Matmul buildMatmul(const std::vector<int64_t>& s) {
  auto a = operand(s[0], s[2], s[3], s[5] != 0);
  auto b = operand(s[1], s[3], s[4], s[6] != 0);
  dnnl::memory::desc c({std::max(s[0], s[1]), s[2], s[4]}, dt::f32, tag::abc);
  dnnl::matmul::desc desc(a, b, c);
  return {a, b, c, dnnl::matmul(dnnl::matmul::primitive_desc(desc, cpuEngine()))};
}

std::unordered_map<std::string, std::unique_ptr<Matmul>> matmuls;

// matmul(a, b, c, sizes)
Napi::Value RunMatmul(const Napi::CallbackInfo& info) {
  auto sizes = integers(info[3]);
  auto& entry = cached(matmuls, cacheKey("m", sizes), buildMatmul, sizes);
  dnnl::memory a(entry.a, cpuEngine(), floats(info[0]));
  dnnl::memory b(entry.b, cpuEngine(), floats(info[1]));
  dnnl::memory c(entry.c, cpuEngine(), floats(info[2]));
  entry.primitive.execute(cpuStream(), {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
  cpuStream().wait();
  return info.Env().Undefined();
}

}  // namespace

void registerMatmul(Napi::Env env, Napi::Object exports) {
  exportKernel<RunMatmul>(env, exports, "matmul");
}

}  // namespace synthpair

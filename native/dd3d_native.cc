// dd3d's native fast path for the tfjs wasm backend: matmul, NHWC convolutions (forward, input
// gradient, filter gradient) and the GroupNorm gradient, single-threaded AVX-512 or AVX2+FMA
// loops that read and write the wasm backend's heap in place.
//
// Why not a BLAS: this was first built on a dlopen()ed OpenBLAS, and measured (Sapphire Rapids,
// one thread, the UNet's shapes): OpenBLAS ran the convolutions' im2col GEMMs at 55–110 GFLOPS
// (a 32-column product is narrow for its kernels, and it packs the im2col matrix again), the
// direct loops below at 105–158. And a BLAS sums a row's products in an order that depends on
// the whole problem's size, so a batch split across dd3d's worker threads changed the bits of
// every image; here each output element is one fused multiply-add chain over k in a fixed
// order, whatever M, the batch or the instruction set (AVX-512 and AVX2 give the same bits).
//
// Operands are element offsets (float32 index) into a Float32Array over the whole wasm memory
// (`backend.wasm.HEAPF32`, which the caller re-reads on every call since memory growth
// replaces it). Every operand's extent is checked against the array's length.
//
// Layouts (row-major, as tfjs stores them):
//   matmul:  A [batch, m, k] (or [batch, k, m] if transA), B [batch, k, n] (or [batch, n, k]);
//            a batch stride of 0 broadcasts an operand; C [batch, m, n] contiguous;
//            C[i, j] = Σ_k A(i, k)·B(k, j), k ascending; optional bias (n values, or 1) and
//            activation applied to C in place.
//   conv:    x [N, H, W, Ci], filter [KH, KW, Ci, Co], y [N, OH, OW, Co].
//            im2col: row r = (b, oy, ox) of M = N·OH·OW rows, column (ky, kx, c) of
//            K = KH·KW·Ci, cols[r, (ky, kx, c)] = x[b, oy·sh − top + ky·dh, ox·sw − left + kx·dw, c]
//            (0 outside). The filter is already the [K, Co] matrix, so
//              forward          y[M, Co]   = cols[M, K] · W[K, Co]
//              input gradient   dcols[M,K] = dy[M, Co] · W[K, Co]ᵀ, then dx = col2im(dcols)
//                               (scatter-add of each row back onto the pixels it was read from)
//              filter gradient  dW[K, Co]  = cols[M, K]ᵀ · dy[M, Co]
//            A 1×1 filter with stride 1 and no padding needs no im2col: cols is x itself.
//            When the channel counts fit the vector width, these run as direct convolutions
//            instead (no cols matrix; see "Direct convolution"); the forward one sums in the same
//            order (ky, kx, c) as the GEMM, so both give the same bits.

#define NAPI_VERSION 8
#include <node_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define DD3D_X86 1
// Loops the compiler vectorises get an AVX-512 and an AVX2 copy, chosen at load time.
#define DD3D_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define DD3D_CLONES
#endif

#ifdef DD3D_X86
// The SIMD kernels, once per instruction set (kernels.h). Tiles: NV vectors × R rows of
// accumulators, within the 32 (AVX-512) or 16 (AVX2) vector registers.
#pragma GCC push_options
#pragma GCC target("avx512f,fma")
namespace k512 {
#define DD3D_W 16
#define DD3D_V __m512
#define DD3D_ZERO() _mm512_setzero_ps()
#define DD3D_LOAD(p) _mm512_loadu_ps(p)
#define DD3D_STORE(p, v) _mm512_storeu_ps(p, v)
#define DD3D_SET1(x) _mm512_set1_ps(x)
#define DD3D_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define BIG_NV 4
#define BIG_R 6
#define MID_NV 2
#define MID_R 12
#define SMALL_NV 1
#define SMALL_R 12
#define FILTER_NV 2
#include "kernels.h"  // undefines these macros at its end
}  // namespace k512
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace k256 {
#define DD3D_W 8
#define DD3D_V __m256
#define DD3D_ZERO() _mm256_setzero_ps()
#define DD3D_LOAD(p) _mm256_loadu_ps(p)
#define DD3D_STORE(p, v) _mm256_storeu_ps(p, v)
#define DD3D_SET1(x) _mm256_set1_ps(x)
#define DD3D_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define BIG_NV 2
#define BIG_R 6
#define MID_NV 1
#define MID_R 12
#define SMALL_NV 1
#define SMALL_R 12
#define FILTER_NV 1
#include "kernels.h"  // undefines these macros at its end
}  // namespace k256
#pragma GCC pop_options
#endif

namespace {

// --------------------------------------------------------------------------------------------
// Instruction set

struct Isa {
  const char* name = nullptr;  // null: no supported instruction set
  void (*gemm)(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t) = nullptr;
  bool (*directCovers)(int64_t) = nullptr;
  void (*directImage)(const float*, int64_t, const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                      int64_t, std::vector<int64_t>&) = nullptr;
  bool (*filterCovers)(int64_t, int64_t) = nullptr;
  void (*filterImage)(const float*, int64_t, const float*, const int64_t*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, float*,
                      bool) = nullptr;
  void (*gnSums)(const float*, const float*, const float*, const float*, const float*, float*, const double*, const double*, double*, double*, int64_t,
                 int64_t) = nullptr;
  void (*gnApply)(const float*, float*, const double*, const double*, const double*, int64_t, int64_t) = nullptr;
  void (*columnSum)(const float*, int64_t, int64_t, double*) = nullptr;
  void (*exp)(const float*, float*, int64_t) = nullptr;
  void (*erf)(const float*, float*, int64_t) = nullptr;
};

// AVX-512 if the CPU has it, else AVX2+FMA; env DD3D_NATIVE_ISA=avx2 forces AVX2 (for tests).
const Isa& PickIsa() {
  static const Isa isa = [] {
    Isa i;
#ifdef DD3D_X86
    const char* force = getenv("DD3D_NATIVE_ISA");
    const bool avx2Only = force && std::string(force) == "avx2";
    if (!avx2Only && __builtin_cpu_supports("avx512f")) {
      i = {"AVX-512", k512::Gemm, k512::DirectCovers, k512::DirectImageAny, k512::FilterCovers, k512::FilterImage, k512::GnGradSums, k512::GnGradApply, k512::ColumnSumLoop, k512::ExpLoop, k512::ErfLoop};
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
      i = {"AVX2", k256::Gemm, k256::DirectCovers, k256::DirectImageAny, k256::FilterCovers, k256::FilterImage, k256::GnGradSums, k256::GnGradApply, k256::ColumnSumLoop, k256::ExpLoop, k256::ErfLoop};
    }
#endif
    return i;
  }();
  return isa;
}

// --------------------------------------------------------------------------------------------
// N-API helpers

struct Args {
  napi_env env;
  size_t argc = 0;
  napi_value argv[24];
  float* heap = nullptr;
  int64_t length = 0;
  bool ok = true;

  Args(napi_env e, napi_callback_info info) : env(e) {
    argc = 24;
    if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) Fail("bad arguments");
  }
  void Fail(const char* msg) {
    if (ok) napi_throw_error(env, nullptr, msg);
    ok = false;
  }
  // argv[0]: the Float32Array over the wasm memory
  void Heap() {
    if (!ok) return;
    napi_typedarray_type type;
    size_t len = 0;
    void* data = nullptr;
    bool is = false;
    if (argc < 1 || napi_is_typedarray(env, argv[0], &is) != napi_ok || !is) return Fail("dd3d native: argument 0 must be a Float32Array");
    if (napi_get_typedarray_info(env, argv[0], &type, &len, &data, nullptr, nullptr) != napi_ok || type != napi_float32_array)
      return Fail("dd3d native: argument 0 must be a Float32Array");
    heap = static_cast<float*>(data);
    length = static_cast<int64_t>(len);
  }
  int64_t I(size_t i) {
    int64_t v = 0;
    if (!ok) return 0;
    if (i >= argc || napi_get_value_int64(env, argv[i], &v) != napi_ok) Fail("dd3d native: expected a number argument");
    return v;
  }
  double D(size_t i) {
    double v = 0;
    if (!ok) return 0;
    if (i >= argc || napi_get_value_double(env, argv[i], &v) != napi_ok) Fail("dd3d native: expected a number argument");
    return v;
  }
  // A pointer to [off, off + extent) of the heap, or null (and a pending exception) if out of range.
  float* At(int64_t off, int64_t extent) {
    if (!ok) return nullptr;
    if (off < 0 || extent < 0 || off + extent > length) {
      Fail("dd3d native: operand outside the wasm heap");
      return nullptr;
    }
    return heap + off;
  }
};

napi_value Undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// --------------------------------------------------------------------------------------------
// init(): string — the instruction set used; throws if the CPU has neither AVX-512 nor AVX2+FMA

napi_value Init(napi_env env, napi_callback_info) {
  const Isa& isa = PickIsa();
  if (!isa.name) {
#ifdef DD3D_X86
    napi_throw_error(env, nullptr, "this CPU has neither AVX-512 nor AVX2 with FMA");
#else
    napi_throw_error(env, nullptr, "the native kernels are built for x86-64 with GCC only");
#endif
    return nullptr;
  }
  napi_value out;
  napi_create_string_utf8(env, isa.name, NAPI_AUTO_LENGTH, &out);
  return out;
}

bool Ready(Args& args) {
  if (!PickIsa().name) args.Fail("dd3d native: no supported instruction set");
  return args.ok;
}

void Gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    for (int64_t i = 0; i < m; i++) std::fill(c + i * ldc, c + i * ldc + n, 0.f);
    return;
  }
  PickIsa().gemm(ta, tb, m, n, k, a, lda, b, ldb, c, ldc);
}

// --------------------------------------------------------------------------------------------
// matmul(heap, batch, m, n, k, aOff, aStride, bOff, bStride, cOff, transA, transB, biasOff, biasLen, act, alpha)
//   act: 0 linear, 1 relu, 2 relu6, 3 elu, 4 sigmoid, 5 leakyrelu (alpha)

void Epilogue(float* c, int64_t rows, int64_t n, const float* bias, int64_t biasLen, int act, float alpha) {
  const int64_t total = rows * n;
  if (bias) {
    if (biasLen == 1) {
      const float b = bias[0];
      for (int64_t i = 0; i < total; i++) c[i] += b;
    } else {
      for (int64_t r = 0; r < rows; r++) {
        float* row = c + r * n;
        for (int64_t j = 0; j < n; j++) row[j] += bias[j];
      }
    }
  }
  switch (act) {
    case 1:
      for (int64_t i = 0; i < total; i++) c[i] = c[i] < 0.f ? 0.f : c[i];
      break;
    case 2:
      for (int64_t i = 0; i < total; i++) c[i] = c[i] < 0.f ? 0.f : (c[i] > 6.f ? 6.f : c[i]);
      break;
    case 3:
      for (int64_t i = 0; i < total; i++) c[i] = c[i] >= 0.f ? c[i] : std::expm1(c[i]);
      break;
    case 4:
      for (int64_t i = 0; i < total; i++) c[i] = 1.f / (1.f + std::exp(-c[i]));
      break;
    case 5:
      for (int64_t i = 0; i < total; i++) c[i] = c[i] < 0.f ? alpha * c[i] : c[i];
      break;
    default:
      break;
  }
}

napi_value Matmul(napi_env env, napi_callback_info info) {
  Args a(env, info);
  a.Heap();
  if (!Ready(a)) return nullptr;
  const int64_t batch = a.I(1), m = a.I(2), n = a.I(3), k = a.I(4);
  const int64_t aOff = a.I(5), aStride = a.I(6), bOff = a.I(7), bStride = a.I(8), cOff = a.I(9);
  const bool ta = a.I(10) != 0, tb = a.I(11) != 0;
  const int64_t biasOff = a.I(12), biasLen = a.I(13);
  const int act = static_cast<int>(a.I(14));
  const float alpha = static_cast<float>(a.D(15));
  if (!a.ok) return nullptr;
  if (batch < 1 || m < 0 || n < 0 || k < 0 || aStride < 0 || bStride < 0) {
    a.Fail("dd3d native: bad matmul shape");
    return nullptr;
  }
  const float* A = a.At(aOff, (batch - 1) * aStride + m * k);
  const float* B = a.At(bOff, (batch - 1) * bStride + k * n);
  float* C = a.At(cOff, batch * m * n);
  const float* bias = biasOff >= 0 ? a.At(biasOff, biasLen) : nullptr;
  if (!a.ok) return nullptr;
  if (bias && biasLen != 1 && biasLen != n) {
    a.Fail("dd3d native: bias must have 1 or n values");
    return nullptr;
  }
  const int64_t lda = ta ? m : k;
  const int64_t ldb = tb ? k : n;
  if (batch > 1 && bStride == 0 && !ta && aStride == m * k) {
    // A shared B: the batch folds into the rows of one product (each row's sum is the same).
    Gemm(false, tb, batch * m, n, k, A, lda, B, ldb, C, n);
  } else {
    for (int64_t i = 0; i < batch; i++) Gemm(ta, tb, m, n, k, A + i * aStride, lda, B + i * bStride, ldb, C + i * m * n, n);
  }
  if (bias || act != 0) Epilogue(C, batch * m, n, bias, biasLen, act, alpha);
  return Undefined(env);
}

// --------------------------------------------------------------------------------------------
// Convolutions

struct Conv {
  int64_t n, h, w, ci, kh, kw, co, oh, ow, sh, sw, dh, dw, top, left;
  int64_t K() const { return kh * kw * ci; }
  int64_t M() const { return n * oh * ow; }
  bool Pointwise() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && top == 0 && left == 0 && oh == h && ow == w; }
};

// Arguments from index `first`: n, h, w, ci, kh, kw, co, oh, ow, sh, sw, dh, dw, top, left
bool ReadConv(Args& a, size_t first, Conv& p) {
  int64_t* f[] = {&p.n, &p.h, &p.w, &p.ci, &p.kh, &p.kw, &p.co, &p.oh, &p.ow, &p.sh, &p.sw, &p.dh, &p.dw, &p.top, &p.left};
  for (size_t i = 0; i < 15; i++) *f[i] = a.I(first + i);
  if (!a.ok) return false;
  if (p.n < 0 || p.h < 0 || p.w < 0 || p.ci < 1 || p.kh < 1 || p.kw < 1 || p.co < 1 || p.oh < 0 || p.ow < 0 || p.sh < 1 || p.sw < 1 ||
      p.dh < 1 || p.dw < 1 || p.K() > INT32_MAX || p.co > INT32_MAX) {
    a.Fail("dd3d native: bad conv shape");
    return false;
  }
  return true;
}

// Rows of cols per chunk: the scratch holds at most ~kScratchFloats floats (but always one row).
int64_t ChunkRows(const Conv& p) {
  static const int64_t cap = [] {
    const char* e = getenv("DD3D_NATIVE_SCRATCH_FLOATS");
    const long long v = e ? atoll(e) : 0;
    return v > 0 ? static_cast<int64_t>(v) : int64_t{1} << 18;  // 1 MB: stays in L2 between im2col and the GEMM
  }();
  return std::max<int64_t>(1, std::min<int64_t>(p.M(), cap / p.K()));
}

thread_local std::vector<float> t_cols;
thread_local std::vector<float> t_tmp;

float* Scratch(std::vector<float>& v, int64_t floats) {
  if (static_cast<int64_t>(v.size()) < floats) v.resize(static_cast<size_t>(floats));
  return v.data();
}

void Im2col(const float* x, const Conv& p, int64_t r0, int64_t rows, float* cols) {
  const int64_t K = p.K();
  const size_t rowBytes = static_cast<size_t>(p.ci) * sizeof(float);
  for (int64_t r = 0; r < rows; r++) {
    const int64_t g = r0 + r;
    const int64_t ox = g % p.ow, t = g / p.ow, oy = t % p.oh, b = t / p.oh;
    const float* xb = x + b * p.h * p.w * p.ci;
    float* dst = cols + r * K;
    for (int64_t ky = 0; ky < p.kh; ky++) {
      const int64_t iy = oy * p.sh - p.top + ky * p.dh;
      if (iy < 0 || iy >= p.h) {
        std::memset(dst, 0, rowBytes * p.kw);
        dst += p.kw * p.ci;
        continue;
      }
      const float* xrow = xb + iy * p.w * p.ci;
      for (int64_t kx = 0; kx < p.kw; kx++, dst += p.ci) {
        const int64_t ix = ox * p.sw - p.left + kx * p.dw;
        if (ix < 0 || ix >= p.w) std::memset(dst, 0, rowBytes);
        else std::memcpy(dst, xrow + ix * p.ci, rowBytes);
      }
    }
  }
}

DD3D_CLONES void Col2imAdd(const float* cols, const Conv& p, int64_t r0, int64_t rows, float* dx) {
  const int64_t K = p.K();
  for (int64_t r = 0; r < rows; r++) {
    const int64_t g = r0 + r;
    const int64_t ox = g % p.ow, t = g / p.ow, oy = t % p.oh, b = t / p.oh;
    float* xb = dx + b * p.h * p.w * p.ci;
    const float* src = cols + r * K;
    for (int64_t ky = 0; ky < p.kh; ky++) {
      const int64_t iy = oy * p.sh - p.top + ky * p.dh;
      if (iy < 0 || iy >= p.h) {
        src += p.kw * p.ci;
        continue;
      }
      float* xrow = xb + iy * p.w * p.ci;
      for (int64_t kx = 0; kx < p.kw; kx++, src += p.ci) {
        const int64_t ix = ox * p.sw - p.left + kx * p.dw;
        if (ix < 0 || ix >= p.w) continue;
        float* d = xrow + ix * p.ci;
        for (int64_t c = 0; c < p.ci; c++) d[c] += src[c];
      }
    }
  }
}

// --------------------------------------------------------------------------------------------
// Direct convolution
//
// No im2col matrix: the image is copied once into a zero-padded buffer (so windows never test
// bounds), and a register tile of R output pixels × NV vectors of output channels accumulates,
// for one filter tap (ky, kx) at a time,
//   acc[r][:] += x_pad[pixel r + tap offset, c] · W[ky, kx, c, :]   over c ascending,
// the R pixel offsets read from a table, so a tile may span output rows. Taps are the outer
// loop (W's tap slice stays in L1 across the image); the tile is stored between taps.
//   forward          out = conv(x, W): the same chain per element as the im2col GEMM
//   input gradient   (stride 1) dx = conv(dy padded by KH−1−top, KW−1−left, W rotated 180° with
//                    its channel axes swapped): the transposed convolution as a forward one
//   filter gradient  dW[ky, kx, c, :] = Σ_pixels x_pad[pixel + tap, c] · dy[pixel, :], a tile of
//                    8 input channels × NV vectors of output channels, image after image

thread_local std::vector<float> t_pad;
thread_local std::vector<int64_t> t_table;
thread_local std::vector<float> t_wflip;

// The padded image's rows and columns: as many as a window can reach.
struct Padded {
  int64_t hp, wp;
};

Padded PadGeometry(int64_t h, int64_t w, int64_t oh, int64_t ow, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t dh, int64_t dw,
                   int64_t top, int64_t left) {
  return {std::max(h + top, (oh - 1) * sh + (kh - 1) * dh + 1), std::max(w + left, (ow - 1) * sw + (kw - 1) * dw + 1)};
}

// Copies image [h, w, c] into the zeroed [hp, wp, c] buffer at (top, left).
void PadImage(const float* img, int64_t h, int64_t w, int64_t c, int64_t top, int64_t left, const Padded& g, float* pad) {
  std::memset(pad, 0, sizeof(float) * static_cast<size_t>(g.hp * g.wp * c));
  const int64_t rows = std::min(h, g.hp - top);
  const int64_t cols = std::min(w, g.wp - left);
  for (int64_t y = 0; y < rows; y++) std::memcpy(pad + ((y + top) * g.wp + left) * c, img + y * w * c, sizeof(float) * static_cast<size_t>(cols * c));
}

bool DirectConv(const float* x, const float* w, float* y, const Conv& p) {
  const Isa& isa = PickIsa();
  if (!isa.directCovers(p.co)) return false;
  const Padded g = PadGeometry(p.h, p.w, p.oh, p.ow, p.kh, p.kw, p.sh, p.sw, p.dh, p.dw, p.top, p.left);
  float* pad = Scratch(t_pad, g.hp * g.wp * p.ci);
  for (int64_t b = 0; b < p.n; b++) {
    PadImage(x + b * p.h * p.w * p.ci, p.h, p.w, p.ci, p.top, p.left, g, pad);
    isa.directImage(pad, g.wp, w, y + b * p.oh * p.ow * p.co, p.ci, p.co, p.kh, p.kw, p.oh, p.ow, p.sh, p.sw, p.dh, p.dw, t_table);
  }
  return true;
}

bool DirectBackpropInput(const float* dy, const float* w, float* dx, const Conv& p) {
  if (p.sh != 1 || p.sw != 1 || p.dh != 1 || p.dw != 1) return false;
  const int64_t top = p.kh - 1 - p.top, left = p.kw - 1 - p.left;
  const Isa& isa = PickIsa();
  if (top < 0 || left < 0 || !isa.directCovers(p.ci)) return false;
  // W rotated and transposed: wf[ky, kx, co, ci] = w[kh−1−ky, kw−1−kx, ci, co]
  float* wf = Scratch(t_wflip, p.K() * p.co);
  for (int64_t ky = 0; ky < p.kh; ky++)
    for (int64_t kx = 0; kx < p.kw; kx++) {
      const float* src = w + ((p.kh - 1 - ky) * p.kw + (p.kw - 1 - kx)) * p.ci * p.co;
      float* dst = wf + (ky * p.kw + kx) * p.co * p.ci;
      for (int64_t i = 0; i < p.ci; i++)
        for (int64_t o = 0; o < p.co; o++) dst[o * p.ci + i] = src[i * p.co + o];
    }
  const Padded g = PadGeometry(p.oh, p.ow, p.h, p.w, p.kh, p.kw, 1, 1, 1, 1, top, left);
  float* pad = Scratch(t_pad, g.hp * g.wp * p.co);
  for (int64_t b = 0; b < p.n; b++) {
    PadImage(dy + b * p.oh * p.ow * p.co, p.oh, p.ow, p.co, top, left, g, pad);
    isa.directImage(pad, g.wp, wf, dx + b * p.h * p.w * p.ci, p.co, p.ci, p.kh, p.kw, p.h, p.w, 1, 1, 1, 1, t_table);
  }
  return true;
}

bool DirectBackpropFilter(const float* x, const float* dy, float* dw, const Conv& p) {
  const Isa& isa = PickIsa();
  if (!isa.filterCovers(p.ci, p.co) || p.n == 0) return false;
  const Padded g = PadGeometry(p.h, p.w, p.oh, p.ow, p.kh, p.kw, p.sh, p.sw, p.dh, p.dw, p.top, p.left);
  float* pad = Scratch(t_pad, g.hp * g.wp * p.ci);
  const int64_t pixels = p.oh * p.ow;
  t_table.resize(static_cast<size_t>(std::max<int64_t>(1, pixels)));
  int64_t* offs = t_table.data();
  for (int64_t q = 0; q < pixels; q++) offs[q] = ((q / p.ow) * p.sh * g.wp + (q % p.ow) * p.sw) * p.ci;
  for (int64_t b = 0; b < p.n; b++) {
    PadImage(x + b * p.h * p.w * p.ci, p.h, p.w, p.ci, p.top, p.left, g, pad);
    isa.filterImage(pad, g.wp, dy + b * pixels * p.co, offs, pixels, p.ci, p.co, p.kh, p.kw, p.dh, p.dw, dw, b == 0);
  }
  return true;
}

// conv2d(heap, xOff, wOff, yOff, ...conv)
napi_value Conv2d(napi_env env, napi_callback_info info) {
  Args a(env, info);
  a.Heap();
  Conv p;
  if (!Ready(a) || !ReadConv(a, 4, p)) return nullptr;
  const float* x = a.At(a.I(1), p.n * p.h * p.w * p.ci);
  const float* wt = a.At(a.I(2), p.K() * p.co);
  float* y = a.At(a.I(3), p.M() * p.co);
  if (!a.ok) return nullptr;
  const int64_t K = p.K();
  if (p.Pointwise()) {
    Gemm(false, false, p.M(), p.co, K, x, K, wt, p.co, y, p.co);
    return Undefined(env);
  }
  if (DirectConv(x, wt, y, p)) return Undefined(env);
  const int64_t chunk = ChunkRows(p);
  float* cols = Scratch(t_cols, chunk * K);
  for (int64_t r0 = 0; r0 < p.M(); r0 += chunk) {
    const int64_t rows = std::min(chunk, p.M() - r0);
    Im2col(x, p, r0, rows, cols);
    Gemm(false, false, rows, p.co, K, cols, K, wt, p.co, y + r0 * p.co, p.co);
  }
  return Undefined(env);
}

// conv2dBackpropInput(heap, dyOff, wOff, dxOff, ...conv)
napi_value Conv2dBackpropInput(napi_env env, napi_callback_info info) {
  Args a(env, info);
  a.Heap();
  Conv p;
  if (!Ready(a) || !ReadConv(a, 4, p)) return nullptr;
  const float* dy = a.At(a.I(1), p.M() * p.co);
  const float* wt = a.At(a.I(2), p.K() * p.co);
  float* dx = a.At(a.I(3), p.n * p.h * p.w * p.ci);
  if (!a.ok) return nullptr;
  const int64_t K = p.K();
  if (p.Pointwise()) {
    Gemm(false, true, p.M(), K, p.co, dy, p.co, wt, p.co, dx, K);
    return Undefined(env);
  }
  if (DirectBackpropInput(dy, wt, dx, p)) return Undefined(env);
  std::memset(dx, 0, sizeof(float) * static_cast<size_t>(p.n * p.h * p.w * p.ci));
  const int64_t chunk = ChunkRows(p);
  float* cols = Scratch(t_cols, chunk * K);
  for (int64_t r0 = 0; r0 < p.M(); r0 += chunk) {
    const int64_t rows = std::min(chunk, p.M() - r0);
    Gemm(false, true, rows, K, p.co, dy + r0 * p.co, p.co, wt, p.co, cols, K);
    Col2imAdd(cols, p, r0, rows, dx);
  }
  return Undefined(env);
}

// conv2dBackpropFilter(heap, xOff, dyOff, dwOff, ...conv)
napi_value Conv2dBackpropFilter(napi_env env, napi_callback_info info) {
  Args a(env, info);
  a.Heap();
  Conv p;
  if (!Ready(a) || !ReadConv(a, 4, p)) return nullptr;
  const float* x = a.At(a.I(1), p.n * p.h * p.w * p.ci);
  const float* dy = a.At(a.I(2), p.M() * p.co);
  float* dw = a.At(a.I(3), p.K() * p.co);
  if (!a.ok) return nullptr;
  const int64_t K = p.K();
  if (p.M() == 0) {
    std::memset(dw, 0, sizeof(float) * static_cast<size_t>(K * p.co));
    return Undefined(env);
  }
  if (p.Pointwise()) {
    Gemm(true, false, K, p.co, p.M(), x, K, dy, p.co, dw, p.co);
    return Undefined(env);
  }
  if (DirectBackpropFilter(x, dy, dw, p)) return Undefined(env);
  // dW = Σ over chunks of colsᵀ · dy
  const int64_t chunk = ChunkRows(p);
  float* cols = Scratch(t_cols, chunk * K);
  float* part = Scratch(t_tmp, K * p.co);
  for (int64_t r0 = 0; r0 < p.M(); r0 += chunk) {
    const int64_t rows = std::min(chunk, p.M() - r0);
    Im2col(x, p, r0, rows, cols);
    Gemm(true, false, K, p.co, rows, cols, K, dy + r0 * p.co, p.co, r0 == 0 ? dw : part, p.co);
    if (r0 > 0)
      for (int64_t i = 0; i < K * p.co; i++) dw[i] += part[i];
  }
  return Undefined(env);
}

// --------------------------------------------------------------------------------------------
// GroupNorm gradient (Dd3dGroupNormGrad of src/backend/fused-kernels.ts), bitwise equal to it:
// the same float64 expressions in the same order, each per-channel sum taken down the rows in
// the same sequence (rows outer, channels inner here, so the loop vectorises over channels and
// reads the plane once instead of c/2 times), no FMA contraction (-ffp-contract=off).

thread_local std::vector<double> t_gn;

// The argument and shape check both GroupNorm kernels take: c channels in `groups` equal groups.
bool GroupNormShapeOk(Args& a, int64_t n, int64_t hw, int64_t c, int64_t groups) {
  if (!a.ok) return false;
  if (n < 0 || hw < 0 || c < 1 || groups < 1 || c % groups != 0) {
    a.Fail("dd3d native: bad GroupNorm shape");
    return false;
  }
  return true;
}

// groupNormGrad(heap, dyOff, xOff, gammaOff, betaOff, statsOff, sOff (-1: no SiLU), dxOff, n, hw, c, groups, dgammaOff, dbetaOff (-1: none))
napi_value GroupNormGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  a.Heap();
  const int64_t n = a.I(8), hw = a.I(9), c = a.I(10), groups = a.I(11);
  if (!GroupNormShapeOk(a, n, hw, c, groups)) return nullptr;
  const int64_t total = n * hw * c;
  const float* dy = a.At(a.I(1), total);
  const float* x = a.At(a.I(2), total);
  const float* gamma = a.At(a.I(3), c);
  const float* beta = a.At(a.I(4), c);
  const float* stats = a.At(a.I(5), n * groups * 2);
  const int64_t sOff = a.I(6);
  const float* s = sOff >= 0 ? a.At(sOff, total) : nullptr;
  float* dx = a.At(a.I(7), total);
  const int64_t dgOff = a.I(12), dbOff = a.I(13);
  float* dgammaOut = dgOff >= 0 ? a.At(dgOff, c) : nullptr;
  float* dbetaOut = dbOff >= 0 ? a.At(dbOff, c) : nullptr;
  if (!a.ok) return nullptr;
  const int64_t cg = c / groups;
  const double count = static_cast<double>(hw * cg);
  t_gn.assign(static_cast<size_t>(9 * c), 0.0);
  double* meanC = t_gn.data();
  double* rC = meanC + c;
  double* sumDz = rC + c;
  double* sumDzXh = sumDz + c;
  double* coefA = sumDzXh + c;
  double* coefX = coefA + c;
  double* coefB = coefX + c;
  double* dgamma = coefB + c;
  double* dbeta = dgamma + c;
  for (int64_t b = 0; b < n; b++) {
    for (int64_t k = 0; k < c; k++) {
      const int64_t q = (b * groups + k / cg) * 2;
      meanC[k] = stats[q];
      rC[k] = stats[q + 1];
    }
    const int64_t start = b * hw * c;
    PickIsa().gnSums(dy + start, x + start, gamma, beta, s ? s + start : nullptr, dx + start, meanC, rC, sumDz, sumDzXh, hw, c);
    for (int64_t g = 0; g < groups; g++) {
      double sg = 0;
      double sgx = 0;
      for (int64_t k = g * cg; k < (g + 1) * cg; k++) {
        sg += static_cast<double>(gamma[k]) * sumDz[k];
        sgx += static_cast<double>(gamma[k]) * sumDzXh[k];
      }
      const double mg = sg / count;
      const double mgx = sgx / count;
      for (int64_t k = g * cg; k < (g + 1) * cg; k++) {
        const double r = rC[k];
        coefA[k] = r * static_cast<double>(gamma[k]);
        coefX[k] = -r * r * mgx;
        coefB[k] = r * r * mgx * meanC[k] - r * mg;
      }
    }
    for (int64_t k = 0; k < c; k++) {
      dgamma[k] += sumDzXh[k];
      dbeta[k] += sumDz[k];
    }
    PickIsa().gnApply(x + start, dx + start, coefA, coefX, coefB, hw, c);
  }
  if (dgammaOut)
    for (int64_t k = 0; k < c; k++) dgammaOut[k] = static_cast<float>(dgamma[k]);
  if (dbetaOut)
    for (int64_t k = 0; k < c; k++) dbetaOut[k] = static_cast<float>(dbeta[k]);
  return Undefined(env);
}

// --------------------------------------------------------------------------------------------
// GroupNorm forward statistics and affine (Dd3dGroupNorm of fused-kernels.ts on wasm), bitwise
// equal to it: each group's sum is one float32 chain down the rows, the group's channels in
// order within a row, as its exact groupSums; mean = f32(sum / count), d = x − mean,
// r = f32(1 / f32(√f32(f32(Σd² / count) + eps))), z = d·f32(r·γ) + β, every step rounded to
// float32 as the wasm kernels round it (double rounding of +, ×, / and √ through float64 is
// exact). σ(z) and z·σ(z) stay XNNPACK's, called from native-kernels.ts, so the bits match.

thread_local std::vector<float> t_gnf;

// groupNorm(heap, xOff, gammaOff, betaOff, zOff, statsOff, n, hw, c, groups, eps)
napi_value GroupNorm(napi_env env, napi_callback_info info) {
  Args a(env, info);
  a.Heap();
  const int64_t n = a.I(6), hw = a.I(7), c = a.I(8), groups = a.I(9);
  const double eps = a.D(10);
  if (!GroupNormShapeOk(a, n, hw, c, groups)) return nullptr;
  const int64_t total = n * hw * c;
  const float* x = a.At(a.I(1), total);
  const float* gamma = a.At(a.I(2), c);
  const float* beta = a.At(a.I(3), c);
  float* z = a.At(a.I(4), total);
  float* stats = a.At(a.I(5), n * groups * 2);
  if (!a.ok) return nullptr;
  const int64_t cg = c / groups;
  const double count = static_cast<double>(hw * cg);
  const float epsf = static_cast<float>(eps);
  t_gnf.assign(static_cast<size_t>(groups + 2 * c), 0.f);
  float* acc = t_gnf.data();
  float* meanC = acc + groups;
  float* scale = meanC + c;
  for (int64_t b = 0; b < n; b++) {
    const float* xb = x + b * hw * c;
    float* zb = z + b * hw * c;
    for (int64_t g = 0; g < groups; g++) acc[g] = 0.f;
    for (int64_t p = 0; p < hw; p++)
      for (int64_t g = 0; g < groups; g++) {
        float t = acc[g];
        for (int64_t k = g * cg; k < (g + 1) * cg; k++) t += xb[p * c + k];
        acc[g] = t;
      }
    for (int64_t g = 0; g < groups; g++) {
      const float mean = static_cast<float>(static_cast<double>(acc[g]) / count);
      stats[(b * groups + g) * 2] = mean;
      for (int64_t k = g * cg; k < (g + 1) * cg; k++) meanC[k] = mean;
      acc[g] = 0.f;
    }
    for (int64_t p = 0; p < hw; p++)
      for (int64_t g = 0; g < groups; g++) {
        float t = acc[g];
        for (int64_t k = g * cg; k < (g + 1) * cg; k++) {
          const float d = xb[p * c + k] - meanC[k];
          t += d * d;
        }
        acc[g] = t;
      }
    for (int64_t g = 0; g < groups; g++) {
      const float var = static_cast<float>(static_cast<double>(acc[g]) / count) + epsf;
      const float r = static_cast<float>(1.0 / static_cast<double>(std::sqrt(var)));
      stats[(b * groups + g) * 2 + 1] = r;
      for (int64_t k = g * cg; k < (g + 1) * cg; k++) scale[k] = r * gamma[k];
    }
    for (int64_t p = 0; p < hw; p++) {
      const float* xr = xb + p * c;
      float* zr = zb + p * c;
      for (int64_t k = 0; k < c; k++) {
        const float d = xr[k] - meanC[k];
        const float t = d * scale[k];
        zr[k] = t + beta[k];
      }
    }
  }
  return Undefined(env);
}

// --------------------------------------------------------------------------------------------
// Column sum (Dd3dColumnSum of fused-kernels.ts), bitwise equal to it: float64 sums, eight rows
// at a time added left to right, then the rest one by one; vectorised over the columns.

// columnSum(heap, xOff, rows, cols, outOff)
napi_value ColumnSum(napi_env env, napi_callback_info info) {
  Args a(env, info);
  a.Heap();
  const int64_t rows = a.I(2), cols = a.I(3);
  if (!a.ok) return nullptr;
  if (rows < 0 || cols < 0) {
    a.Fail("dd3d native: bad column sum shape");
    return nullptr;
  }
  const float* x = a.At(a.I(1), rows * cols);
  float* out = a.At(a.I(4), cols);
  if (!a.ok) return nullptr;
  t_gn.resize(static_cast<size_t>(std::max<int64_t>(1, cols)));
  PickIsa().columnSum(x, rows, cols, t_gn.data());
  for (int64_t j = 0; j < cols; j++) out[j] = static_cast<float>(t_gn[j]);
  return Undefined(env);
}

// --------------------------------------------------------------------------------------------
// Erf and Exp (the wasm build computes them with scalar libm calls, ~6 ms per million values):
// ExpLoop and ErfLoop of kernels.h, plain float code the compiler vectorises for each
// instruction set; every lane does the same IEEE operations (fma is exact), so both give the
// same bits.
//   exp: n = round(x·log2 e), r = x − n·ln 2 (two-part constant), Cephes' degree-6 polynomial,
//        times 2ⁿ built in the exponent bits; below −87.3 it is 0, above 88.7 ∞ (NaN stays NaN).
//   erf: |x| < 0.5: the Maclaurin series to x¹¹ (relative error < 3e-8); else Abramowitz and
//        Stegun 7.1.26, 1 − t·poly(t)·e^(−x²) with t = 1/(1 + 0.3275911·|x|) (error < 1.5e-7,
//        the formula tfjs's cpu backend uses everywhere).

// unary(heap, op, xOff, yOff, n): op 0 exp, 1 erf
napi_value Unary(napi_env env, napi_callback_info info) {
  Args a(env, info);
  a.Heap();
  const int64_t op = a.I(1), n = a.I(4);
  if (!a.ok) return nullptr;
  const float* x = a.At(a.I(2), n);
  float* y = a.At(a.I(3), n);
  if (!a.ok) return nullptr;
  if (op == 0) PickIsa().exp(x, y, n);
  else if (op == 1) PickIsa().erf(x, y, n);
  else {
    a.Fail("dd3d native: unknown unary op");
    return nullptr;
  }
  return Undefined(env);
}

// --------------------------------------------------------------------------------------------
// Grid encoding (Dd3dGridEncode and Dd3dGridEncodeGrad of src/backend/fused-kernels.ts, the
// multi-resolution trilinear blend of nerf/grid-field.ts), bitwise equal to the JS kernels: the
// cell and weights in float64 as the JS computes them (clamps, floor, the weight product left
// to right, rounded to float32), and every sum a float32 accumulator that each step rounds once
// from float64 (w · t is exact in float64), in the same order (no FMA: -ffp-contract=off). A
// NaN coordinate puts the point in cell 0 along that axis with NaN weights, as the JS did before
// (its NaN cell became 0 in an Int32Array): NaN features, NaN added to those corners' gradient.

constexpr int64_t kMaxGridLevels = 8;

// The 8 corner rows and float32 weights of one point in a grid of r³ vertices.
// scale = (r − 1)/(2·bound), as JS computes it (GridScale).
inline void GridCorners(const float* xyz, double bound, double scale, int64_t r, int64_t* index, float* weight) {
  const double top = static_cast<double>(r - 1);
  int64_t cell[3];
  double frac[3];
  for (int a = 0; a < 3; a++) {
    double u = (static_cast<double>(xyz[a]) + bound) * scale;
    if (std::isnan(u)) {
      cell[a] = 0;
      frac[a] = u;
      continue;
    }
    u = u > 0 ? u : 0.0;  // Math.max(u, 0): +0 for −0
    u = u < top ? u : top;
    const int64_t i = std::min<int64_t>(static_cast<int64_t>(std::floor(u)), r - 2);
    cell[a] = i;
    frac[a] = u - static_cast<double>(i);
  }
  const int64_t base = cell[0] + r * (cell[1] + r * cell[2]);
  for (int c = 0; c < 8; c++) {
    const int dx = c & 1, dy = (c >> 1) & 1, dz = (c >> 2) & 1;
    index[c] = base + dx + r * (dy + r * dz);
    const double w = (dx ? frac[0] : 1 - frac[0]) * (dy ? frac[1] : 1 - frac[1]) * (dz ? frac[2] : 1 - frac[2]);
    weight[c] = static_cast<float>(w);
  }
}

inline float AddProduct(float acc, float w, float x) { return static_cast<float>(static_cast<double>(acc) + static_cast<double>(w) * static_cast<double>(x)); }

inline double GridScale(int64_t r, double bound) { return static_cast<double>(r - 1) / (2 * bound); }

struct GridLevels {
  int64_t levels = 0;
  int64_t res[kMaxGridLevels];
  double scale[kMaxGridLevels];  // GridScale(res, bound)
  float* table[kMaxGridLevels];
};

// Levels from argument `first` on: (r, tableOff) pairs; each table [r³, f].
// Checks the point count, feature width and bound both grid kernels take, then reads the levels.
bool ReadGridLevels(Args& a, size_t first, int64_t n, int64_t levels, int64_t f, double bound, GridLevels& g) {
  if (!a.ok) return false;
  if (n < 0 || f < 1 || f > 64 || !(bound > 0)) {
    a.Fail("dd3d native: bad grid encoding shape");
    return false;
  }
  if (levels < 1 || levels > kMaxGridLevels) {
    a.Fail("dd3d native: 1 to 8 grid levels");
    return false;
  }
  g.levels = levels;
  for (int64_t l = 0; l < levels; l++) {
    const int64_t r = a.I(first + 2 * l);
    if (!a.ok) return false;
    if (r < 2 || r > 4096) {
      a.Fail("dd3d native: bad grid resolution");
      return false;
    }
    g.res[l] = r;
    g.scale[l] = GridScale(r, bound);
    g.table[l] = a.At(a.I(first + 2 * l + 1), r * r * r * f);
  }
  return a.ok;
}

#ifdef DD3D_X86
#pragma GCC push_options
#pragma GCC target("avx2")
// f = 4 (GridField's default): a row's four features as one vector of four doubles, each lane
// the scalar loop's operations (cvtps_pd exact, the product exact, one add rounded to double,
// cvtpd_ps rounding to float32 as static_cast does), so the same bits. All levels of a point at
// once, their chains interleaved; each output's (or gradient row's) additions keep their order.
void GridEncode4(const float* xyz, int64_t n, double bound, const GridLevels& g, float* out) {
  const int64_t levels = g.levels, width = 4 * levels;
  int64_t index[kMaxGridLevels][8];
  float weight[kMaxGridLevels][8];
  __m128 acc[kMaxGridLevels];
  for (int64_t p = 0; p < n; p++) {
    for (int64_t l = 0; l < levels; l++) {
      GridCorners(xyz + 3 * p, bound, g.scale[l], g.res[l], index[l], weight[l]);
      acc[l] = _mm_setzero_ps();
    }
    for (int c = 0; c < 8; c++)
      for (int64_t l = 0; l < levels; l++) {
        const __m256d prod = _mm256_mul_pd(_mm256_set1_pd(static_cast<double>(weight[l][c])), _mm256_cvtps_pd(_mm_loadu_ps(g.table[l] + index[l][c] * 4)));
        acc[l] = _mm256_cvtpd_ps(_mm256_add_pd(_mm256_cvtps_pd(acc[l]), prod));
      }
    for (int64_t l = 0; l < levels; l++) _mm_storeu_ps(out + p * width + l * 4, acc[l]);
  }
}

void GridEncodeGrad4(const float* dy, const float* xyz, int64_t n, double bound, const GridLevels& g) {
  const int64_t levels = g.levels, width = 4 * levels;
  int64_t index[8];
  float weight[8];
  for (int64_t p = 0; p < n; p++)
    for (int64_t l = 0; l < levels; l++) {
      GridCorners(xyz + 3 * p, bound, g.scale[l], g.res[l], index, weight);
      const __m256d d = _mm256_cvtps_pd(_mm_loadu_ps(dy + p * width + l * 4));
      for (int c = 0; c < 8; c++) {
        float* row = g.table[l] + index[c] * 4;
        const __m256d prod = _mm256_mul_pd(_mm256_set1_pd(static_cast<double>(weight[c])), d);
        _mm_storeu_ps(row, _mm256_cvtpd_ps(_mm256_add_pd(_mm256_cvtps_pd(_mm_loadu_ps(row)), prod)));
      }
    }
}
#pragma GCC pop_options
#endif

// gridEncode(heap, pointsOff, n, bound, f, outOff, levels, r0, t0Off, r1, t1Off, …)
napi_value GridEncode(napi_env env, napi_callback_info info) {
  Args a(env, info);
  a.Heap();
  if (!Ready(a)) return nullptr;
  const int64_t n = a.I(2), f = a.I(4), levels = a.I(6);
  const double bound = a.D(3);
  GridLevels g;
  if (!ReadGridLevels(a, 7, n, levels, f, bound, g)) return nullptr;
  const float* xyz = a.At(a.I(1), 3 * n);
  float* out = a.At(a.I(5), n * levels * f);
  if (!a.ok) return nullptr;
  const int64_t width = levels * f;
#ifdef DD3D_X86
  if (f == 4) {
    GridEncode4(xyz, n, bound, g, out);
    return Undefined(env);
  }
#endif
  int64_t index[8];
  float weight[8];
  float acc[64];
  for (int64_t l = 0; l < levels; l++) {
    const float* src = g.table[l];
    for (int64_t p = 0; p < n; p++) {
      float* o = out + p * width + l * f;
      GridCorners(xyz + 3 * p, bound, g.scale[l], g.res[l], index, weight);
      for (int64_t j = 0; j < f; j++) acc[j] = 0.f;
      for (int c = 0; c < 8; c++) {
        const float w = weight[c];
        const float* row = src + index[c] * f;
        for (int64_t j = 0; j < f; j++) acc[j] = AddProduct(acc[j], w, row[j]);
      }
      for (int64_t j = 0; j < f; j++) o[j] = acc[j];
    }
  }
  return Undefined(env);
}

// gridEncodeGrad(heap, dyOff, pointsOff, n, bound, f, levels, r0, g0Off, r1, g1Off, …): the g_l are written whole
napi_value GridEncodeGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  a.Heap();
  if (!Ready(a)) return nullptr;
  const int64_t n = a.I(3), f = a.I(5), levels = a.I(6);
  const double bound = a.D(4);
  GridLevels g;
  if (!ReadGridLevels(a, 7, n, levels, f, bound, g)) return nullptr;
  const float* dy = a.At(a.I(1), n * levels * f);
  const float* xyz = a.At(a.I(2), 3 * n);
  if (!a.ok) return nullptr;
  const int64_t width = levels * f;
  for (int64_t l = 0; l < levels; l++) std::fill(g.table[l], g.table[l] + g.res[l] * g.res[l] * g.res[l] * f, 0.f);
#ifdef DD3D_X86
  if (f == 4) {
    GridEncodeGrad4(dy, xyz, n, bound, g);
    return Undefined(env);
  }
#endif
  int64_t index[8];
  float weight[8];
  for (int64_t l = 0; l < levels; l++) {
    float* grad = g.table[l];
    for (int64_t p = 0; p < n; p++) {
      GridCorners(xyz + 3 * p, bound, g.scale[l], g.res[l], index, weight);
      const float* d = dy + p * width + l * f;
      for (int c = 0; c < 8; c++) {
        const float w = weight[c];
        float* row = grad + index[c] * f;
        for (int64_t j = 0; j < f; j++) row[j] = AddProduct(row[j], w, d[j]);
      }
    }
  }
  return Undefined(env);
}

}  // namespace

NAPI_MODULE_INIT() {
  const napi_property_descriptor props[] = {
      {"init", nullptr, Init, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"matmul", nullptr, Matmul, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"conv2d", nullptr, Conv2d, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"conv2dBackpropInput", nullptr, Conv2dBackpropInput, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"conv2dBackpropFilter", nullptr, Conv2dBackpropFilter, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"groupNorm", nullptr, GroupNorm, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"groupNormGrad", nullptr, GroupNormGrad, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"columnSum", nullptr, ColumnSum, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"unary", nullptr, Unary, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"gridEncode", nullptr, GridEncode, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"gridEncodeGrad", nullptr, GridEncodeGrad, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

// dd3d's native fast path for the tfjs wasm backend: matmul and NHWC convolutions (forward,
// input gradient, filter gradient) as single-threaded SGEMMs of a system BLAS, reading and
// writing the wasm backend's heap in place.
//
// The BLAS is not linked: `load` dlopen()s the first of a list of libraries that exports
// cblas_sgemm (or the Fortran sgemm_), so building needs only a C++ compiler and Node's
// headers, and a machine without a BLAS gets a clean "not available" at run time. The BLAS is
// pinned to one thread: dd3d runs one worker thread per core itself.
//
// Operands are element offsets (float32 index) into a Float32Array over the whole wasm memory
// (`backend.wasm.HEAPF32`, which the caller re-reads on every call since memory growth
// replaces it). Every operand's extent is checked against the array's length.
//
// Layouts (row-major, as tfjs stores them):
//   matmul:  A [batch, m, k] (or [batch, k, m] if transA), B [batch, k, n] (or [batch, n, k]);
//            a batch stride of 0 broadcasts an operand; C [batch, m, n] contiguous;
//            optional bias (n values, or 1) and activation applied to C in place.
//   conv:    x [N, H, W, Ci], filter [KH, KW, Ci, Co], y [N, OH, OW, Co].
//            im2col: row r = (b, oy, ox) of M = N·OH·OW rows, column (ky, kx, c) of
//            K = KH·KW·Ci, cols[r, (ky, kx, c)] = x[b, oy·sh − top + ky·dh, ox·sw − left + kx·dw, c]
//            (0 outside). The filter is already the [K, Co] matrix, so
//              forward          y[M, Co]   = cols[M, K] · W[K, Co]
//              input gradient   dcols[M,K] = dy[M, Co] · W[K, Co]ᵀ, then dx = col2im(dcols)
//                               (scatter-add of each row back onto the pixels it was read from)
//              filter gradient  dW[K, Co]  = cols[M, K]ᵀ · dy[M, Co]
//            A 1×1 filter with stride 1 and no padding needs no im2col: cols is x itself.
//            M is processed in chunks so that the cols scratch stays bounded; the scratch is
//            per thread (thread_local) and reused across calls.

#define NAPI_VERSION 8
#include <node_api.h>

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace {

// --------------------------------------------------------------------------------------------
// BLAS, loaded at run time

enum { kRowMajor = 101 };
enum { kNoTrans = 111, kTrans = 112 };
using CblasSgemm = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
using F77Sgemm = void (*)(const char*, const char*, const int*, const int*, const int*, const float*, const float*, const int*,
                          const float*, const int*, const float*, float*, const int*);
using SetThreads = void (*)(int);
using GetConfig = char* (*)();

struct Blas {
  void* handle = nullptr;
  CblasSgemm cblas = nullptr;
  F77Sgemm f77 = nullptr;
  std::string description;
  std::string errors;
};

std::mutex g_mutex;
Blas g_blas;  // written once under g_mutex, read-only afterwards

bool LoadBlasLocked(const std::vector<std::string>& candidates) {
  if (g_blas.handle) return true;
  // OpenBLAS sizes its thread pool from the environment while it loads; ask for one thread
  // and restore the environment afterwards so child processes do not inherit it.
  const char* prev = getenv("OPENBLAS_NUM_THREADS");
  std::string saved = prev ? prev : "";
  setenv("OPENBLAS_NUM_THREADS", "1", 1);
  for (const std::string& name : candidates) {
    void* h = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* e = dlerror();
      g_blas.errors += (g_blas.errors.empty() ? "" : "; ") + std::string(e ? e : name.c_str());
      continue;
    }
    auto cblas = reinterpret_cast<CblasSgemm>(dlsym(h, "cblas_sgemm"));
    auto f77 = reinterpret_cast<F77Sgemm>(dlsym(h, "sgemm_"));
    if (!cblas && !f77) {
      g_blas.errors += (g_blas.errors.empty() ? "" : "; ") + name + ": no cblas_sgemm or sgemm_";
      dlclose(h);
      continue;
    }
    g_blas.handle = h;
    g_blas.cblas = cblas;
    g_blas.f77 = cblas ? nullptr : f77;
    g_blas.description = name;
    if (auto set = reinterpret_cast<SetThreads>(dlsym(h, "openblas_set_num_threads"))) set(1);
    if (auto set = reinterpret_cast<SetThreads>(dlsym(h, "goto_set_num_threads"))) set(1);
    if (auto set = reinterpret_cast<SetThreads>(dlsym(h, "bli_thread_set_num_threads"))) set(1);
    if (auto config = reinterpret_cast<GetConfig>(dlsym(h, "openblas_get_config"))) {
      const char* c = config();
      if (c) g_blas.description += std::string(" (") + c + ")";
    }
    break;
  }
  if (prev) setenv("OPENBLAS_NUM_THREADS", saved.c_str(), 1);
  else unsetenv("OPENBLAS_NUM_THREADS");
  return g_blas.handle != nullptr;
}

// C[m, n] (row-major, ldc) = alpha · op(A) · op(B) + beta · C
void Sgemm(bool ta, bool tb, int m, int n, int k, const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    for (int i = 0; i < m; i++) {
      float* row = c + static_cast<int64_t>(i) * ldc;
      if (beta == 0.f) std::fill(row, row + n, 0.f);
      else for (int j = 0; j < n; j++) row[j] *= beta;
    }
    return;
  }
  const float alpha = 1.f;
  if (g_blas.cblas) {
    g_blas.cblas(kRowMajor, ta ? kTrans : kNoTrans, tb ? kTrans : kNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  // Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: the same call with A and B swapped.
  const char tA = ta ? 'T' : 'N';
  const char tB = tb ? 'T' : 'N';
  g_blas.f77(&tB, &tA, &n, &m, &k, &alpha, b, &ldb, a, &lda, &beta, c, &ldc);
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
// load(candidates: string[]): string — the loaded library's description; throws if none loads

napi_value Load(napi_env env, napi_callback_info info) {
  Args args(env, info);
  std::vector<std::string> names;
  uint32_t n = 0;
  bool isArray = false;
  if (args.argc < 1 || napi_is_array(env, args.argv[0], &isArray) != napi_ok || !isArray) {
    napi_throw_error(env, nullptr, "dd3d native: load expects an array of library names");
    return nullptr;
  }
  napi_get_array_length(env, args.argv[0], &n);
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    napi_get_element(env, args.argv[0], i, &v);
    char buf[4096];
    size_t len = 0;
    if (napi_get_value_string_utf8(env, v, buf, sizeof buf, &len) == napi_ok) names.emplace_back(buf, len);
  }
  std::string description;
  std::string errors;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!LoadBlasLocked(names)) errors = g_blas.errors.empty() ? "no candidate library" : g_blas.errors;
    description = g_blas.description;
  }
  if (!errors.empty()) {
    napi_throw_error(env, nullptr, ("no BLAS with sgemm could be loaded: " + errors).c_str());
    return nullptr;
  }
  napi_value out;
  napi_create_string_utf8(env, description.c_str(), description.size(), &out);
  return out;
}

bool Loaded(Args& args) {
  if (!g_blas.handle) args.Fail("dd3d native: BLAS not loaded (call load first)");
  return args.ok;
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
  if (!Loaded(a)) return nullptr;
  const int64_t batch = a.I(1), m = a.I(2), n = a.I(3), k = a.I(4);
  const int64_t aOff = a.I(5), aStride = a.I(6), bOff = a.I(7), bStride = a.I(8), cOff = a.I(9);
  const bool ta = a.I(10) != 0, tb = a.I(11) != 0;
  const int64_t biasOff = a.I(12), biasLen = a.I(13);
  const int act = static_cast<int>(a.I(14));
  const float alpha = static_cast<float>(a.D(15));
  if (!a.ok) return nullptr;
  if (batch < 1 || m < 0 || n < 0 || k < 0 || aStride < 0 || bStride < 0 || m > INT32_MAX || n > INT32_MAX || k > INT32_MAX) {
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
  const int lda = static_cast<int>(std::max<int64_t>(1, ta ? m : k));
  const int ldb = static_cast<int>(std::max<int64_t>(1, tb ? k : n));
  const int ldc = static_cast<int>(std::max<int64_t>(1, n));
  if (batch > 1 && bStride == 0 && !ta && aStride == m * k && batch * m <= INT32_MAX) {
    // A shared B: the batch folds into the rows of one product.
    Sgemm(false, tb, static_cast<int>(batch * m), static_cast<int>(n), static_cast<int>(k), A, lda, B, ldb, 0.f, C, ldc);
  } else {
    for (int64_t i = 0; i < batch; i++)
      Sgemm(ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), A + i * aStride, lda, B + i * bStride, ldb, 0.f,
            C + i * m * n, ldc);
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
    return v > 0 ? static_cast<int64_t>(v) : int64_t{1} << 21;  // 8 MB
  }();
  return std::max<int64_t>(1, std::min<int64_t>(p.M(), cap / p.K()));
}

thread_local std::vector<float> t_cols;

float* Scratch(int64_t floats) {
  if (static_cast<int64_t>(t_cols.size()) < floats) t_cols.resize(static_cast<size_t>(floats));
  return t_cols.data();
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

void Col2imAdd(const float* cols, const Conv& p, int64_t r0, int64_t rows, float* dx) {
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

// conv2d(heap, xOff, wOff, yOff, ...conv)
napi_value Conv2d(napi_env env, napi_callback_info info) {
  Args a(env, info);
  a.Heap();
  Conv p;
  if (!Loaded(a) || !ReadConv(a, 4, p)) return nullptr;
  const float* x = a.At(a.I(1), p.n * p.h * p.w * p.ci);
  const float* wt = a.At(a.I(2), p.K() * p.co);
  float* y = a.At(a.I(3), p.M() * p.co);
  if (!a.ok) return nullptr;
  const int K = static_cast<int>(p.K()), co = static_cast<int>(p.co);
  if (p.Pointwise()) {
    for (int64_t r0 = 0; r0 < p.M(); r0 += INT32_MAX / 2) {
      const int rows = static_cast<int>(std::min<int64_t>(INT32_MAX / 2, p.M() - r0));
      Sgemm(false, false, rows, co, K, x + r0 * K, K, wt, co, 0.f, y + r0 * co, co);
    }
    return Undefined(env);
  }
  const int64_t chunk = ChunkRows(p);
  float* cols = Scratch(chunk * p.K());
  for (int64_t r0 = 0; r0 < p.M(); r0 += chunk) {
    const int64_t rows = std::min(chunk, p.M() - r0);
    Im2col(x, p, r0, rows, cols);
    Sgemm(false, false, static_cast<int>(rows), co, K, cols, K, wt, co, 0.f, y + r0 * p.co, co);
  }
  return Undefined(env);
}

// conv2dBackpropInput(heap, dyOff, wOff, dxOff, ...conv)
napi_value Conv2dBackpropInput(napi_env env, napi_callback_info info) {
  Args a(env, info);
  a.Heap();
  Conv p;
  if (!Loaded(a) || !ReadConv(a, 4, p)) return nullptr;
  const float* dy = a.At(a.I(1), p.M() * p.co);
  const float* wt = a.At(a.I(2), p.K() * p.co);
  float* dx = a.At(a.I(3), p.n * p.h * p.w * p.ci);
  if (!a.ok) return nullptr;
  const int K = static_cast<int>(p.K()), co = static_cast<int>(p.co);
  if (p.Pointwise()) {
    for (int64_t r0 = 0; r0 < p.M(); r0 += INT32_MAX / 2) {
      const int rows = static_cast<int>(std::min<int64_t>(INT32_MAX / 2, p.M() - r0));
      Sgemm(false, true, rows, K, co, dy + r0 * co, co, wt, co, 0.f, dx + r0 * K, K);
    }
    return Undefined(env);
  }
  std::memset(dx, 0, sizeof(float) * static_cast<size_t>(p.n * p.h * p.w * p.ci));
  const int64_t chunk = ChunkRows(p);
  float* cols = Scratch(chunk * p.K());
  for (int64_t r0 = 0; r0 < p.M(); r0 += chunk) {
    const int64_t rows = std::min(chunk, p.M() - r0);
    Sgemm(false, true, static_cast<int>(rows), K, co, dy + r0 * p.co, co, wt, co, 0.f, cols, K);
    Col2imAdd(cols, p, r0, rows, dx);
  }
  return Undefined(env);
}

// conv2dBackpropFilter(heap, xOff, dyOff, dwOff, ...conv)
napi_value Conv2dBackpropFilter(napi_env env, napi_callback_info info) {
  Args a(env, info);
  a.Heap();
  Conv p;
  if (!Loaded(a) || !ReadConv(a, 4, p)) return nullptr;
  const float* x = a.At(a.I(1), p.n * p.h * p.w * p.ci);
  const float* dy = a.At(a.I(2), p.M() * p.co);
  float* dw = a.At(a.I(3), p.K() * p.co);
  if (!a.ok) return nullptr;
  const int K = static_cast<int>(p.K()), co = static_cast<int>(p.co);
  if (p.M() == 0) {
    std::memset(dw, 0, sizeof(float) * static_cast<size_t>(p.K() * p.co));
    return Undefined(env);
  }
  const bool pointwise = p.Pointwise();
  const int64_t chunk = pointwise ? std::min<int64_t>(p.M(), INT32_MAX / 2) : ChunkRows(p);
  float* cols = pointwise ? nullptr : Scratch(chunk * p.K());
  for (int64_t r0 = 0; r0 < p.M(); r0 += chunk) {
    const int64_t rows = std::min(chunk, p.M() - r0);
    const float* c = cols;
    if (pointwise) c = x + r0 * K;
    else Im2col(x, p, r0, rows, cols);
    Sgemm(true, false, K, co, static_cast<int>(rows), c, K, dy + r0 * p.co, co, r0 == 0 ? 0.f : 1.f, dw, co);
  }
  return Undefined(env);
}

}  // namespace

NAPI_MODULE_INIT() {
  const napi_property_descriptor props[] = {
      {"load", nullptr, Load, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"matmul", nullptr, Matmul, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"conv2d", nullptr, Conv2d, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"conv2dBackpropInput", nullptr, Conv2dBackpropInput, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"conv2dBackpropFilter", nullptr, Conv2dBackpropFilter, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

// SIMD kernels, included once per instruction set by dd3d_native.cc inside a namespace and a
// `#pragma GCC target` region, with DD3D_W (lanes), the vector type and its operations, and
// the register tiles (BIG/MID/SMALL: NV vectors of output columns × R rows) defined for it.
// Every output element is one fused multiply-add chain in a fixed order (see dd3d_native.cc),
// so the AVX-512 and AVX2 builds give the same bits.

constexpr int W = DD3D_W;
using V = DD3D_V;

// ---- GEMM: C[m, :] = Σ_k A(m, k) · Bp[k, :] (Bp packed, row stride ldbp, zero past N)

// Rows m0 .. m0+R of C, columns n0 .. n0+NV·W, over k in [k0, k1): from 0 if k0 = 0, else from
// the partial sums stored in C (a float stored and reloaded is exact: the chain is unchanged).
// A(m, k) is A[(m − aRow0)·lda + (k − aK0)], or with TA A[(k − aK0)·lda + (m − aRow0)] (A may be
// a packed panel starting at row aRow0, k aK0).
template <int NV, int R, bool TA>
void GemmTile(const float* A, int64_t lda, int64_t aRow0, int64_t aK0, int64_t m0, int64_t M, const float* Bp, int64_t ldbp, int64_t k0, int64_t k1,
              float* C, int64_t ldc, int64_t n0, int64_t N) {
  const float* ar[R];
  float* cr[R];
  for (int r = 0; r < R; r++) {
    const int64_t m = std::min<int64_t>(m0 + r, M - 1);  // a short last tile repeats its last row, not stored
    ar[r] = TA ? A + (k0 - aK0) * lda + (m - aRow0) : A + (m - aRow0) * lda + (k0 - aK0);
    cr[r] = C + m * ldc;
  }
  const int64_t ks = TA ? lda : 1;
  V acc[R][NV];
  for (int r = 0; r < R; r++)
    for (int v = 0; v < NV; v++) {
      const int64_t col = n0 + W * v;
      if (k0 == 0 || col >= N) acc[r][v] = DD3D_ZERO();
      else if (col + W <= N) acc[r][v] = DD3D_LOAD(cr[r] + col);
      else {
        alignas(64) float tmp[W] = {};
        std::memcpy(tmp, cr[r] + col, sizeof(float) * static_cast<size_t>(N - col));
        acc[r][v] = DD3D_LOAD(tmp);
      }
    }
  const float* b = Bp + k0 * ldbp + n0;
  const int64_t kn = k1 - k0;
  for (int64_t kk = 0; kk < kn; kk++, b += ldbp) {
    V bv[NV];
    for (int v = 0; v < NV; v++) bv[v] = DD3D_LOAD(b + W * v);
    for (int r = 0; r < R; r++) {
      const V a = DD3D_SET1(ar[r][kk * ks]);
      for (int v = 0; v < NV; v++) acc[r][v] = DD3D_FMA(a, bv[v], acc[r][v]);
    }
  }
  const int64_t rows = std::min<int64_t>(R, M - m0);
  for (int64_t r = 0; r < rows; r++)
    for (int v = 0; v < NV; v++) {
      const int64_t col = n0 + W * v;
      if (col + W <= N) DD3D_STORE(cr[r] + col, acc[r][v]);
      else if (col < N) {
        alignas(64) float tmp[W];
        DD3D_STORE(tmp, acc[r][v]);
        std::memcpy(cr[r] + col, tmp, sizeof(float) * static_cast<size_t>(N - col));
      }
    }
}

// Blocking: k in slices of kc, rows in blocks of MC (the A block stays in L2 while every column
// block of B's kc-slice passes over it), each column block of NV·W columns then its R-row tiles.
template <int NV, int R, bool TA>
void GemmBlock(const float* A, int64_t lda, int64_t aRow0, int64_t aK0, int64_t mb0, int64_t mb1, const float* Bp, int64_t ldbp, int64_t k0,
               int64_t k1, float* C, int64_t ldc, int64_t n0, int64_t N) {
  for (int64_t m0 = mb0; m0 < mb1; m0 += R) GemmTile<NV, R, TA>(A, lda, aRow0, aK0, m0, mb1, Bp, ldbp, k0, k1, C, ldc, n0, N);
}

thread_local std::vector<float> t_apack;

template <bool TA>
void GemmPacked(const float* A, int64_t lda, int64_t M, const float* Bp, int64_t ldbp, int64_t Np, int64_t K, float* C, int64_t ldc, int64_t N) {
  constexpr int64_t kc = 128;
  constexpr int64_t MC = 96;  // a multiple of every tile's R, so tiles never straddle two blocks
  if (TA) t_apack.resize(static_cast<size_t>(kc * MC));
  for (int64_t k0 = 0; k0 < K; k0 += kc) {
    const int64_t k1 = std::min(K, k0 + kc);
    for (int64_t mb0 = 0; mb0 < M; mb0 += MC) {
      const int64_t mb1 = std::min(M, mb0 + MC);
      // A transposed is read down its columns, a page apart when lda is large: copy the block
      // [k0, k1) × [mb0, mb1) into a dense panel first (a copy: the products are unchanged).
      const float* a = A;
      int64_t la = lda, aRow0 = 0, aK0 = 0;
      if (TA && lda > MC) {
        float* panel = t_apack.data();
        for (int64_t k = k0; k < k1; k++) std::memcpy(panel + (k - k0) * MC, A + k * lda + mb0, sizeof(float) * static_cast<size_t>(mb1 - mb0));
        a = panel;
        la = MC;
        aRow0 = mb0;
        aK0 = k0;
      }
      for (int64_t n0 = 0; n0 < Np;) {
        const int64_t rem = Np - n0;
        if (rem >= BIG_NV * W) {
          GemmBlock<BIG_NV, BIG_R, TA>(a, la, aRow0, aK0, mb0, mb1, Bp, ldbp, k0, k1, C, ldc, n0, N);
          n0 += BIG_NV * W;
        } else if (rem >= MID_NV * W) {
          GemmBlock<MID_NV, MID_R, TA>(a, la, aRow0, aK0, mb0, mb1, Bp, ldbp, k0, k1, C, ldc, n0, N);
          n0 += MID_NV * W;
        } else {
          GemmBlock<SMALL_NV, SMALL_R, TA>(a, la, aRow0, aK0, mb0, mb1, Bp, ldbp, k0, k1, C, ldc, n0, N);
          n0 += SMALL_NV * W;
        }
      }
    }
  }
}

thread_local std::vector<float> t_bpack;

// C[M, N] (row-major, ldc) = op(A) · op(B), each element Σ_k in order from 0 (no beta).
void Gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  const int64_t Np = (N + W - 1) / W * W;
  const float* Bp = B;
  int64_t ldbp = ldb;
  if (tb || N % W != 0) {
    t_bpack.resize(static_cast<size_t>(std::max<int64_t>(1, K * Np)));
    float* p = t_bpack.data();
    if (tb) {
      // B is [N, K]: read it row by row (k contiguous), scatter into the [K, Np] panel
      for (int64_t n = 0; n < N; n++) {
        const float* src = B + n * ldb;
        for (int64_t k = 0; k < K; k++) p[k * Np + n] = src[k];
      }
    } else {
      for (int64_t k = 0; k < K; k++) std::memcpy(p + k * Np, B + k * ldb, sizeof(float) * static_cast<size_t>(N));
    }
    for (int64_t k = 0; k < K; k++) std::fill(p + k * Np + N, p + (k + 1) * Np, 0.f);
    Bp = p;
    ldbp = Np;
  }
  if (ta) GemmPacked<true>(A, lda, M, Bp, ldbp, Np, K, C, ldc, N);
  else GemmPacked<false>(A, lda, M, Bp, ldbp, Np, K, C, ldc, N);
}

// ---- Direct convolution (see dd3d_native.cc)

template <int NV, int R>
void FwdTile(const float* base, const int64_t* offs, const float* wt, int64_t ci, int64_t co, float* y, const int64_t* yrows, bool first) {
  V acc[R][NV];
  for (int r = 0; r < R; r++)
    for (int v = 0; v < NV; v++) acc[r][v] = first ? DD3D_ZERO() : DD3D_LOAD(y + yrows[r] + W * v);
  const float* xr[R];
  for (int r = 0; r < R; r++) xr[r] = base + offs[r];
  for (int64_t c = 0; c < ci; c++) {
    V wv[NV];
    for (int v = 0; v < NV; v++) wv[v] = DD3D_LOAD(wt + c * co + W * v);
    for (int r = 0; r < R; r++) {
      const V xb = DD3D_SET1(xr[r][c]);
      for (int v = 0; v < NV; v++) acc[r][v] = DD3D_FMA(xb, wv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < R; r++)
    for (int v = 0; v < NV; v++) DD3D_STORE(y + yrows[r] + W * v, acc[r][v]);
}

// out [oh·ow, co] of one image from its padded copy; w is [kh, kw, ci, co].
template <int NV, int R>
void DirectImage(const float* pad, int64_t wp, const float* w, float* out, int64_t ci, int64_t co, int64_t kh, int64_t kw, int64_t oh, int64_t ow,
                 int64_t sh, int64_t sw, int64_t dh, int64_t dw, std::vector<int64_t>& table) {
  const int64_t pixels = oh * ow;
  const int64_t tiles = (pixels + R - 1) / R;
  // pixel offsets into pad and rows of out, padded to whole tiles: a short last tile repeats its
  // last pixel (the same value is stored twice)
  table.resize(static_cast<size_t>(2 * tiles * R));
  int64_t* offs = table.data();
  int64_t* yrows = offs + tiles * R;
  for (int64_t p = 0; p < tiles * R; p++) {
    const int64_t q = std::min(p, pixels - 1);
    offs[p] = ((q / ow) * sh * wp + (q % ow) * sw) * ci;
    yrows[p] = q * co;
  }
  for (int64_t co0 = 0; co0 < co; co0 += NV * W)
    for (int64_t ky = 0; ky < kh; ky++)
      for (int64_t kx = 0; kx < kw; kx++) {
        const float* base = pad + (ky * dh * wp + kx * dw) * ci;
        const float* wt = w + (ky * kw + kx) * ci * co + co0;
        const bool first = ky == 0 && kx == 0;
        for (int64_t t = 0; t < tiles; t++) FwdTile<NV, R>(base, offs + t * R, wt, ci, co, out + co0, yrows + t * R, first);
      }
}

// Whether DirectImageAny covers co output channels.
bool DirectCovers(int64_t co) { return co % W == 0; }

void DirectImageAny(const float* pad, int64_t wp, const float* w, float* out, int64_t ci, int64_t co, int64_t kh, int64_t kw, int64_t oh, int64_t ow,
                    int64_t sh, int64_t sw, int64_t dh, int64_t dw, std::vector<int64_t>& table) {
  if (co % (BIG_NV * W) == 0) DirectImage<BIG_NV, BIG_R>(pad, wp, w, out, ci, co, kh, kw, oh, ow, sh, sw, dh, dw, table);
  else if (co % (MID_NV * W) == 0) DirectImage<MID_NV, MID_R>(pad, wp, w, out, ci, co, kh, kw, oh, ow, sh, sw, dh, dw, table);
  else DirectImage<SMALL_NV, SMALL_R>(pad, wp, w, out, ci, co, kh, kw, oh, ow, sh, sw, dh, dw, table);
}

// dw tile [8 input channels, NV·W output channels] += Σ_pixels x_pad[pixel + tap, c0 + r] · dy[pixel, :]
template <int NV>
void FilterTile(const float* base, const int64_t* offs, const float* dy, int64_t pixels, int64_t co, float* dw, bool first) {
  constexpr int RC = 8;
  V acc[RC][NV];
  for (int r = 0; r < RC; r++)
    for (int v = 0; v < NV; v++) acc[r][v] = first ? DD3D_ZERO() : DD3D_LOAD(dw + r * co + W * v);
  for (int64_t p = 0; p < pixels; p++) {
    const float* xp = base + offs[p];
    const float* d = dy + p * co;
    V dv[NV];
    for (int v = 0; v < NV; v++) dv[v] = DD3D_LOAD(d + W * v);
    for (int r = 0; r < RC; r++) {
      const V xb = DD3D_SET1(xp[r]);
      for (int v = 0; v < NV; v++) acc[r][v] = DD3D_FMA(xb, dv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < RC; r++)
    for (int v = 0; v < NV; v++) DD3D_STORE(dw + r * co + W * v, acc[r][v]);
}

bool FilterCovers(int64_t ci, int64_t co) { return ci % 8 == 0 && co % W == 0; }

// dW[tap, c0 .. c0+8, :] for one image.
void FilterImage(const float* pad, int64_t wp, const float* dy, const int64_t* offs, int64_t pixels, int64_t ci, int64_t co, int64_t kh, int64_t kw,
                 int64_t dh, int64_t dw_, float* dw, bool first) {
  for (int64_t ky = 0; ky < kh; ky++)
    for (int64_t kx = 0; kx < kw; kx++)
      for (int64_t c0 = 0; c0 < ci; c0 += 8) {
        const float* base = pad + (ky * dh * wp + kx * dw_) * ci + c0;
        float* dwt = dw + ((ky * kw + kx) * ci + c0) * co;
        for (int64_t o0 = 0; o0 < co;) {
          if (co - o0 >= FILTER_NV * W) {
            FilterTile<FILTER_NV>(base, offs, dy + o0, pixels, co, dwt + o0, first);
            o0 += FILTER_NV * W;
          } else {
            FilterTile<1>(base, offs, dy + o0, pixels, co, dwt + o0, first);
            o0 += W;
          }
        }
      }
}

// ---- Exp and Erf (see dd3d_native.cc)
//   exp: n = round(x·log2 e), r = x − n·ln 2 (two-part constant), Cephes' degree-6 polynomial,
//        times 2ⁿ built in the exponent bits; below −87.3 it is 0, above 88.7 ∞ (NaN stays NaN).
//   erf: |x| < 0.5: the Maclaurin series to x¹¹ (relative error < 3e-8); else Abramowitz and
//        Stegun 7.1.26, 1 − t·poly(t)·e^(−x²) with t = 1/(1 + 0.3275911·|x|) (absolute error
//        < 1.5e-7; tfjs's cpu backend uses this formula for every x).

inline float ExpCore(float x) {
  const float xc = std::min(std::max(x, -87.3f), 88.7f);
  const float n = std::floor(xc * 1.44269504088896341f + 0.5f);
  float r = std::fma(n, -0.693359375f, xc);
  r = std::fma(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = std::fma(p, r, 1.3981999507e-3f);
  p = std::fma(p, r, 8.3334519073e-3f);
  p = std::fma(p, r, 4.1665795894e-2f);
  p = std::fma(p, r, 1.6666665459e-1f);
  p = std::fma(p, r, 5.0000001201e-1f);
  p = std::fma(p, r * r, r) + 1.f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  const float y = p * scale;
  return x != x ? x : (x < -87.3f ? 0.f : (x > 88.7f ? HUGE_VALF : y));
}

void ExpLoop(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = ExpCore(x[i]);
}

void ErfLoop(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    const float a = std::fabs(v);
    // series: (2/√π)·x·(1 − x²/3 + x⁴/10 − x⁶/42 + x⁸/216 − x¹⁰/1320)
    const float z = v * v;
    float s = -1.f / 1320.f;
    s = std::fma(s, z, 1.f / 216.f);
    s = std::fma(s, z, -1.f / 42.f);
    s = std::fma(s, z, 1.f / 10.f);
    s = std::fma(s, z, -1.f / 3.f);
    s = std::fma(s, z, 1.f);
    const float small = 1.12837916709551257f * v * s;
    const float t = 1.f / std::fma(0.3275911f, a, 1.f);
    float q = 1.061405429f;
    q = std::fma(q, t, -1.453152027f);
    q = std::fma(q, t, 1.421413741f);
    q = std::fma(q, t, -0.284496736f);
    q = std::fma(q, t, 0.254829592f);
    const float big = 1.f - q * t * ExpCore(-z);
    const float large = v < 0.f ? -big : big;
    y[i] = a < 0.5f ? small : large;
  }
}


// ---- GroupNorm gradient and column sum loops (see dd3d_native.cc): float64, vectorised over
// channels / columns, each channel's or column's sum in the same order as fused-kernels.ts.

void GnGradSums(const float* __restrict dy, const float* __restrict x, const float* __restrict gamma, const float* __restrict beta,
                const float* __restrict s, float* __restrict dx, const double* __restrict meanC, const double* __restrict rC, double* __restrict sumDz,
                double* __restrict sumDzXh, int64_t hw, int64_t c) {
  for (int64_t k = 0; k < c; k++) sumDz[k] = sumDzXh[k] = 0;
  for (int64_t row = 0; row < hw; row++) {
    const int64_t o = row * c;
    if (s) {
      for (int64_t k = 0; k < c; k++) {
        const double xh = (static_cast<double>(x[o + k]) - meanC[k]) * rC[k];
        const double z = xh * static_cast<double>(gamma[k]) + static_cast<double>(beta[k]);
        const double sk = s[o + k];
        const double dz = static_cast<double>(dy[o + k]) * sk * (1 + z * (1 - sk));
        dx[o + k] = static_cast<float>(dz);
        sumDz[k] += dz;
        sumDzXh[k] += dz * xh;
      }
    } else {
      for (int64_t k = 0; k < c; k++) {
        const double dz = dy[o + k];
        dx[o + k] = dy[o + k];
        sumDz[k] += dz;
        sumDzXh[k] += dz * (static_cast<double>(x[o + k]) - meanC[k]) * rC[k];
      }
    }
  }
}

void GnGradApply(const float* __restrict x, float* __restrict dx, const double* __restrict coefA, const double* __restrict coefX,
                 const double* __restrict coefB, int64_t hw, int64_t c) {
  for (int64_t row = 0; row < hw; row++) {
    const int64_t o = row * c;
    for (int64_t k = 0; k < c; k++)
      dx[o + k] = static_cast<float>(coefA[k] * static_cast<double>(dx[o + k]) + coefX[k] * static_cast<double>(x[o + k]) + coefB[k]);
  }
}

void ColumnSumLoop(const float* __restrict x, int64_t rows, int64_t cols, double* __restrict acc) {
  for (int64_t j = 0; j < cols; j++) acc[j] = 0;
  int64_t row = 0;
  for (; row + 8 <= rows; row += 8) {
    const float* o = x + row * cols;
    for (int64_t j = 0; j < cols; j++)
      acc[j] += static_cast<double>(o[j]) + static_cast<double>(o[j + cols]) + static_cast<double>(o[j + 2 * cols]) +
                static_cast<double>(o[j + 3 * cols]) + static_cast<double>(o[j + 4 * cols]) + static_cast<double>(o[j + 5 * cols]) +
                static_cast<double>(o[j + 6 * cols]) + static_cast<double>(o[j + 7 * cols]);
  }
  for (; row < rows; row++) {
    const float* o = x + row * cols;
    for (int64_t j = 0; j < cols; j++) acc[j] += static_cast<double>(o[j]);
  }
}

// The instruction set's macros end here, so that dd3d_native.cc can define them for the next one.
#undef DD3D_W
#undef DD3D_V
#undef DD3D_ZERO
#undef DD3D_LOAD
#undef DD3D_STORE
#undef DD3D_SET1
#undef DD3D_FMA
#undef BIG_NV
#undef BIG_R
#undef MID_NV
#undef MID_R
#undef SMALL_NV
#undef SMALL_R
#undef FILTER_NV

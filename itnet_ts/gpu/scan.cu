// Fused CUDA kernels of the recurrent scan (spec: itnet_ts/ops/scan_reference.py).
//
//   delta = dtau * sel;  a = exp(-lam delta);  theta = omega delta
//   re_n = a (cos re - sin im) + w B u;  im_n = a (sin re + cos im);  z_n = a z + w
//   y = sum_r C re / (z + eps) + skip u
//
// Layout: a block owns one series b and a tile of Dt = 2^ldt channels; its NT = G * Dt threads are
// (g, dl) = (tid >> ldt, tid & (Dt - 1)), thread (g, dl) keeps the RT poles r = g * RT + j of
// channel d = d0 + dl in registers and runs them sequentially over time, CK steps per tile (a warp
// is 32 channels of one pole group: its shared-memory reads of u are conflict-free, of B / C a
// broadcast).  u, sel, dtau, w, Bm, Cm of a tile are staged in shared memory by cp.async (double
// buffered; rows of u / sel / Bm / Cm in 16-byte pieces where sizes and alignment allow, else
// element by element).  Each thread writes its partial sum over its RT poles to a [CK][NT] tile;
// the block then sums the G pole groups and writes y in 16-byte pieces.  Every input is read
// once from global memory, every output written once.  Bm / Cm may be strided views (rows of R
// contiguous elements, any series / step stride: the model's `chunk` of one projection), so they
// are never copied.  The forward optionally stores the state at the start of each CK-step tile
// ("checkpoints", layout (B, NC, S, R, D)); the backward walks the tiles in reverse, recomputes
// the states of a tile (in sub-tiles of TS steps when shared memory is short) from its
// checkpoint, and runs the adjoint recurrence.
//
// float32 math: the decay is one `ex2.approx.ftz` (MUFU) per (n, d, r); the rotation of
// oscillatory poles uses a Cody-Waite reduction to [-pi/4, pi/4] and minimax polynomials on the
// FMA pipe (about 1 ulp, no MUFU, no local memory; angles beyond 65536 reduced in double).
//
// Compiles with NVRTC (CuPy), nvcc, and with a C++20 host compiler when ITNET_SCAN_CPU_EMU is
// defined (the CPU emulation in tests/gpu/_emulate.py provides the CUDA built-ins).

#ifndef ITNET_SCAN_CPU_EMU
#define ITNET_DEV __device__ __forceinline__
#define ITNET_SMEM_BASE(name) extern __shared__ __align__(32) unsigned char name[]
#endif

constexpr int ITNET_RT = 4;             // poles per thread
constexpr int ITNET_CK = 32;            // time tile == checkpoint interval
constexpr int ITNET_MAX_THREADS = 256;  // block size bound (host plan respects it)

// `vec` flags of the forward (set by the host when sizes and alignment allow 16-byte pieces)
constexpr int ITNET_VEC_U = 1;   // rows of u / sel: D and Dt multiples of 16 / sizeof(T), aligned
constexpr int ITNET_VEC_BC = 2;  // rows of Bm / Cm: R and both strides multiples, aligned
constexpr int ITNET_VEC_Y = 4;   // rows of y (and of the partial-sum tile)

template <typename T>
struct ItnetMath;

template <>
struct ItnetMath<float> {
  // a = exp(-lam * delta) = 2^(coef * delta); ftz: lam * delta > ~87 gives exactly 0.
  static ITNET_DEV float coef(float lam) { return -1.44269504088896341f * lam; }
  static ITNET_DEV float decay(float c, float delta) {
    const float x = c * delta;
#ifdef ITNET_SCAN_CPU_EMU
    const float y = exp2f(x);
    return y < 1.17549435e-38f ? 0.f : y;
#else
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
#endif
  }
  // sin and cos of th: th = j pi/2 + r (Cody-Waite, exact for |j| < 2^16), cephes polynomials on
  // [-pi/4, pi/4], quadrant from the low bits of the rounding constant.  Larger angles are first
  // reduced modulo 2 pi in double; beyond 1e15 (and non-finite: overflowed omega * delta, where
  // a == 0 in practice) the angle counts as 0.
  static ITNET_DEV void sc(float th, float* s, float* c) {
    if (!(fabsf(th) <= 65536.f)) {  // rare: reduce modulo 2 pi in double first
      const double x = th;
      th = fabs(x) <= 1e15 ? float(x - rint(x * 0.15915494309189535) * 6.283185307179586) : 0.f;
    }
    const float big = fmaf(th, 0.636619772367581343f, 12582912.f);  // 1.5 * 2^23 + j
    const float j = big - 12582912.f;
    const int q = __float_as_int(big);
    float r = fmaf(-j, 1.5703125f, th);
    r = fmaf(-j, 4.837512969970703125e-4f, r);
    r = fmaf(-j, 7.54978995489188216e-8f, r);
    const float r2 = r * r;
    float ps = fmaf(r2, -1.9515295891e-4f, 8.3321608736e-3f);
    ps = fmaf(r2, ps, -1.6666654611e-1f);
    const float sr = fmaf(r * r2, ps, r);
    float pc = fmaf(r2, 2.443315711809948e-5f, -1.388731625493765e-3f);
    pc = fmaf(r2, pc, 4.166664568298827e-2f);
    pc = fmaf(r2, pc, -0.5f);
    const float cr = fmaf(r2, pc, 1.f);
    float sv = (q & 1) ? cr : sr;
    float cv = (q & 1) ? sr : cr;
    *s = (q & 2) ? -sv : sv;
    *c = ((q + 1) & 2) ? -cv : cv;
  }
  static ITNET_DEV float rcp(float q) { return __fdividef(1.f, q); }
};

// Accurate double math, out of line: double is the gradcheck / reference path, and inlining
// exp and sincos at every use multiplies the compile time of the double kernels.
template <>
struct ItnetMath<double> {
  static ITNET_DEV double coef(double lam) { return -lam; }
  static __device__ __noinline__ double decay(double c, double delta) { return exp(c * delta); }
  static __device__ __noinline__ void sc(double th, double* s, double* c) {
    if (!(fabs(th) < 1e300)) th = 0.0;
    sincos(th, s, c);
  }
  static ITNET_DEV double rcp(double q) { return 1.0 / q; }
};

// The RT poles of a thread in one row of the staged Bm / Cm (aligned: one vector load).
template <typename T>
struct alignas(sizeof(T) * ITNET_RT) ItnetPoles {
  T v[ITNET_RT];
};

template <typename T>
ITNET_DEV ItnetPoles<T> itnet_poles(const T* p) {
  return *reinterpret_cast<const ItnetPoles<T>*>(p);
}

// A 16-byte piece of a row (4 float or 2 double).
template <typename T>
struct alignas(16) ItnetVec {
  static constexpr int V = 16 / sizeof(T);
  T v[V];
};

// Asynchronous global -> shared copy of BYTES (4, 8 or 16) bytes.
template <int BYTES>
ITNET_DEV void itnet_cp_async(void* dst, const void* src) {
#if defined(ITNET_SCAN_CPU_EMU) || !defined(__CUDA_ARCH__) || __CUDA_ARCH__ < 800
  if (BYTES == 16) {
    *static_cast<ItnetVec<float>*>(dst) = *static_cast<const ItnetVec<float>*>(src);
  } else if (BYTES == 8) {
    *static_cast<double*>(dst) = *static_cast<const double*>(src);
  } else {
    *static_cast<float*>(dst) = *static_cast<const float*>(src);
  }
#else
  unsigned s;
  asm volatile("{ .reg .u64 p; cvta.to.shared.u64 p, %1; cvt.u32.u64 %0, p; }"
               : "=r"(s)
               : "l"(dst));
  if (BYTES == 16) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(src) : "memory");
  } else {
    asm volatile("cp.async.ca.shared.global [%0], [%1], %2;\n" ::"r"(s), "l"(src), "n"(BYTES)
                 : "memory");
  }
#endif
}

template <typename T>
ITNET_DEV void itnet_cp_async1(T* dst, const T* src) {
  itnet_cp_async<sizeof(T)>(dst, src);
}

ITNET_DEV void itnet_cp_async_commit() {
#if !defined(ITNET_SCAN_CPU_EMU) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}

ITNET_DEV void itnet_cp_async_wait_all() {
#if !defined(ITNET_SCAN_CPU_EMU) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group 0;\n" ::: "memory");
#endif
}

// One step of the pole recurrence (state re, im, z; a, cos, sin of this step; x = w B u).
template <typename T, bool OMEGA, bool KWN>
ITNET_DEV void itnet_advance(T& re, T& im, T& z, T a, T cs, T sn, T x, T wv) {
  if (OMEGA) {
    const T nre = a * (cs * re - sn * im) + x;
    im = a * (sn * re + cs * im);
    re = nre;
  } else {
    re = a * re + x;
  }
  if (KWN) z = a * z + wv;
}

// ------------------------------------------------------------------------------------------------
// Forward.  Grid (ceil(D / Dt), B), block NT = G * Dt threads, dynamic shared memory
//   2 * (CK * Dt * (1 + SEL) + 2 * CK * G * RT + 2 * CK) + CK * NT  elements of T
// (two buffers of the input tiles u [CK][Dt], sel [CK][Dt], Bm [CK][G RT], Cm [CK][G RT],
// dtau [CK], w [CK]; then the partial sums [CK][NT]).  A thread's step t is at a compile-time
// offset of every tile, the 32 lanes of a warp read 32 consecutive u and one B / C row.
// u (B,N,D), dtau (B,N), w (B,N), Bm / Cm (B,N,R) with strides (sb*, sn*, 1), lam (D,R),
// omega (D,R), sel (B,N,D), s0 (B,S,D,R) or nullptr, skip (D,) or nullptr -> y (B,N,D),
// state (B,S,D,R), ckpt (B,NC,S,R,D) or nullptr.  s0 and skip are runtime (null-pointer)
// options: they only touch the initial load and the output phase, so templating them would
// only multiply the variants.  `vec`: ITNET_VEC_* flags.
//
// The body is shared with scan_fwd_chunk (CHUNKED, the time-parallel forward further below):
// there the grid is (ndt * nseg, B), block (seg, dtile) = (blockIdx.x / ndt, blockIdx.x % ndt)
// takes the chunks [seg * segc, min(NC, (seg + 1) * segc)), its state starting from `start`
// (B,NC,S,R,D), the state at every chunk start (scan_fwd_carry), and writes y only.
// CHUNKED = false folds to the serial kernel.
// ------------------------------------------------------------------------------------------------
template <typename T, bool OMEGA, bool SEL, bool KWN, bool CHUNKED>
ITNET_DEV void itnet_fwd_body(const T* __restrict__ u, const T* __restrict__ dtau,
                              const T* __restrict__ w, const T* __restrict__ Bm,
                              const T* __restrict__ Cm, const T* __restrict__ lam,
                              const T* __restrict__ omega, const T* __restrict__ sel,
                              const T* __restrict__ s0, const T* __restrict__ start,
                              const T* __restrict__ skip, T* __restrict__ y,
                              T* __restrict__ state, T* __restrict__ ckpt, long long sbB,
                              long long snB, long long sbC, long long snC, int N, int D, int R,
                              int ldt, int G, int vec, int segc, T eps) {
  using M = ItnetMath<T>;
  using Vec = ItnetVec<T>;
  constexpr int RT = ITNET_RT, CK = ITNET_CK, V = Vec::V;
  constexpr int S = 1 + (OMEGA ? 1 : 0) + (KWN ? 1 : 0);
  constexpr int UNROLL = OMEGA ? (KWN ? 2 : 4) : 8;  // steps in flight (register bound)
  const int Dt = 1 << ldt, NT = G << ldt, Rp = G * RT;
  const int tid = threadIdx.x, g = tid >> ldt, dl = tid & (Dt - 1);
  const int ndt = CHUNKED ? (D + Dt - 1) >> ldt : 1;
  const int seg = CHUNKED ? int(blockIdx.x) / ndt : 0;
  const int d0 = (CHUNKED ? int(blockIdx.x) - seg * ndt : int(blockIdx.x)) << ldt, d = d0 + dl;
  const long long b = blockIdx.y;
  const bool dok = d < D;
  const bool S0 = !CHUNKED && s0 != nullptr, SKIP = skip != nullptr;
  const int NC = (N + CK - 1) / CK;
  const int c_lo = CHUNKED ? seg * segc : 0;
  const int c_hi = !CHUNKED ? NC : c_lo + segc < NC ? c_lo + segc : NC;

  ITNET_SMEM_BASE(itnet_smem_raw);
  T* const sm = reinterpret_cast<T*>(itnet_smem_raw);
  const int TU = CK * Dt, TB = CK * Rp;  // elements of a u / sel tile and of a Bm / Cm tile
  const int buf_elems = TU * (SEL ? 2 : 1) + 2 * TB + 2 * CK;
  T* const part = sm + 2 * buf_elems;  // [CK][NT]
  const T* const Bmb = Bm + b * sbB;
  const T* const Cmb = Cm + b * sbC;

  T c[RT], om[RT], re[RT], im[RT], zz[RT];
#pragma unroll
  for (int j = 0; j < RT; ++j) {
    const int r = g * RT + j;
    const bool ok = dok && r < R;
    c[j] = ok ? M::coef(lam[d * R + r]) : T(0);
    om[j] = (OMEGA && ok) ? omega[d * R + r] : T(0);
    if (CHUNKED) {  // the state at the start of the segment
      const long long RD = (long long)R * D;
      const T* q = start + (((b * NC + c_lo) * S) * R + r) * D + d;
      re[j] = ok ? q[0] : T(0);
      im[j] = (OMEGA && ok) ? q[RD] : T(0);
      zz[j] = (KWN && ok) ? q[(S - 1) * RD] : T(0);
    } else {
      re[j] = (S0 && ok) ? s0[((b * S) * D + d) * R + r] : T(0);
      im[j] = (OMEGA && S0 && ok) ? s0[((b * S + 1) * D + d) * R + r] : T(0);
      zz[j] = (KWN && S0 && ok) ? s0[((b * S + S - 1) * D + d) * R + r] : T(0);
    }
  }

  // Pole columns r >= R of the staged Bm / Cm stay zero (cp.async never writes them).
  if (Rp > R) {
    for (int i = tid; i < 2 * TB; i += NT) {
      const int buf = i / TB, k = i - buf * TB;
      if (k % Rp >= R) {
        T* Bs = sm + buf * buf_elems + TU * (SEL ? 2 : 1);
        Bs[k] = T(0);
        Bs[TB + k] = T(0);
      }
    }
  }

  auto issue_tile = [&](int it, T* buf) {
    const int n0 = it * CK;
    const int nv = N - n0 < CK ? N - n0 : CK;  // valid steps of the tile
    T* const us = buf;
    T* const ss = buf + TU;
    T* const Bs = buf + TU * (SEL ? 2 : 1);
    T* const Cs = Bs + TB;
    T* const dts = Cs + TB;
    T* const ws = dts + CK;
    const long long rowu = (b * N + n0) * D + d0;  // u[b, n0, d0]
    if (vec & ITNET_VEC_U) {                        // Dt / V pieces per row (a power of two)
      const int lq = ldt - (V == 4 ? 2 : 1), QD = 1 << lq;
      for (int i = tid; i < CK * QD; i += NT) {
        const int t = i >> lq, dd = (i & (QD - 1)) * V, k = t * Dt + dd;
        if (t < nv && d0 + dd < D) {
          const long long off = rowu + (long long)t * D + dd;
          itnet_cp_async<16>(us + k, u + off);
          if (SEL) itnet_cp_async<16>(ss + k, sel + off);
        } else {
#pragma unroll
          for (int e = 0; e < V; ++e) {
            us[k + e] = T(0);
            if (SEL) ss[k + e] = T(0);
          }
        }
      }
    } else {
      for (int i = tid; i < TU; i += NT) {
        const int t = i >> ldt, dd = i & (Dt - 1);
        if (t < nv && d0 + dd < D) {
          const long long off = rowu + (long long)t * D + dd;
          itnet_cp_async1(us + i, u + off);
          if (SEL) itnet_cp_async1(ss + i, sel + off);
        } else {
          us[i] = T(0);
          if (SEL) ss[i] = T(0);
        }
      }
    }
    if (vec & ITNET_VEC_BC) {
      const int RQ = R / V;
      for (int i = tid; i < CK * RQ; i += NT) {
        const int t = i / RQ, r = (i - t * RQ) * V, k = t * Rp + r;
        if (t < nv) {
          itnet_cp_async<16>(Bs + k, Bmb + (n0 + t) * snB + r);
          itnet_cp_async<16>(Cs + k, Cmb + (n0 + t) * snC + r);
        } else {
#pragma unroll
          for (int e = 0; e < V; ++e) {
            Bs[k + e] = T(0);
            Cs[k + e] = T(0);
          }
        }
      }
    } else {
      for (int i = tid; i < CK * R; i += NT) {
        const int t = i / R, r = i - t * R, k = t * Rp + r;
        if (t < nv) {
          itnet_cp_async1(Bs + k, Bmb + (n0 + t) * snB + r);
          itnet_cp_async1(Cs + k, Cmb + (n0 + t) * snC + r);
        } else {
          Bs[k] = T(0);
          Cs[k] = T(0);
        }
      }
    }
    for (int i = tid; i < 2 * CK; i += NT) {
      const int t = i & (CK - 1);
      const T* src = i < CK ? dtau : w;
      if (t < nv) {
        itnet_cp_async1(dts + i, src + b * N + n0 + t);
      } else {
        dts[i] = T(0);
      }
    }
    itnet_cp_async_commit();
  };

  if (c_hi > c_lo) issue_tile(c_lo, sm + (c_lo & 1) * buf_elems);
  for (int it = c_lo; it < c_hi; ++it) {
    T* const cur = sm + (it & 1) * buf_elems;
    itnet_cp_async_wait_all();
    __syncthreads();  // tile `it` landed; the previous tile's y phase is done with `nxt`, `part`
    if (it + 1 < c_hi) issue_tile(it + 1, sm + ((it + 1) & 1) * buf_elems);

    if (!CHUNKED && ckpt != nullptr && dok) {  // state at the start of tile `it`
#pragma unroll
      for (int j = 0; j < RT; ++j) {
        const int r = g * RT + j;
        if (r < R) {
          T* ck = ckpt + (((b * NC + it) * S) * R + r) * D + d;
          ck[0] = re[j];
          if (OMEGA) ck[(long long)R * D] = im[j];
          if (KWN) ck[(long long)(S - 1) * R * D] = zz[j];
        }
      }
    }

    const T* const us = cur;
    const T* const up = cur + dl;       // this thread's column of u
    const T* const sp = cur + TU + dl;  // and of sel
    const T* const Bs = cur + TU * (SEL ? 2 : 1) + g * RT;
    const T* const Cs = Bs + TB;
    const T* const dts = cur + TU * (SEL ? 2 : 1) + 2 * TB;
    const T* const ws = dts + CK;
    T* const pp = part + tid;
#pragma unroll UNROLL
    for (int t = 0; t < CK; ++t) {
      T delta = dts[t];
      if (SEL) delta *= sp[t * Dt];
      const T wv = ws[t];
      const T wu = wv * up[t * Dt];
      const ItnetPoles<T> Bv = itnet_poles(Bs + t * Rp), Cv = itnet_poles(Cs + t * Rp);
      T acc = T(0);
#pragma unroll
      for (int j = 0; j < RT; ++j) {
        const T a = M::decay(c[j], delta);
        T sn = T(0), cs = T(1);
        if (OMEGA) M::sc(om[j] * delta, &sn, &cs);
        itnet_advance<T, OMEGA, KWN>(re[j], im[j], zz[j], a, cs, sn, Bv.v[j] * wu, wv);
        if (KWN) {
          acc += Cv.v[j] * (re[j] * M::rcp(zz[j] + eps));
        } else {
          acc += Cv.v[j] * re[j];
        }
      }
      pp[t * NT] = acc;
    }
    __syncthreads();

    // y = sum over the G pole groups (+ skip u), written row by row.
    const int n0 = it * CK;
    T* const yb = y + (b * N + n0) * D + d0;
    if (vec & ITNET_VEC_Y) {
      const int lq = ldt - (V == 4 ? 2 : 1), QD = 1 << lq;
      for (int i = tid; i < CK * QD; i += NT) {
        const int t = i >> lq, dd = (i & (QD - 1)) * V;
        if (n0 + t < N && d0 + dd < D) {
          const T* p = part + t * NT + dd;
          Vec v = *reinterpret_cast<const Vec*>(p);
          for (int gg = 1; gg < G; ++gg) {
            const Vec q = *reinterpret_cast<const Vec*>(p + (gg << ldt));
#pragma unroll
            for (int e = 0; e < V; ++e) v.v[e] += q.v[e];
          }
          if (SKIP) {
            const Vec uv = *reinterpret_cast<const Vec*>(us + t * Dt + dd);
#pragma unroll
            for (int e = 0; e < V; ++e) v.v[e] += skip[d0 + dd + e] * uv.v[e];
          }
          *reinterpret_cast<Vec*>(yb + (long long)t * D + dd) = v;
        }
      }
    } else {
      for (int i = tid; i < TU; i += NT) {
        const int t = i >> ldt, dd = i & (Dt - 1);
        if (n0 + t < N && d0 + dd < D) {
          T v = T(0);
          for (int gg = 0; gg < G; ++gg) v += part[t * NT + (gg << ldt) + dd];
          if (SKIP) v += skip[d0 + dd] * us[i];
          yb[(long long)t * D + dd] = v;
        }
      }
    }
  }

  if (!CHUNKED && dok) {
#pragma unroll
    for (int j = 0; j < RT; ++j) {
      const int r = g * RT + j;
      if (r < R) {
        state[((b * S) * D + d) * R + r] = re[j];
        if (OMEGA) state[((b * S + 1) * D + d) * R + r] = im[j];
        if (KWN) state[((b * S + S - 1) * D + d) * R + r] = zz[j];
      }
    }
  }
}

template <typename T, bool OMEGA, bool SEL, bool KWN>
__global__ void __launch_bounds__(ITNET_MAX_THREADS, sizeof(T) == 4 ? 2 : 1)
    scan_fwd(const T* __restrict__ u, const T* __restrict__ dtau, const T* __restrict__ w,
             const T* __restrict__ Bm, const T* __restrict__ Cm, const T* __restrict__ lam,
             const T* __restrict__ omega, const T* __restrict__ sel, const T* __restrict__ s0,
             const T* __restrict__ skip, T* __restrict__ y, T* __restrict__ state,
             T* __restrict__ ckpt, long long sbB, long long snB, long long sbC, long long snC,
             int N, int D, int R, int ldt, int G, int vec, T eps) {
  itnet_fwd_body<T, OMEGA, SEL, KWN, false>(u, dtau, w, Bm, Cm, lam, omega, sel, s0, nullptr,
                                            skip, y, state, ckpt, sbB, snB, sbC, snC, N, D, R,
                                            ldt, G, vec, 0, eps);
}

// ------------------------------------------------------------------------------------------------
// Backward.  Grid (ndt = ceil(D / Dt), B), block NT = G * Dt threads, sub-tile TS = 2^lts
// (divides CK), Bm / Cm strided as in the forward, dynamic shared memory
//   CK * (Dt * (2 + SEL) + 2 * G * RT + 2) + TS * (SS * RT * NT + NP * NT + 2 * Dt)
// elements of T with SS = max(S, 2), NP = 2 + KWN.  Inputs as the forward plus ckpt (forward's
// checkpoints), gy (B,N,D) and gstate (B,S,D,R) or nullptr.  Outputs (every element written):
//   du (B,N,D), dsel (B,N,D), dBp / dCp (ndt,B,N,R), ddtp / dwp (B,N,ndt),
//   dlamp / domp (B,D,R), dskipp (B,D) (iff skip), ds0 (B,S,D,R) (nullptr: no s0);
// the partials *p are summed over their first / last axis by the host.
//
// The body is shared with scan_bwd_chunk (CHUNKED, the time-parallel backward below): there the
// grid is (ndt * nseg, B), block (seg, dtile) = (blockIdx.x / ndt, blockIdx.x % ndt) takes the
// chunks [seg * segc, min(NC, (seg + 1) * segc)) and its adjoint starts from carry (B,NC,S,R,D),
// the adjoint after the segment's last chunk, instead of gstate; dlamp / domp (B,nseg,D,R) and
// dskipp (B,nseg,D) are partials per segment; no ds0; and (CK / TS - 1) * S * RT * NT more
// elements of shared memory hold the states at the sub-tile starts (recomputed once per chunk,
// not once per sub-tile).  CHUNKED = false folds to the serial kernel.
// ------------------------------------------------------------------------------------------------
template <typename T, bool OMEGA, bool SEL, bool KWN, bool CHUNKED>
ITNET_DEV void itnet_bwd_body(const T* __restrict__ u, const T* __restrict__ dtau,
                              const T* __restrict__ w, const T* __restrict__ Bm,
                              const T* __restrict__ Cm, const T* __restrict__ lam,
                              const T* __restrict__ omega, const T* __restrict__ sel,
                              const T* __restrict__ skip, const T* __restrict__ ckpt,
                              const T* __restrict__ gy, const T* __restrict__ gstate,
                              const T* __restrict__ carry, T* __restrict__ du,
                              T* __restrict__ dsel, T* __restrict__ dBp, T* __restrict__ dCp,
                              T* __restrict__ ddtp, T* __restrict__ dwp, T* __restrict__ dlamp,
                              T* __restrict__ domp, T* __restrict__ dskipp, T* __restrict__ ds0,
                              long long sbB, long long snB, long long sbC, long long snC, int N,
                              int D, int R, int ldt, int G, int lts, int segc, T eps) {
  using M = ItnetMath<T>;
  constexpr int RT = ITNET_RT, CK = ITNET_CK;
  constexpr int S = 1 + (OMEGA ? 1 : 0) + (KWN ? 1 : 0);
  constexpr int SS = S < 2 ? 2 : S;
  constexpr int NP = KWN ? 3 : 2;
  const int Dt = 1 << ldt, NT = G << ldt, Rp = G * RT, TS = 1 << lts;
  const int tid = threadIdx.x, g = tid >> ldt, dl = tid & (Dt - 1);
  const int ndt = CHUNKED ? (D + Dt - 1) >> ldt : int(gridDim.x);
  const int nseg = CHUNKED ? int(gridDim.x) / ndt : 1;
  const int seg = CHUNKED ? int(blockIdx.x) / ndt : 0;
  const int dtile = CHUNKED ? int(blockIdx.x) - seg * ndt : int(blockIdx.x);
  const int d0 = dtile << ldt, d = d0 + dl;
  const long long b = blockIdx.y, Bn = gridDim.y;
  const bool dok = d < D;
  const bool S0 = !CHUNKED && ds0 != nullptr, SKIP = skip != nullptr;
  const int NC = (N + CK - 1) / CK;
  const int c_lo = CHUNKED ? seg * segc : 0;
  const int c_hi = !CHUNKED ? NC : c_lo + segc < NC ? c_lo + segc : NC;

  ITNET_SMEM_BASE(itnet_smem_raw);
  T* const in_u = reinterpret_cast<T*>(itnet_smem_raw);  // [CK][Dt]
  T* const in_gy = in_u + CK * Dt;                       // [CK][Dt]
  T* const in_sel = in_gy + CK * Dt;                     // [CK][Dt] (SEL)
  T* const in_B = in_gy + CK * Dt * (SEL ? 2 : 1);       // [CK][Rp]
  T* const in_C = in_B + CK * Rp;                        // [CK][Rp]
  T* const in_dt = in_C + CK * Rp;                       // [CK]
  T* const in_w = in_dt + CK;                            // [CK]
  T* const st = in_w + CK;                               // [TS][SS][RT][NT]
  T* const pnd = st + TS * SS * RT * NT;                 // [TS][NP][NT]
  T* const rows = pnd + TS * NP * NT;                    // [TS][2][Dt]
  T* const bnd = rows + TS * 2 * Dt;                     // [CK/TS - 1][S][RT][NT] (CHUNKED)

  T c[RT], lm[RT], om[RT], lr[RT], li[RT], mu[RT], glam[RT], gom[RT];
#pragma unroll
  for (int j = 0; j < RT; ++j) {
    const int r = g * RT + j;
    const bool ok = dok && r < R;
    lm[j] = ok ? lam[d * R + r] : T(0);
    c[j] = M::coef(lm[j]);
    om[j] = (OMEGA && ok) ? omega[d * R + r] : T(0);
    if (CHUNKED) {  // the adjoint after the segment's last chunk
      const long long RD = (long long)R * D;
      const T* q = carry + (((b * NC + c_hi - 1) * S) * R + r) * D + d;
      lr[j] = ok ? q[0] : T(0);
      li[j] = (OMEGA && ok) ? q[RD] : T(0);
      mu[j] = (KWN && ok) ? q[(S - 1) * RD] : T(0);
    } else {
      const bool gs = ok && gstate != nullptr;
      lr[j] = gs ? gstate[((b * S) * D + d) * R + r] : T(0);
      li[j] = (OMEGA && gs) ? gstate[((b * S + 1) * D + d) * R + r] : T(0);
      mu[j] = (KWN && gs) ? gstate[((b * S + S - 1) * D + d) * R + r] : T(0);
    }
    glam[j] = T(0);
    gom[j] = T(0);
  }
  T gskip = T(0);

  for (int i = tid; i < CK * Rp; i += NT) {
    if (i % Rp >= R) {
      in_B[i] = T(0);
      in_C[i] = T(0);
    }
  }

  for (int cix = c_hi - 1; cix >= c_lo; --cix) {
    const int n0 = cix * CK;
    __syncthreads();  // the previous chunk's reduction phases are done with shared memory
    for (int i = tid; i < CK * Dt; i += NT) {
      const int n = n0 + (i >> ldt), dd = d0 + (i & (Dt - 1));
      const bool ok = n < N && dd < D;
      const long long off = (b * N + n) * D + dd;
      in_u[i] = ok ? u[off] : T(0);
      in_gy[i] = ok ? gy[off] : T(0);
      if (SEL) in_sel[i] = ok ? sel[off] : T(0);
    }
    const int nv = N - n0 < CK ? N - n0 : CK;
    for (int i = tid; i < CK * R; i += NT) {
      const int t = i / R, r = i - t * R, k = t * Rp + r;
      in_B[k] = t < nv ? Bm[b * sbB + (n0 + t) * snB + r] : T(0);
      in_C[k] = t < nv ? Cm[b * sbC + (n0 + t) * snC + r] : T(0);
    }
    for (int i = tid; i < CK; i += NT) {
      const bool ok = n0 + i < N;
      in_dt[i] = ok ? dtau[b * N + n0 + i] : T(0);
      in_w[i] = ok ? w[b * N + n0 + i] : T(0);
    }
    __syncthreads();

    const T* Bs = in_B + g * RT;
    const T* Cs = in_C + g * RT;
    if (CHUNKED && TS < CK) {
      // The states at the sub-tile starts TS, 2 TS, ..., CK - TS, once per chunk, so that a
      // sub-tile recomputes its own TS steps only (the serial kernel recomputes from the
      // checkpoint for every sub-tile).  Each thread reads back only its own entries.
      T re[RT], im[RT], zz[RT];
#pragma unroll
      for (int j = 0; j < RT; ++j) {
        const int r = g * RT + j;
        const bool ok = dok && r < R;
        const T* ck = ckpt + (((b * NC + cix) * S) * R + r) * D + d;
        re[j] = ok ? ck[0] : T(0);
        im[j] = (OMEGA && ok) ? ck[(long long)R * D] : T(0);
        zz[j] = (KWN && ok) ? ck[(long long)(S - 1) * R * D] : T(0);
      }
      for (int t = 0; t < CK - TS; ++t) {
        T delta = in_dt[t];
        if (SEL) delta *= in_sel[t * Dt + dl];
        const T wv = in_w[t];
        const T wu = wv * in_u[t * Dt + dl];
        const ItnetPoles<T> Bv = itnet_poles(Bs + t * Rp);
        const bool store = ((t + 1) & (TS - 1)) == 0;
        const int k = ((t + 1) >> lts) - 1;
#pragma unroll
        for (int j = 0; j < RT; ++j) {
          const T a = M::decay(c[j], delta);
          T sn = T(0), cs = T(1);
          if (OMEGA) M::sc(om[j] * delta, &sn, &cs);
          itnet_advance<T, OMEGA, KWN>(re[j], im[j], zz[j], a, cs, sn, Bv.v[j] * wu, wv);
          if (store) {
            T* bp = bnd + (k * S * RT + j) * NT + tid;
            bp[0] = re[j];
            if (OMEGA) bp[RT * NT] = im[j];
            if (KWN) bp[(S - 1) * RT * NT] = zz[j];
          }
        }
      }
    }
    for (int sub = CK / TS - 1; sub >= 0; --sub) {
      const int ts0 = sub * TS;
      if (n0 + ts0 >= N) continue;  // whole sub-tile is padding: identity for the adjoint

      // Recompute: state at the start of the chunk from its checkpoint, advance to ts0, then
      // store the pre-step state of every step of the sub-tile (CHUNKED: from the state at
      // ts0 stored above).
      T re[RT], im[RT], zz[RT];
#pragma unroll
      for (int j = 0; j < RT; ++j) {
        if (CHUNKED && sub > 0) {
          const T* bp = bnd + ((sub - 1) * S * RT + j) * NT + tid;
          re[j] = bp[0];
          im[j] = OMEGA ? bp[RT * NT] : T(0);
          zz[j] = KWN ? bp[(S - 1) * RT * NT] : T(0);
        } else {
          const int r = g * RT + j;
          const bool ok = dok && r < R;
          const T* ck = ckpt + (((b * NC + cix) * S) * R + r) * D + d;
          re[j] = ok ? ck[0] : T(0);
          im[j] = (OMEGA && ok) ? ck[(long long)R * D] : T(0);
          zz[j] = (KWN && ok) ? ck[(long long)(S - 1) * R * D] : T(0);
        }
      }
      for (int t = CHUNKED ? ts0 : 0; t < ts0 + TS; ++t) {
        T delta = in_dt[t];
        if (SEL) delta *= in_sel[t * Dt + dl];
        const T wv = in_w[t];
        const T wu = wv * in_u[t * Dt + dl];
        const int lt = t - ts0;
        const ItnetPoles<T> Bv = itnet_poles(Bs + t * Rp);
#pragma unroll
        for (int j = 0; j < RT; ++j) {
          if (lt >= 0) {
            T* sp = st + (lt * SS * RT + j) * NT + tid;
            sp[0] = re[j];
            if (OMEGA) sp[RT * NT] = im[j];
            if (KWN) sp[(S - 1) * RT * NT] = zz[j];
          }
          const T a = M::decay(c[j], delta);
          T sn = T(0), cs = T(1);
          if (OMEGA) M::sc(om[j] * delta, &sn, &cs);
          itnet_advance<T, OMEGA, KWN>(re[j], im[j], zz[j], a, cs, sn, Bv.v[j] * wu, wv);
        }
      }

      // Reverse sweep over the sub-tile.
      for (int lt = TS - 1; lt >= 0; --lt) {
        const int t = ts0 + lt;
        T delta = in_dt[t];
        if (SEL) delta *= in_sel[t * Dt + dl];
        const T wv = in_w[t];
        const T uv = in_u[t * Dt + dl];
        const T wu = wv * uv;
        const T gyv = in_gy[t * Dt + dl];
        const ItnetPoles<T> Bv4 = itnet_poles(Bs + t * Rp), Cv4 = itnet_poles(Cs + t * Rp);
        T p1 = T(0), pd = T(0), pm = T(0);
#pragma unroll
        for (int j = 0; j < RT; ++j) {
          T* sp = st + (lt * SS * RT + j) * NT + tid;
          const T r0 = sp[0];
          const T i0 = OMEGA ? sp[RT * NT] : T(0);
          const T z0 = KWN ? sp[(S - 1) * RT * NT] : T(0);
          const T a = M::decay(c[j], delta);
          T sn = T(0), cs = T(1);
          if (OMEGA) M::sc(om[j] * delta, &sn, &cs);
          const T Bv = Bv4.v[j], Cv = Cv4.v[j];
          const T rr = OMEGA ? cs * r0 - sn * i0 : r0;  // rotated pre-state
          const T ri = OMEGA ? sn * r0 + cs * i0 : T(0);
          const T rp = a * rr + Bv * wu;  // post-step re
          T dC;
          if (KWN) {
            const T iq = M::rcp(a * z0 + wv + eps);
            const T rd = rp * iq;
            const T gre = gyv * Cv * iq;
            lr[j] += gre;
            mu[j] -= gre * rd;
            dC = gyv * rd;
          } else {
            lr[j] += gyv * Cv;
            dC = gyv * rp;
          }
          const T dB = lr[j] * wu;  // uses the adjoint of the post-step state
          p1 += lr[j] * Bv;
          if (KWN) pm += mu[j];
          T da = lr[j] * rr;
          if (OMEGA) da += li[j] * ri;
          if (KWN) da += mu[j] * z0;
          const T ada = a * da;
          glam[j] -= delta * ada;
          T gd = -lm[j] * ada;
          if (OMEGA) {
            const T dth = a * (li[j] * rr - lr[j] * ri);
            gom[j] += delta * dth;
            gd += om[j] * dth;
          }
          pd += gd;
          if (OMEGA) {
            const T nlr = a * (cs * lr[j] + sn * li[j]);
            li[j] = a * (cs * li[j] - sn * lr[j]);
            lr[j] = nlr;
          } else {
            lr[j] = a * lr[j];
          }
          if (KWN) mu[j] = a * mu[j];
          sp[0] = dB;  // partials overwrite the pre-state consumed above
          sp[RT * NT] = dC;
        }
        pnd[(lt * NP) * NT + tid] = p1;
        pnd[(lt * NP + 1) * NT + tid] = pd;
        if (KWN) pnd[(lt * NP + 2) * NT + tid] = pm;
        if (SKIP && g == 0) gskip += gyv * uv;
      }
      __syncthreads();

      // Reduce over pole groups: du, dsel per (n, d); per-channel terms of ddtau and dw.
      for (int i = tid; i < TS * Dt; i += NT) {
        const int lt = i >> ldt, dd = i & (Dt - 1), t = ts0 + lt, n = n0 + t;
        T s1 = T(0), sd = T(0), sm = T(0);
        for (int gg = 0; gg < G; ++gg) {
          const int q = (gg << ldt) + dd;
          s1 += pnd[(lt * NP) * NT + q];
          sd += pnd[(lt * NP + 1) * NT + q];
          if (KWN) sm += pnd[(lt * NP + 2) * NT + q];
        }
        T rdt = T(0), rw = T(0);
        if (n < N && d0 + dd < D) {
          const long long off = (b * N + n) * D + d0 + dd;
          T duv = in_w[t] * s1;
          if (SKIP) duv += skip[d0 + dd] * in_gy[t * Dt + dd];
          du[off] = duv;
          if (SEL) {
            dsel[off] = in_dt[t] * sd;
            rdt = in_sel[t * Dt + dd] * sd;
          } else {
            rdt = sd;
          }
          rw = in_u[t * Dt + dd] * s1 + sm;
        }
        rows[(lt * 2) * Dt + dd] = rdt;
        rows[(lt * 2 + 1) * Dt + dd] = rw;
      }
      __syncthreads();

      // Reduce over the channels of the tile: ddtau, dw per n; dB, dC per (n, r).
      for (int i = tid; i < TS * 2; i += NT) {
        const int lt = i >> 1, q = i & 1, n = n0 + ts0 + lt;
        if (n < N) {
          T v = T(0);
          for (int dd = 0; dd < Dt; ++dd) v += rows[(lt * 2 + q) * Dt + dd];
          (q == 0 ? ddtp : dwp)[(b * N + n) * ndt + dtile] = v;
        }
      }
      for (int i = tid; i < TS * 2 * R; i += NT) {
        const int lt = i / (2 * R), k = (i - lt * 2 * R) / R, r = i - lt * 2 * R - k * R;
        const int n = n0 + ts0 + lt;
        if (n < N) {
          const T* p = st + ((lt * SS + k) * RT + r % RT) * NT + ((r / RT) << ldt);
          T v = T(0);
          for (int dd = 0; dd < Dt; ++dd) v += p[(dd + i) & (Dt - 1)];
          (k == 0 ? dBp : dCp)[((dtile * Bn + b) * N + n) * R + r] = v;
        }
      }
      __syncthreads();  // before the next sub-tile overwrites st, pnd, rows
    }
  }

  if (dok) {
    const long long bs = CHUNKED ? b * nseg + seg : b;  // partials per (series, segment)
#pragma unroll
    for (int j = 0; j < RT; ++j) {
      const int r = g * RT + j;
      if (r < R) {
        dlamp[(bs * D + d) * R + r] = glam[j];
        if (OMEGA) domp[(bs * D + d) * R + r] = gom[j];
        if (S0) {
          ds0[((b * S) * D + d) * R + r] = lr[j];
          if (OMEGA) ds0[((b * S + 1) * D + d) * R + r] = li[j];
          if (KWN) ds0[((b * S + S - 1) * D + d) * R + r] = mu[j];
        }
      }
    }
    if (SKIP && g == 0) dskipp[bs * D + d] = gskip;
  }
}


template <typename T, bool OMEGA, bool SEL, bool KWN>
__global__ void __launch_bounds__(ITNET_MAX_THREADS, 1)
    scan_bwd(const T* __restrict__ u, const T* __restrict__ dtau, const T* __restrict__ w,
             const T* __restrict__ Bm, const T* __restrict__ Cm, const T* __restrict__ lam,
             const T* __restrict__ omega, const T* __restrict__ sel, const T* __restrict__ skip,
             const T* __restrict__ ckpt, const T* __restrict__ gy, const T* __restrict__ gstate,
             T* __restrict__ du, T* __restrict__ dsel, T* __restrict__ dBp, T* __restrict__ dCp,
             T* __restrict__ ddtp, T* __restrict__ dwp, T* __restrict__ dlamp,
             T* __restrict__ domp, T* __restrict__ dskipp, T* __restrict__ ds0, long long sbB,
             long long snB, long long sbC, long long snC, int N, int D, int R, int ldt, int G,
             int lts, T eps) {
  itnet_bwd_body<T, OMEGA, SEL, KWN, false>(u, dtau, w, Bm, Cm, lam, omega, sel, skip, ckpt, gy,
                                            gstate, nullptr, du, dsel, dBp, dCp, ddtp, dwp, dlamp,
                                            domp, dskipp, ds0, sbB, snB, sbC, snC, N, D, R, ldt, G,
                                            lts, 0, eps);
}

// ================================================================================================
// Chunked backward: parallel over time.  Serial, `scan_bwd` walks all N steps of a series in one
// block (kept for side-by-side timing: ITNET_SCAN_BWD=serial).  Here the adjoint recurrence
//   lam_{n-1} = A_n^T (lam_n + inj_n),  A_n^T = a_n e^{-i theta_n} (per pole; z: a_n)
// is split at the CK-step chunks (the forward's checkpoints) in three launches:
//   1. scan_bwd_sum   grid (ndt * NC, B), one CK-step chunk per block: per (chunk, channel, pole)
//      the adjoint of the state before the chunk given a zero adjoint after it,
//      sum_t Phi_t inj_t with Phi_t = prod_{s <= t} A_s^T (computed in forward order: no storage),
//      and the chunk's transition Phi_CK.  The injections are gy C (KWN: gy C / (z + eps) into re
//      and -gy C re / (z + eps)^2 into z, from states recomputed from the checkpoint).
//   2. scan_bwd_carry grid (ceil(R D / NT), B): per (series, channel, pole) a sequential pass over
//      the NC chunk summaries from the last one: the exact adjoint after every chunk (the carry,
//      written over the summary) and ds0.
//   3. scan_bwd_chunk grid (ndt * nseg, B): the body of scan_bwd on every segment of SEGC chunks in
//      its own block, its adjoint starting from the carry after the segment instead of gstate;
//      dlam / dom / dskip as partials per (series, segment), summed by the host.
// Every step sees the serial kernel's adjoint up to float rounding (products reassociated).
// ================================================================================================

// P: values of a chunk transition per pole: (Re, Im) of prod a e^{-i theta} with OMEGA, plus
// prod a for z with KWN; else prod a (shared by re and z).
template <bool OMEGA, bool KWN>
struct ItnetPhi {
  static constexpr int P = OMEGA ? (KWN ? 3 : 2) : 1;
};

// Phase 1.  Block NT = G * Dt threads as scan_bwd, blockIdx.x = cix * ndt + dtile; no shared
// memory.  loc (B,NC,S,R,D): zero-carry adjoint before chunk cix; phi (B,NC,P,R,D).
template <typename T, bool OMEGA, bool SEL, bool KWN>
__global__ void __launch_bounds__(ITNET_MAX_THREADS)
    scan_bwd_sum(const T* __restrict__ u, const T* __restrict__ dtau, const T* __restrict__ w,
                 const T* __restrict__ Bm, const T* __restrict__ Cm, const T* __restrict__ lam,
                 const T* __restrict__ omega, const T* __restrict__ sel,
                 const T* __restrict__ ckpt, const T* __restrict__ gy, T* __restrict__ loc,
                 T* __restrict__ phi, long long sbB, long long snB, long long sbC, long long snC,
                 int N, int D, int R, int ldt, T eps) {
  using M = ItnetMath<T>;
  constexpr int RT = ITNET_RT, CK = ITNET_CK;
  constexpr int S = 1 + (OMEGA ? 1 : 0) + (KWN ? 1 : 0);
  constexpr int P = ItnetPhi<OMEGA, KWN>::P;
  const int Dt = 1 << ldt, ndt = (D + Dt - 1) >> ldt;
  const int tid = threadIdx.x, g = tid >> ldt, dl = tid & (Dt - 1);
  const int cix = blockIdx.x / ndt, dtile = blockIdx.x - cix * ndt;
  const int d = (dtile << ldt) + dl;
  const long long b = blockIdx.y;
  if (d >= D) return;  // no barriers in this kernel
  const int NC = (N + CK - 1) / CK, n0 = cix * CK, nv = N - n0 < CK ? N - n0 : CK;
  const long long RD = (long long)R * D;

  T c[RT], om[RT], re[RT], im[RT], zz[RT], pr[RT], pim[RT], pa[RT], lr[RT], li[RT], mu[RT];
#pragma unroll
  for (int j = 0; j < RT; ++j) {
    const int r = g * RT + j;
    const bool ok = r < R;
    c[j] = ok ? M::coef(lam[d * R + r]) : T(0);
    om[j] = (OMEGA && ok) ? omega[d * R + r] : T(0);
    const T* ck = ckpt + (((b * NC + cix) * S) * R + r) * D + d;
    re[j] = (KWN && ok) ? ck[0] : T(0);
    im[j] = (KWN && OMEGA && ok) ? ck[RD] : T(0);
    zz[j] = (KWN && ok) ? ck[(S - 1) * RD] : T(0);
    pr[j] = T(1);
    pim[j] = T(0);
    pa[j] = T(1);
    lr[j] = T(0);
    li[j] = T(0);
    mu[j] = T(0);
  }
  const T* const Bb = Bm + b * sbB;
  const T* const Cb = Cm + b * sbC;
  for (int t = 0; t < nv; ++t) {
    const long long n = n0 + t, off = (b * N + n) * D + d;
    T delta = dtau[b * N + n];
    if (SEL) delta *= sel[off];
    const T gyv = gy[off];
    const T wv = KWN ? w[b * N + n] : T(0);
    const T wu = KWN ? wv * u[off] : T(0);
#pragma unroll
    for (int j = 0; j < RT; ++j) {
      const int r = g * RT + j;
      const bool ok = r < R;
      const T Cv = ok ? Cb[n * snC + r] : T(0);
      const T a = M::decay(c[j], delta);
      T sn = T(0), cs = T(1);
      if (OMEGA) M::sc(om[j] * delta, &sn, &cs);
      if (OMEGA) {  // Phi *= a e^{-i theta}
        const T npr = a * (pr[j] * cs + pim[j] * sn);
        pim[j] = a * (pim[j] * cs - pr[j] * sn);
        pr[j] = npr;
        if (KWN) pa[j] *= a;
      } else {
        pr[j] *= a;
      }
      if (KWN) {
        const T Bv = ok ? Bb[n * snB + r] : T(0);
        itnet_advance<T, OMEGA, KWN>(re[j], im[j], zz[j], a, cs, sn, Bv * wu, wv);
        const T iq = M::rcp(zz[j] + eps);
        const T gre = gyv * Cv * iq;
        lr[j] += pr[j] * gre;
        if (OMEGA) li[j] += pim[j] * gre;
        mu[j] -= (OMEGA ? pa[j] : pr[j]) * (gre * (re[j] * iq));
      } else {
        const T inj = gyv * Cv;
        lr[j] += pr[j] * inj;
        if (OMEGA) li[j] += pim[j] * inj;
      }
    }
  }
#pragma unroll
  for (int j = 0; j < RT; ++j) {
    const int r = g * RT + j;
    if (r < R) {
      T* q = loc + (((b * NC + cix) * S) * R + r) * D + d;
      q[0] = lr[j];
      if (OMEGA) q[RD] = li[j];
      if (KWN) q[(S - 1) * RD] = mu[j];
      T* p = phi + (((b * NC + cix) * P) * R + r) * D + d;
      p[0] = pr[j];
      if (OMEGA) p[RD] = pim[j];
      if (OMEGA && KWN) p[2 * RD] = pa[j];
    }
  }
}

// Phase 2.  Thread i = r * D + d of series blockIdx.y.  cb (B,NC,S,R,D): in the chunk summaries
// of phase 1, out the adjoint of the state after each chunk; ds0 (B,S,D,R) or nullptr.
template <typename T, bool OMEGA, bool SEL, bool KWN>
__global__ void __launch_bounds__(ITNET_MAX_THREADS)
    scan_bwd_carry(const T* __restrict__ gstate, const T* __restrict__ phi, T* __restrict__ cb,
                   T* __restrict__ ds0, int N, int D, int R) {
  constexpr int CK = ITNET_CK;
  constexpr int S = 1 + (OMEGA ? 1 : 0) + (KWN ? 1 : 0);
  constexpr int P = ItnetPhi<OMEGA, KWN>::P;
  const long long RD = (long long)R * D;
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= RD) return;
  const long long b = blockIdx.y;
  const int r = int(i / D), d = int(i - (long long)r * D);
  const int NC = (N + CK - 1) / CK;
  T lr = T(0), li = T(0), mu = T(0);
  if (gstate != nullptr) {
    lr = gstate[((b * S) * D + d) * R + r];
    if (OMEGA) li = gstate[((b * S + 1) * D + d) * R + r];
    if (KWN) mu = gstate[((b * S + S - 1) * D + d) * R + r];
  }
  for (int cix = NC - 1; cix >= 0; --cix) {
    T* const q = cb + ((b * NC + cix) * S) * RD + i;
    const T* const p = phi + ((b * NC + cix) * P) * RD + i;
    const T l0 = q[0];
    q[0] = lr;
    if (OMEGA) {
      const T l1 = q[RD];
      q[RD] = li;
      const T p0 = p[0], p1 = p[RD];
      const T nlr = p0 * lr - p1 * li + l0;
      li = p0 * li + p1 * lr + l1;
      lr = nlr;
    } else {
      lr = p[0] * lr + l0;
    }
    if (KWN) {
      const T l2 = q[(S - 1) * RD];
      q[(S - 1) * RD] = mu;
      mu = (OMEGA ? p[2 * RD] : p[0]) * mu + l2;
    }
  }
  if (ds0 != nullptr) {
    ds0[((b * S) * D + d) * R + r] = lr;
    if (OMEGA) ds0[((b * S + 1) * D + d) * R + r] = li;
    if (KWN) ds0[((b * S + S - 1) * D + d) * R + r] = mu;
  }
}

// Phase 3: the serial kernel's body on segments of segc chunks (see itnet_bwd_body), grid
// (ndt * nseg, B); carry from scan_bwd_carry; dlamp / domp (B,nseg,D,R), dskipp (B,nseg,D).
template <typename T, bool OMEGA, bool SEL, bool KWN>
__global__ void __launch_bounds__(ITNET_MAX_THREADS, 1)
    scan_bwd_chunk(const T* __restrict__ u, const T* __restrict__ dtau, const T* __restrict__ w,
                   const T* __restrict__ Bm, const T* __restrict__ Cm, const T* __restrict__ lam,
                   const T* __restrict__ omega, const T* __restrict__ sel,
                   const T* __restrict__ skip, const T* __restrict__ ckpt,
                   const T* __restrict__ gy, const T* __restrict__ carry, T* __restrict__ du,
                   T* __restrict__ dsel, T* __restrict__ dBp, T* __restrict__ dCp,
                   T* __restrict__ ddtp, T* __restrict__ dwp, T* __restrict__ dlamp,
                   T* __restrict__ domp, T* __restrict__ dskipp, long long sbB, long long snB,
                   long long sbC, long long snC, int N, int D, int R, int ldt, int G, int lts,
                   int segc, T eps) {
  itnet_bwd_body<T, OMEGA, SEL, KWN, true>(u, dtau, w, Bm, Cm, lam, omega, sel, skip, ckpt, gy,
                                           nullptr, carry, du, dsel, dBp, dCp, ddtp, dwp, dlamp,
                                           domp, dskipp, nullptr, sbB, snB, sbC, snC, N, D, R, ldt,
                                           G, lts, segc, eps);
}

// ================================================================================================
// Chunked forward: parallel over time (ITNET_SCAN_FWD=chunked; the serial scan_fwd is the
// default).  The state recurrence s_n = A_n s_{n-1} + x_n, A_n = a_n e^{i theta_n} (z: a_n), split
// at the CK-step chunks in three launches:
//   1. scan_fwd_sum   grid (ndt * NC, B): per (chunk, channel, pole) the state at the chunk's end
//      from a zero state at its start, and the chunk's transition prod A (forward order, no
//      storage; the same block layout as the forward, no shared memory).
//   2. scan_fwd_carry grid (ceil(R D / NT), B): per (series, channel, pole) a sequential pass over
//      the NC chunk summaries from s0: the state at every chunk start (the backward's checkpoints,
//      written over the summaries) and the final state.
//   3. scan_fwd_chunk grid (ndt * nseg, B): the forward's body on every segment of SEGC chunks in
//      its own block, from the state at the segment's start; writes y.
// ================================================================================================

// Phase 1.  loc (B,NC,S,R,D): state after chunk cix from a zero state; psi (B,NC,P,R,D): (Re, Im)
// of prod a e^{i theta} with OMEGA (+ prod a with KWN), else prod a.
template <typename T, bool OMEGA, bool SEL, bool KWN>
__global__ void __launch_bounds__(ITNET_MAX_THREADS)
    scan_fwd_sum(const T* __restrict__ u, const T* __restrict__ dtau, const T* __restrict__ w,
                 const T* __restrict__ Bm, const T* __restrict__ lam, const T* __restrict__ omega,
                 const T* __restrict__ sel, T* __restrict__ loc, T* __restrict__ psi,
                 long long sbB, long long snB, int N, int D, int R, int ldt) {
  using M = ItnetMath<T>;
  constexpr int RT = ITNET_RT, CK = ITNET_CK;
  constexpr int S = 1 + (OMEGA ? 1 : 0) + (KWN ? 1 : 0);
  constexpr int P = ItnetPhi<OMEGA, KWN>::P;
  const int Dt = 1 << ldt, ndt = (D + Dt - 1) >> ldt;
  const int tid = threadIdx.x, g = tid >> ldt, dl = tid & (Dt - 1);
  const int cix = blockIdx.x / ndt, dtile = blockIdx.x - cix * ndt;
  const int d = (dtile << ldt) + dl;
  const long long b = blockIdx.y;
  if (d >= D) return;  // no barriers in this kernel
  const int NC = (N + CK - 1) / CK, n0 = cix * CK, nv = N - n0 < CK ? N - n0 : CK;
  const long long RD = (long long)R * D;

  T c[RT], om[RT], re[RT], im[RT], zz[RT], pr[RT], pim[RT], pa[RT];
#pragma unroll
  for (int j = 0; j < RT; ++j) {
    const int r = g * RT + j;
    const bool ok = r < R;
    c[j] = ok ? M::coef(lam[d * R + r]) : T(0);
    om[j] = (OMEGA && ok) ? omega[d * R + r] : T(0);
    re[j] = T(0);
    im[j] = T(0);
    zz[j] = T(0);
    pr[j] = T(1);
    pim[j] = T(0);
    pa[j] = T(1);
  }
  const T* const Bb = Bm + b * sbB;
  for (int t = 0; t < nv; ++t) {
    const long long n = n0 + t, off = (b * N + n) * D + d;
    T delta = dtau[b * N + n];
    if (SEL) delta *= sel[off];
    const T wv = w[b * N + n];
    const T wu = wv * u[off];
#pragma unroll
    for (int j = 0; j < RT; ++j) {
      const int r = g * RT + j;
      const T Bv = r < R ? Bb[n * snB + r] : T(0);
      const T a = M::decay(c[j], delta);
      T sn = T(0), cs = T(1);
      if (OMEGA) M::sc(om[j] * delta, &sn, &cs);
      itnet_advance<T, OMEGA, KWN>(re[j], im[j], zz[j], a, cs, sn, Bv * wu, wv);
      if (OMEGA) {  // Psi *= a e^{i theta}
        const T npr = a * (pr[j] * cs - pim[j] * sn);
        pim[j] = a * (pim[j] * cs + pr[j] * sn);
        pr[j] = npr;
        if (KWN) pa[j] *= a;
      } else {
        pr[j] *= a;
      }
    }
  }
#pragma unroll
  for (int j = 0; j < RT; ++j) {
    const int r = g * RT + j;
    if (r < R) {
      T* q = loc + (((b * NC + cix) * S) * R + r) * D + d;
      q[0] = re[j];
      if (OMEGA) q[RD] = im[j];
      if (KWN) q[(S - 1) * RD] = zz[j];
      T* p = psi + (((b * NC + cix) * P) * R + r) * D + d;
      p[0] = pr[j];
      if (OMEGA) p[RD] = pim[j];
      if (OMEGA && KWN) p[2 * RD] = pa[j];
    }
  }
}

// Phase 2.  Thread i = r * D + d of series blockIdx.y.  cb (B,NC,S,R,D): in the chunk summaries
// of phase 1, out the state at each chunk start (the checkpoints); s0 (B,S,D,R) or nullptr;
// state (B,S,D,R): the final state.
template <typename T, bool OMEGA, bool SEL, bool KWN>
__global__ void __launch_bounds__(ITNET_MAX_THREADS)
    scan_fwd_carry(const T* __restrict__ s0, const T* __restrict__ psi, T* __restrict__ cb,
                   T* __restrict__ state, int N, int D, int R) {
  constexpr int CK = ITNET_CK;
  constexpr int S = 1 + (OMEGA ? 1 : 0) + (KWN ? 1 : 0);
  constexpr int P = ItnetPhi<OMEGA, KWN>::P;
  const long long RD = (long long)R * D;
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= RD) return;
  const long long b = blockIdx.y;
  const int r = int(i / D), d = int(i - (long long)r * D);
  const int NC = (N + CK - 1) / CK;
  T re = T(0), im = T(0), zz = T(0);
  if (s0 != nullptr) {
    re = s0[((b * S) * D + d) * R + r];
    if (OMEGA) im = s0[((b * S + 1) * D + d) * R + r];
    if (KWN) zz = s0[((b * S + S - 1) * D + d) * R + r];
  }
  for (int cix = 0; cix < NC; ++cix) {
    T* const q = cb + ((b * NC + cix) * S) * RD + i;
    const T* const p = psi + ((b * NC + cix) * P) * RD + i;
    const T l0 = q[0];
    q[0] = re;
    if (OMEGA) {
      const T l1 = q[RD];
      q[RD] = im;
      const T p0 = p[0], p1 = p[RD];
      const T nre = p0 * re - p1 * im + l0;
      im = p0 * im + p1 * re + l1;
      re = nre;
    } else {
      re = p[0] * re + l0;
    }
    if (KWN) {
      const T l2 = q[(S - 1) * RD];
      q[(S - 1) * RD] = zz;
      zz = (OMEGA ? p[2 * RD] : p[0]) * zz + l2;
    }
  }
  state[((b * S) * D + d) * R + r] = re;
  if (OMEGA) state[((b * S + 1) * D + d) * R + r] = im;
  if (KWN) state[((b * S + S - 1) * D + d) * R + r] = zz;
}

// Phase 3: the forward's body on segments of segc chunks (see itnet_fwd_body), grid
// (ndt * nseg, B), block and shared memory as scan_fwd; start: phase 2's checkpoints.
template <typename T, bool OMEGA, bool SEL, bool KWN>
__global__ void __launch_bounds__(ITNET_MAX_THREADS, sizeof(T) == 4 ? 2 : 1)
    scan_fwd_chunk(const T* __restrict__ u, const T* __restrict__ dtau, const T* __restrict__ w,
                   const T* __restrict__ Bm, const T* __restrict__ Cm, const T* __restrict__ lam,
                   const T* __restrict__ omega, const T* __restrict__ sel,
                   const T* __restrict__ start, const T* __restrict__ skip, T* __restrict__ y,
                   long long sbB, long long snB, long long sbC, long long snC, int N, int D,
                   int R, int ldt, int G, int vec, int segc, T eps) {
  itnet_fwd_body<T, OMEGA, SEL, KWN, true>(u, dtau, w, Bm, Cm, lam, omega, sel, nullptr, start,
                                           skip, y, nullptr, nullptr, sbB, snB, sbC, snC, N, D, R,
                                           ldt, G, vec, segc, eps);
}

// Fused CUDA kernels of the recurrent scan (spec: itnet_ts/ops/scan_reference.py).
//
//   delta = dtau * sel;  a = exp(-lam delta);  theta = omega delta
//   re_n = a (cos re - sin im) + w B u;  im_n = a (sin re + cos im);  z_n = a z + w
//   y = sum_r C re / (z + eps) + skip u
//
// Layout: a block owns one series b and a tile of Dt = 2^ldt channels; its NT = G * Dt threads are
// (g, dl) = (tid >> ldt, tid & (Dt - 1)), thread (g, dl) keeps the RT poles r = g * RT + j of
// channel d = d0 + dl in registers and runs them sequentially over time, CK steps per tile.
// u, sel, dtau, w, Bm, Cm of a tile are staged in shared memory by cp.async (double buffered,
// coalesced: rows of Dt channels / contiguous Bm rows), each thread writes its partial sum over
// its RT poles to shared memory and the block then writes y coalesced.  Every input is read
// once from global memory, every output written once.  The forward optionally stores the state
// at the start of each CK-step tile ("checkpoints", layout (B, NC, S, R, D)); the backward walks
// the tiles in reverse, recomputes the states of a tile (in sub-tiles of TS steps when shared
// memory is short) from its checkpoint, and runs the adjoint recurrence.
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
  // Accurate sincosf (the fast hardware __sinf has ~4e-7 absolute error, which the recurrence
  // accumulates); a non-finite angle (overflowed omega * delta, where a == 0) counts as 0.
  static ITNET_DEV void sc(float th, float* s, float* c) {
    if (!(fabsf(th) <= 3.40282347e38f)) th = 0.f;
    sincosf(th, s, c);
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

// Asynchronous global -> shared copy of one element (sizeof(T) is 4 or 8).
template <typename T>
ITNET_DEV void itnet_cp_async(T* dst, const T* src) {
#if defined(ITNET_SCAN_CPU_EMU) || !defined(__CUDA_ARCH__) || __CUDA_ARCH__ < 800
  *dst = *src;
#else
  unsigned s;
  asm volatile("{ .reg .u64 p; cvta.to.shared.u64 p, %1; cvt.u32.u64 %0, p; }"
               : "=r"(s)
               : "l"(dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], %2;\n" ::"r"(s), "l"(src), "n"(sizeof(T))
               : "memory");
#endif
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
//   2 * (US * (1 + SEL) + 2 * CK * G * RT + 2 * CK) + NT * (CK + 1) elements of T,
// US = Dt * (CK + 1) rounded up to a multiple of 8.  Per-channel tiles (u, sel, the partial
// outputs) are stored transposed with a padded row, [Dt][CK + 1]: a thread's step t is at a
// compile-time offset and the 32 lanes of a warp hit 32 different banks.
// u (B,N,D), dtau (B,N), w (B,N), Bm (B,N,R), Cm (B,N,R), lam (D,R), omega (D,R), sel (B,N,D),
// s0 (B,S,D,R) or nullptr, skip (D,) or nullptr -> y (B,N,D), state (B,S,D,R),
// ckpt (B,NC,S,R,D) or nullptr.  s0 and skip are runtime (null-pointer) options: they only touch
// the initial load and the output phase, so templating them would only multiply the variants.
// ------------------------------------------------------------------------------------------------
template <typename T, bool OMEGA, bool SEL, bool KWN>
__global__ void __launch_bounds__(ITNET_MAX_THREADS, sizeof(T) == 4 ? 2 : 1)
    scan_fwd(const T* __restrict__ u, const T* __restrict__ dtau, const T* __restrict__ w,
             const T* __restrict__ Bm, const T* __restrict__ Cm, const T* __restrict__ lam,
             const T* __restrict__ omega, const T* __restrict__ sel, const T* __restrict__ s0,
             const T* __restrict__ skip, T* __restrict__ y, T* __restrict__ state,
             T* __restrict__ ckpt, int N, int D, int R, int ldt, int G, T eps) {
  using M = ItnetMath<T>;
  constexpr int RT = ITNET_RT, CK = ITNET_CK;
  constexpr int S = 1 + (OMEGA ? 1 : 0) + (KWN ? 1 : 0);
  const int Dt = 1 << ldt, NT = G << ldt, Rp = G * RT;
  const int tid = threadIdx.x, g = tid >> ldt, dl = tid & (Dt - 1);
  const int d0 = blockIdx.x << ldt, d = d0 + dl;
  const long long b = blockIdx.y;
  const bool dok = d < D;
  const bool S0 = s0 != nullptr, SKIP = skip != nullptr;
  const int NC = (N + CK - 1) / CK;

  ITNET_SMEM_BASE(itnet_smem_raw);
  T* const sm = reinterpret_cast<T*>(itnet_smem_raw);
  constexpr int CP = CK + 1;                              // padded row of a channel tile
  const int US = (Dt * CP + 7) / 8 * 8;                   // elements of one channel tile
  const int buf_elems = US * (SEL ? 2 : 1) + 2 * CK * Rp + 2 * CK;
  T* const part = sm + 2 * buf_elems;  // [NT][CP]

  T c[RT], om[RT], re[RT], im[RT], zz[RT];
#pragma unroll
  for (int j = 0; j < RT; ++j) {
    const int r = g * RT + j;
    const bool ok = dok && r < R;
    c[j] = ok ? M::coef(lam[d * R + r]) : T(0);
    om[j] = (OMEGA && ok) ? omega[d * R + r] : T(0);
    re[j] = (S0 && ok) ? s0[((b * S) * D + d) * R + r] : T(0);
    im[j] = (OMEGA && S0 && ok) ? s0[((b * S + 1) * D + d) * R + r] : T(0);
    zz[j] = (KWN && S0 && ok) ? s0[((b * S + S - 1) * D + d) * R + r] : T(0);
  }

  // Pole columns r >= R of the staged Bm / Cm stay zero (cp.async never writes them).
  for (int i = tid; i < 2 * CK * Rp; i += NT) {
    const int buf = i / (CK * Rp), k = i - buf * CK * Rp;
    if (k % Rp >= R) {
      T* Bs = sm + buf * buf_elems + US * (SEL ? 2 : 1);
      Bs[k] = T(0);
      Bs[CK * Rp + k] = T(0);
    }
  }

  auto issue_tile = [&](int it, T* buf) {
    const int n0 = it * CK;
    T* us = buf;
    T* ss = buf + US;
    T* Bs = buf + US * (SEL ? 2 : 1);
    T* Cs = Bs + CK * Rp;
    T* dts = Cs + CK * Rp;
    T* ws = dts + CK;
    for (int i = tid; i < CK * Dt; i += NT) {
      const int t = i >> ldt, dd = i & (Dt - 1), n = n0 + t, k = dd * CP + t;
      if (n < N && d0 + dd < D) {
        const long long off = (b * N + n) * D + d0 + dd;
        itnet_cp_async(us + k, u + off);
        if (SEL) itnet_cp_async(ss + k, sel + off);
      } else {
        us[k] = T(0);
        if (SEL) ss[k] = T(0);
      }
    }
    const long long rbase = (b * N + n0) * R;
    const int rvalid = (N - n0 < CK ? N - n0 : CK) * R;
    for (int i = tid; i < CK * R; i += NT) {
      const int t = i / R, k = t * Rp + (i - t * R);
      if (i < rvalid) {
        itnet_cp_async(Bs + k, Bm + rbase + i);
        itnet_cp_async(Cs + k, Cm + rbase + i);
      } else {
        Bs[k] = T(0);
        Cs[k] = T(0);
      }
    }
    for (int i = tid; i < CK; i += NT) {
      if (n0 + i < N) {
        itnet_cp_async(dts + i, dtau + b * N + n0 + i);
        itnet_cp_async(ws + i, w + b * N + n0 + i);
      } else {
        dts[i] = T(0);
        ws[i] = T(0);
      }
    }
    itnet_cp_async_commit();
  };

  if (NC > 0) issue_tile(0, sm);
  for (int it = 0; it < NC; ++it) {
    T* const cur = sm + (it & 1) * buf_elems;
    itnet_cp_async_wait_all();
    __syncthreads();  // tile `it` landed; the previous tile's y phase is done with `nxt`, `part`
    if (it + 1 < NC) issue_tile(it + 1, sm + ((it + 1) & 1) * buf_elems);

    if (ckpt != nullptr && dok) {  // state at the start of tile `it`
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

    const T* us = cur;
    const T* up = cur + dl * CP;            // this thread's u row
    const T* sp = cur + US + dl * CP;       // and sel row
    const T* Bs = cur + US * (SEL ? 2 : 1) + g * RT;
    const T* Cs = Bs + CK * Rp;
    const T* dts = cur + US * (SEL ? 2 : 1) + 2 * CK * Rp;
    const T* ws = dts + CK;
    T* const pp = part + tid * CP;
#pragma unroll 4
    for (int t = 0; t < CK; ++t) {
      T delta = dts[t];
      if (SEL) delta *= sp[t];
      const T wv = ws[t];
      const T wu = wv * up[t];
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
      pp[t] = acc;
    }
    __syncthreads();

    const int n0 = it * CK;
    for (int i = tid; i < CK * Dt; i += NT) {
      const int t = i >> ldt, dd = i & (Dt - 1), n = n0 + t;
      if (n < N && d0 + dd < D) {
        T v = T(0);
        for (int gg = 0; gg < G; ++gg) v += part[((gg << ldt) + dd) * CP + t];
        if (SKIP) v += skip[d0 + dd] * us[dd * CP + t];
        y[(b * N + n) * D + d0 + dd] = v;
      }
    }
  }

  if (dok) {
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

// ------------------------------------------------------------------------------------------------
// Backward.  Grid (ndt = ceil(D / Dt), B), block NT = G * Dt threads, sub-tile TS = 2^lts
// (divides CK), dynamic shared memory
//   CK * (Dt * (2 + SEL) + 2 * G * RT + 2) + TS * (SS * RT * NT + NP * NT + 2 * Dt)
// elements of T with SS = max(S, 2), NP = 2 + KWN.  Inputs as the forward plus ckpt (forward's
// checkpoints), gy (B,N,D) and gstate (B,S,D,R) or nullptr.  Outputs (every element written):
//   du (B,N,D), dsel (B,N,D), dBp / dCp (ndt,B,N,R), ddtp / dwp (B,N,ndt),
//   dlamp / domp (B,D,R), dskipp (B,D) (iff skip), ds0 (B,S,D,R) (nullptr: no s0);
// the partials *p are summed over their first / last axis by the host.
// ------------------------------------------------------------------------------------------------
template <typename T, bool OMEGA, bool SEL, bool KWN>
__global__ void __launch_bounds__(ITNET_MAX_THREADS, 1)
    scan_bwd(const T* __restrict__ u, const T* __restrict__ dtau, const T* __restrict__ w,
             const T* __restrict__ Bm, const T* __restrict__ Cm, const T* __restrict__ lam,
             const T* __restrict__ omega, const T* __restrict__ sel, const T* __restrict__ skip,
             const T* __restrict__ ckpt, const T* __restrict__ gy, const T* __restrict__ gstate,
             T* __restrict__ du, T* __restrict__ dsel, T* __restrict__ dBp, T* __restrict__ dCp,
             T* __restrict__ ddtp, T* __restrict__ dwp, T* __restrict__ dlamp,
             T* __restrict__ domp, T* __restrict__ dskipp, T* __restrict__ ds0, int N, int D,
             int R, int ldt, int G, int lts, T eps) {
  using M = ItnetMath<T>;
  constexpr int RT = ITNET_RT, CK = ITNET_CK;
  constexpr int S = 1 + (OMEGA ? 1 : 0) + (KWN ? 1 : 0);
  constexpr int SS = S < 2 ? 2 : S;
  constexpr int NP = KWN ? 3 : 2;
  const int Dt = 1 << ldt, NT = G << ldt, Rp = G * RT, TS = 1 << lts;
  const int tid = threadIdx.x, g = tid >> ldt, dl = tid & (Dt - 1);
  const int d0 = blockIdx.x << ldt, d = d0 + dl;
  const long long b = blockIdx.y, Bn = gridDim.y;
  const int ndt = gridDim.x, dtile = blockIdx.x;
  const bool dok = d < D;
  const bool S0 = ds0 != nullptr, SKIP = skip != nullptr;
  const int NC = (N + CK - 1) / CK;

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

  T c[RT], lm[RT], om[RT], lr[RT], li[RT], mu[RT], glam[RT], gom[RT];
#pragma unroll
  for (int j = 0; j < RT; ++j) {
    const int r = g * RT + j;
    const bool ok = dok && r < R;
    lm[j] = ok ? lam[d * R + r] : T(0);
    c[j] = M::coef(lm[j]);
    om[j] = (OMEGA && ok) ? omega[d * R + r] : T(0);
    const bool gs = ok && gstate != nullptr;
    lr[j] = gs ? gstate[((b * S) * D + d) * R + r] : T(0);
    li[j] = (OMEGA && gs) ? gstate[((b * S + 1) * D + d) * R + r] : T(0);
    mu[j] = (KWN && gs) ? gstate[((b * S + S - 1) * D + d) * R + r] : T(0);
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

  for (int cix = NC - 1; cix >= 0; --cix) {
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
    const long long rbase = (b * N + n0) * R;
    const int rvalid = (N - n0 < CK ? N - n0 : CK) * R;
    for (int i = tid; i < CK * R; i += NT) {
      const int t = i / R, k = t * Rp + (i - t * R);
      in_B[k] = i < rvalid ? Bm[rbase + i] : T(0);
      in_C[k] = i < rvalid ? Cm[rbase + i] : T(0);
    }
    for (int i = tid; i < CK; i += NT) {
      const bool ok = n0 + i < N;
      in_dt[i] = ok ? dtau[b * N + n0 + i] : T(0);
      in_w[i] = ok ? w[b * N + n0 + i] : T(0);
    }
    __syncthreads();

    const T* Bs = in_B + g * RT;
    const T* Cs = in_C + g * RT;
    for (int sub = CK / TS - 1; sub >= 0; --sub) {
      const int ts0 = sub * TS;
      if (n0 + ts0 >= N) continue;  // whole sub-tile is padding: identity for the adjoint

      // Recompute: state at the start of the chunk from its checkpoint, advance to ts0, then
      // store the pre-step state of every step of the sub-tile.
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
      for (int t = 0; t < ts0 + TS; ++t) {
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
#pragma unroll
    for (int j = 0; j < RT; ++j) {
      const int r = g * RT + j;
      if (r < R) {
        dlamp[(b * D + d) * R + r] = glam[j];
        if (OMEGA) domp[(b * D + d) * R + r] = gom[j];
        if (S0) {
          ds0[((b * S) * D + d) * R + r] = lr[j];
          if (OMEGA) ds0[((b * S + 1) * D + d) * R + r] = li[j];
          if (KWN) ds0[((b * S + S - 1) * D + d) * R + r] = mu[j];
        }
      }
    }
    if (SKIP && g == 0) dskipp[b * D + d] = gskip;
  }
}

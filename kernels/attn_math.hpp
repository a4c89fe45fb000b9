// The per-element math that the CPU reference and the CUDA backend share (DESIGN §1–2).
// Compiles under g++ (plain inline functions) and nvcc (__host__ __device__), so both
// backends draw the same random numbers and apply the same update and model formulas.
// No CUDA header is included here: ATTN_HD expands to nothing outside nvcc.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define ATTN_HD __host__ __device__ __forceinline__
#else
#define ATTN_HD inline
#endif

namespace attnswarm {

// ---------------------------------------------------------------- Philox4x32-10
// Salmon et al., "Parallel random numbers: as easy as 1, 2, 3" (SC'11); checked against the
// Random123 known-answer vectors in tests/test_math.cpp.
struct philox_ctr {
  uint32_t v[4];
};
struct philox_key {
  uint32_t v[2];
};

namespace detail {
constexpr uint32_t philox_m0 = 0xD2511F53u;
constexpr uint32_t philox_m1 = 0xCD9E8D57u;
constexpr uint32_t philox_w0 = 0x9E3779B9u;
constexpr uint32_t philox_w1 = 0xBB67AE85u;

ATTN_HD void mulhilo32(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t product = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  hi = static_cast<uint32_t>(product >> 32);
  lo = static_cast<uint32_t>(product);
}

ATTN_HD philox_ctr philox_round(philox_ctr c, philox_key k) {
  uint32_t hi0, lo0, hi1, lo1;
  mulhilo32(philox_m0, c.v[0], hi0, lo0);
  mulhilo32(philox_m1, c.v[2], hi1, lo1);
  return philox_ctr{{hi1 ^ c.v[1] ^ k.v[0], lo1, hi0 ^ c.v[3] ^ k.v[1], lo0}};
}
}  // namespace detail

ATTN_HD philox_ctr philox4x32_10(philox_ctr c, philox_key k) {
  c = detail::philox_round(c, k);
  for (int round = 1; round < 10; ++round) {
    k.v[0] += detail::philox_w0;
    k.v[1] += detail::philox_w1;
    c = detail::philox_round(c, k);
  }
  return c;
}

ATTN_HD philox_key philox_key_from_seed(uint64_t seed) {
  return philox_key{{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)}};
}

// A 32-bit draw as a double in [0, 1): exact (32 bits fit in the 53-bit mantissa).
ATTN_HD double uniform_from_bits(uint32_t bits) { return static_cast<double>(bits) * 0x1p-32; }

// The swarm's stream (DESIGN §2): a pure function of (seed, t, p, d). Iteration t = 0 is
// the initialisation.
struct swarm_uniforms {
  double u1, u2;
};
ATTN_HD swarm_uniforms swarm_draw(uint64_t seed, uint32_t t, uint32_t p, uint32_t d) {
  const philox_ctr r = philox4x32_10(philox_ctr{{t, p, d, 0u}}, philox_key_from_seed(seed));
  return swarm_uniforms{uniform_from_bits(r.v[0]), uniform_from_bits(r.v[1])};
}

// ---------------------------------------------------------------- swarm update
struct pso_coeffs {
  double omega, c1, c2;
  double v_max;       // |v| <= v_max
  double x_lo, x_hi;  // positions are clamped to [x_lo, x_hi]
};

// One coordinate of one particle. fma() is spelled out so that g++ and nvcc round the same
// way (neither may contract differently), which keeps CPU and CUDA trajectories identical.
ATTN_HD void pso_update(double& x, double& v, double pbest, double nbest, swarm_uniforms u,
                        const pso_coeffs& c) {
  double nv = c.omega * v;
  nv = fma(c.c1 * u.u1, pbest - x, nv);
  nv = fma(c.c2 * u.u2, nbest - x, nv);
  nv = fmin(fmax(nv, -c.v_max), c.v_max);
  double nx = x + nv;
  if (nx > c.x_hi) {
    nx = c.x_hi;
    nv = 0.0;
  } else if (nx < c.x_lo) {
    nx = c.x_lo;
    nv = 0.0;
  }
  x = nx;
  v = nv;
}

// Index of the best personal best among particle p's ring neighbours p-1, p, p+1 (of n),
// the lowest index on ties: the same choice on the host and on the device.
ATTN_HD int ring_best(const double* pbest_f, int n, int p) {
  const int cand[3] = {(p + n - 1) % n, p, (p + 1) % n};
  int best = cand[0];
  for (int k = 1; k < 3; ++k) {
    const int q = cand[k];
    if (pbest_f[q] < pbest_f[best] || (pbest_f[q] == pbest_f[best] && q < best)) best = q;
  }
  return best;
}

// Initial position in [lo, hi) and velocity in [-v_max, v_max) from the t = 0 draws.
ATTN_HD void pso_init(double& x, double& v, swarm_uniforms u, double init_lo, double init_hi,
                      double v_max) {
  x = fma(init_hi - init_lo, u.u1, init_lo);
  v = v_max * fma(2.0, u.u2, -1.0);
}

// ---------------------------------------------------------------- the model (DESIGN §1)
// log of the shape weight F^(1/tau) * A^beta; -inf where the pair gets no attention
// (F = 0, or A = 0 with beta > 0; A^0 = 1 even for A = 0).
ATTN_HD double shape_log_weight(double f, double a, double inv_tau, double beta) {
  if (!(f > 0.0)) return -HUGE_VAL;
  double lw = inv_tau * log(f);
  if (beta != 0.0) {
    if (!(a > 0.0)) return -HUGE_VAL;
    lw = fma(beta, log(a), lw);
  }
  return lw;
}

// The row-normalization weight once the row's largest log-weight is subtracted, so every
// weight is <= exp(w) and nothing overflows whatever tau and beta.
ATTN_HD double shape_weight(double log_weight, double row_max_log_weight, double w) {
  return log_weight == -HUGE_VAL ? 0.0 : exp(log_weight - row_max_log_weight + w);
}

// The plain shape (tau = 1, beta = 0) needs no log or exp: G0 = F / max F.
ATTN_HD bool plain_shape(double inv_tau, double beta) { return inv_tau == 1.0 && beta == 0.0; }

// A row of G0 in two per-element steps, so that a kernel whose threads share one row (a warp
// over the tasks) computes exactly what shape_row() does: the row's `top` is the largest
// shape_key(), and shape_from_key(key, top) is then G0 (its largest entry 1). The key is F
// itself for the plain shape, else the log-weight; -inf where the pair gets no attention, so
// a row whose top is -inf is idle under this shape.
ATTN_HD double shape_key(double f, double a, double inv_tau, double beta) {
  if (plain_shape(inv_tau, beta)) return f > 0.0 ? f : -HUGE_VAL;
  return shape_log_weight(f, a, inv_tau, beta);
}
ATTN_HD double shape_from_key(double key, double top, double inv_tau, double beta) {
  if (key == -HUGE_VAL) return 0.0;
  return plain_shape(inv_tau, beta) ? key / top : shape_weight(key, top, 0.0);
}

// One user's row of G0 = F^(1/tau) * A^beta, scaled so that its largest entry is 1 (all 0
// for a user with no eligible task under this shape). Returns whether any entry is > 0.
template <typename T>
ATTN_HD bool shape_row(const T* f, const T* a, int m, double inv_tau, double beta, double* g0) {
  double top = -HUGE_VAL;
  for (int j = 0; j < m; ++j) {
    g0[j] = shape_key(f[j], a[j], inv_tau, beta);
    top = fmax(top, g0[j]);
  }
  for (int j = 0; j < m; ++j) g0[j] = shape_from_key(g0[j], top, inv_tau, beta);
  return top != -HUGE_VAL;
}

// One user's term of the dual bound (DESIGN §1, "Certified upper bound") at prices lambda:
//   exact  = max(0, max_{j: F_j > 0} (A_j - lambda_j))
//   smooth = gamma * log(1 + sum_{j: F_j > 0} exp((A_j - lambda_j) / gamma))   (>= exact)
// and p_j, the derivative of smooth with respect to -lambda_j (a softmax share, 0 where
// ineligible). Computed around the row maximum so nothing overflows for small gamma.
template <typename T>
ATTN_HD void dual_row(const T* f, const T* a, int m, const double* lambda, double gamma, double* p,
                      double& exact, double& smooth) {
  double top = 0.0;
  for (int j = 0; j < m; ++j)
    if (f[j] > T(0) && static_cast<double>(a[j]) - lambda[j] > top) top = static_cast<double>(a[j]) - lambda[j];
  // Terms below exp(-50) cannot change a sum that is >= 1 in float64; skipping them also
  // keeps exp() off its slow underflow path when gamma is small.
  const double inv_gamma = 1.0 / gamma;
  const double z0 = -top * inv_gamma;
  double sum = z0 > -50.0 ? exp(z0) : 0.0;  // the "0" option
  for (int j = 0; j < m; ++j) {
    const double z = (static_cast<double>(a[j]) - lambda[j] - top) * inv_gamma;
    p[j] = f[j] > T(0) && z > -50.0 ? exp(z) : 0.0;
    sum += p[j];
  }
  for (int j = 0; j < m; ++j) p[j] /= sum;
  exact = top;
  smooth = top + gamma * log(sum);
}

// Share of the attention sent to a task that it can serve: min(1, cap / L), 1 when L = 0.
ATTN_HD double capacity_factor(double capacity, double load) {
  if (!(load > 0.0) || !(capacity < load)) return 1.0;
  return capacity / load;
}

// U = sum_j capacity_factor(cap_j, L_j) V_j over m tasks, in task order: the served
// utilization of an allocation with per-task loads L and utilizations V.
ATTN_HD double served_utilization(const double* capacity, const double* load, const double* value, int m) {
  double u = 0.0;
  for (int j = 0; j < m; ++j) u += capacity_factor(capacity[j], load[j]) * value[j];
  return u;
}

// The power of two that brings `largest` into [1, 2) (1 when largest is 0, or not finite).
// The batched evaluation multiplies masses and attractions by such factors before its float32
// products and divides them out of the float64 sums: exact (powers of two only move the
// exponent), so results are unchanged, but products and partial sums stay far from float32's
// overflow and underflow however large or small the data are.
ATTN_HD double float32_scale(double largest) {
  if (!(largest > 0.0) || !(largest < HUGE_VAL)) return 1.0;
  int exponent = 0;
  frexp(largest, &exponent);  // largest = f * 2^exponent, f in [0.5, 1)
  return ldexp(1.0, 1 - exponent);
}

// U from the batched evaluation's per-task sums, which saw r scaled by mass_scale and A by
// value_scale: the sums are unscaled in place (exactly), then served_utilization().
ATTN_HD double served_from_scaled_sums(const double* capacity, double* load, double* value, int m, double mass_scale,
                                       double value_scale) {
  const double load_unit = 1.0 / mass_scale, value_unit = load_unit / value_scale;
  for (int j = 0; j < m; ++j) {
    load[j] *= load_unit;
    value[j] *= value_unit;
  }
  return served_utilization(capacity, load, value, m);
}

}  // namespace attnswarm

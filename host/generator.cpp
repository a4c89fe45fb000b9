// Work split: users in blocks of k_block rows; OpenMP threads fill a block's rows in
// parallel, then the block is appended to the .npy files and its baseline loads are added in
// row order (so capacities do not depend on the thread count).
#include "generator.hpp"

#include <cmath>
#include <stdexcept>
#include <vector>

#include "../kernels/attn_math.hpp"
#include "errors.hpp"
#include "npy.hpp"
#include "problem.hpp"
#include "staged_dir.hpp"

namespace attnswarm {

namespace {

constexpr int k_latent = 8;
constexpr std::int64_t k_block = 16384;
constexpr double k_two_pi = 6.283185307179586;

enum stream : std::uint32_t { user_stream = 1, task_stream = 2, pair_stream = 3, pop_stream = 4 };

struct draw4 {
  double u[4];
};

draw4 draw(std::uint64_t seed, std::uint32_t stream_id, std::uint64_t i, std::uint32_t j) {
  const philox_ctr r = philox4x32_10(
      philox_ctr{{static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(i >> 32), j, stream_id}},
      philox_key_from_seed(seed));
  return draw4{{uniform_from_bits(r.v[0]), uniform_from_bits(r.v[1]), uniform_from_bits(r.v[2]),
                uniform_from_bits(r.v[3])}};
}

// Box-Muller on two uniforms in [0, 1).
double normal(double u1, double u2) { return std::sqrt(-2.0 * std::log1p(-u1)) * std::cos(k_two_pi * u2); }

double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

}  // namespace

generator_summary generate_bundle(const generator_options& o, const std::string& out_dir) {
  if (o.users < 0) throw input_error("generate: --users must be >= 0");
  if (o.tasks < 1) throw input_error("generate: --tasks must be >= 1");
  if (o.segments < 1 || o.segments > 4096) throw input_error("generate: --segments must be in [1, 4096]");
  if (!(o.capacity_ratio > 0.0)) throw input_error("generate: --capacity-ratio must be > 0 (or inf)");
  const std::int64_t n = o.users, m = o.tasks;
  const int segs = o.segments;
  // before any work or allocation: a target that cannot take the bundle (too little space, a
  // file attnswarm did not write) is refused at once, and no per-task table is sized from an
  // --tasks that no disk could hold
  staged_dir out(out_dir, k_bundle_outputs);
  out.require_space(static_cast<double>(n) * (2.0 * 4.0 * static_cast<double>(m) + 8.0 + 4.0) +
                    8.0 * static_cast<double>(m));

  std::vector<double> task_factor(static_cast<std::size_t>(m * k_latent)), quality(m), cap_factor(m);
  for (std::int64_t j = 0; j < m; ++j) {
    for (int k = 0; k < k_latent; k += 2) {
      const draw4 d = draw(o.seed, task_stream, static_cast<std::uint64_t>(j), static_cast<std::uint32_t>(k));
      task_factor[j * k_latent + k] = normal(d.u[0], d.u[1]);
      task_factor[j * k_latent + k + 1] = normal(d.u[2], d.u[3]);
    }
    const draw4 d = draw(o.seed, task_stream, static_cast<std::uint64_t>(j), k_latent);
    quality[j] = 0.5 * normal(d.u[0], d.u[1]);
    cap_factor[j] = std::exp(0.5 * normal(d.u[2], d.u[3]) - 0.25);
  }
  std::vector<double> popularity(static_cast<std::size_t>(segs * m));
  for (int s = 0; s < segs; ++s)
    for (std::int64_t j = 0; j < m; ++j) {
      const draw4 d = draw(o.seed, pop_stream, static_cast<std::uint64_t>(s), static_cast<std::uint32_t>(j));
      popularity[s * m + j] = 0.7 * normal(d.u[0], d.u[1]);
    }

  npy_writer fitness(out.path("fitness.npy"), dtype::f32, {n, m});
  npy_writer attraction(out.path("attraction.npy"), dtype::f32, {n, m});
  npy_writer mass(out.path("mass.npy"), dtype::f64, {n});
  npy_writer segment(out.path("segment.npy"), dtype::i32, {n});

  std::vector<float> fb(static_cast<std::size_t>(k_block * m)), ab(fb.size());
  std::vector<double> rb(k_block), base(static_cast<std::size_t>(k_block * m));
  std::vector<std::int32_t> sb(k_block);
  std::vector<double> load(m, 0.0);
  std::int64_t idle = 0, eligible = 0;
  for (std::int64_t b0 = 0; b0 < n; b0 += k_block) {
    const std::int64_t rows = std::min(k_block, n - b0);
#pragma omp parallel for schedule(static)
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::uint64_t i = static_cast<std::uint64_t>(b0 + r);
      double uf[k_latent];
      for (int k = 0; k < k_latent; k += 2) {
        const draw4 d = draw(o.seed, user_stream, i, static_cast<std::uint32_t>(k));
        uf[k] = normal(d.u[0], d.u[1]);
        uf[k + 1] = normal(d.u[2], d.u[3]);
      }
      const draw4 d = draw(o.seed, user_stream, i, k_latent);
      const int s = std::min(segs - 1, static_cast<int>(d.u[0] * segs));
      const double r_i = std::exp(0.5 * normal(d.u[1], d.u[2]) - 0.125);  // lognormal, mean 1
      sb[r] = s;
      rb[r] = r_i;
      double rowsum = 0.0;
      for (std::int64_t j = 0; j < m; ++j) {
        double z = 0.0;
        for (int k = 0; k < k_latent; ++k) z += uf[k] * task_factor[j * k_latent + k];
        z /= std::sqrt(static_cast<double>(k_latent));
        const draw4 e = draw(o.seed, pair_stream, i, static_cast<std::uint32_t>(j));
        const bool ok = e.u[0] < sigmoid(1.0 + 1.5 * z);
        float f = 0.0f, a = 0.0f;
        if (ok) {
          f = static_cast<float>(std::exp(0.8 * z + popularity[s * m + j] + 0.3 * normal(e.u[1], e.u[2])));
          a = static_cast<float>(sigmoid(-2.0 + 0.4 * z + quality[j] + 0.8 * normal(e.u[3], e.u[1])));
        }
        fb[r * m + j] = f;
        ab[r * m + j] = a;
        rowsum += f;
      }
      for (std::int64_t j = 0; j < m; ++j)
        base[r * m + j] = rowsum > 0.0 ? r_i * fb[r * m + j] / rowsum : 0.0;
    }
    for (std::int64_t r = 0; r < rows; ++r) {
      bool any = false;
      for (std::int64_t j = 0; j < m; ++j) {
        load[j] += base[r * m + j];
        if (fb[r * m + j] > 0.0f) {
          any = true;
          ++eligible;
        }
      }
      idle += any ? 0 : 1;
    }
    fitness.write(fb.data(), rows * m);
    attraction.write(ab.data(), rows * m);
    mass.write(rb.data(), rows);
    segment.write(sb.data(), rows);
  }
  fitness.finish();
  attraction.finish();
  mass.finish();
  segment.finish();

  generator_summary sum;
  sum.idle_users = idle;
  sum.eligible_fraction = n > 0 ? static_cast<double>(eligible) / static_cast<double>(n * m) : 0.0;
  if (std::isfinite(o.capacity_ratio)) {
    std::vector<double> cap(m);
    for (std::int64_t j = 0; j < m; ++j) {
      cap[j] = load[j] > 0.0 ? o.capacity_ratio * load[j] * cap_factor[j]
                             : std::numeric_limits<double>::infinity();
      if (load[j] > cap[j]) ++sum.overloaded_tasks;
    }
    write_npy(out.path("capacity.npy"), dtype::f64, {m}, cap.data());
  }
  out.commit();
  return sum;
}

}  // namespace attnswarm

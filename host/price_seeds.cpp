#include "price_seeds.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace attnswarm {

std::vector<double> price_margins(const problem& p, backend& b, const bound_result& bound) {
  const std::size_t m = static_cast<std::size_t>(p.tasks);
  std::vector<double> margins(m, 0.0);
  const bool priced = std::any_of(bound.prices.begin(), bound.prices.end(), [](double l) { return l > 0.0; });
  if (bound.prices.size() != m || !priced) return margins;
  double total_mass = 0.0;
  for (double r : p.mass) total_mass += r;
  // sharp enough that the soft allocation is the LP's choice up to near-ties: a hundredth of
  // the mean attraction a user's best task has at the prices
  const double gamma = 0.01 * std::max(bound.upper_bound, 1e-300) / std::max(total_mass, 1e-300);
  const dual_sums s = b.dual_pass(bound.prices.data(), gamma);
  for (std::size_t j = 0; j < m; ++j) {
    const double lambda = bound.prices[j];
    if (!(lambda > 0.0)) continue;
    const double unit_value = s.soft_load[j] > 0.0 ? s.soft_value[j] / s.soft_load[j] : 0.0;
    margins[j] = lambda < unit_value ? std::log1p(-lambda / unit_value) : -std::numeric_limits<double>::infinity();
  }
  return margins;
}

std::vector<double> price_seed_scales() {
  // 2^(k/2 - 2) for k = 0..20: 1/4 to 256 in steps of sqrt(2), the even rungs exact
  std::vector<double> c;
  for (int k = 0; k <= 20; ++k) c.push_back(std::ldexp(k % 2 == 0 ? 1.0 : std::sqrt(2.0), k / 2 - 2));
  return c;
}

std::vector<double> price_seed_policies(const std::vector<double>& margins, int segments, double w_max) {
  const std::size_t m = margins.size();
  std::vector<double> out;
  for (double c : price_seed_scales()) {
    double top = -std::numeric_limits<double>::infinity();
    for (double g : margins) top = std::max(top, c * g);
    for (int s = 0; s < segments; ++s)
      for (std::size_t j = 0; j < m; ++j) {
        const double w = c * margins[j] - top + w_max;  // -inf - finite stays -inf: clamped below
        out.push_back(std::clamp(std::isnan(w) ? -w_max : w, -w_max, w_max));
      }
  }
  return out;
}

price_seed best_price_seed(backend& b, const std::vector<double>& margins, int segments, double w_max) {
  price_seed best;
  if (std::all_of(margins.begin(), margins.end(), [](double g) { return g == 0.0; })) return best;
  const std::vector<double> policies = price_seed_policies(margins, segments, w_max);
  const std::vector<double> scales = price_seed_scales();
  const int count = static_cast<int>(scales.size());
  std::vector<double> served(scales.size());
  b.evaluate(policies.data(), count, served.data());
  const int k = static_cast<int>(std::max_element(served.begin(), served.end()) - served.begin());
  const std::size_t dims = margins.size() * static_cast<std::size_t>(segments);
  best.policy.assign(policies.begin() + k * dims, policies.begin() + (k + 1) * dims);
  best.served = served[k];
  best.scale = scales[k];
  return best;
}

}  // namespace attnswarm

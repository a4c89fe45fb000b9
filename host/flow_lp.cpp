// Successive shortest paths on the network source -> users -> tasks -> sink. Arc costs are
// -A_ij on user -> task arcs and 0 elsewhere; the source's arcs carry r_i, the sink's cap_j.
// Potentials pi (shortest distances from the source) keep every residual arc's reduced cost
// nonnegative, so each search is a Dijkstra; the flow stops growing once the cheapest path
// to the sink costs >= 0 (more attention would earn nothing). At that point, with
// pi(sink) = pi(source), lambda_j = max(0, pi(sink) - pi(task j)) and
// u_i = max(0, pi(user i) - pi(sink)) satisfy u_i + lambda_j >= A_ij on every eligible pair
// and complementary slackness with the flow: optimal LP prices.
#include "flow_lp.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <queue>
#include <utility>

namespace attnswarm {

namespace {

// The work of the flow, about one search over the N x M pairs per user and task: (N + M) N M.
// Cheap: up to 2^24, a few tenths of a second; refused past 2^32, about a minute.
constexpr double k_flow_budget = 16777216.0;   // 2^24
constexpr double k_flow_most = 4294967296.0;  // 2^32

constexpr double k_inf = std::numeric_limits<double>::infinity();

struct arc {
  int to;
  int reverse;      // its partner's index in g[to]
  double residual;  // capacity left; the partner's residual is this arc's flow
  double cost;
};

class network {
 public:
  explicit network(int nodes) : g_(static_cast<std::size_t>(nodes)) {}

  void add_arc(int from, int to, double capacity, double cost) {
    g_[from].push_back({to, static_cast<int>(g_[to].size()), capacity, cost});
    g_[to].push_back({from, static_cast<int>(g_[from].size()) - 1, 0.0, -cost});
  }

  std::vector<arc>& out(int v) { return g_[static_cast<std::size_t>(v)]; }
  int nodes() const { return static_cast<int>(g_.size()); }

  // Shortest reduced-cost distances from `from` over residual arcs (k_inf: unreachable) and
  // the arc each node was reached by (its tail and index there). With until >= 0 the search
  // ends once that node is settled: the nodes left then hold distances >= its own, all that
  // the potentials' update (capped at the sink's distance) needs.
  void shortest_paths(int from, const std::vector<double>& pi, std::vector<double>& dist,
                      std::vector<std::pair<int, int>>& via, int until) {
    dist.assign(g_.size(), k_inf);
    via.assign(g_.size(), {-1, -1});
    using entry = std::pair<double, int>;
    std::priority_queue<entry, std::vector<entry>, std::greater<>> heap;
    dist[static_cast<std::size_t>(from)] = 0.0;
    heap.push({0.0, from});
    while (!heap.empty()) {
      const auto [d, u] = heap.top();
      heap.pop();
      if (d > dist[static_cast<std::size_t>(u)]) continue;
      if (u == until) break;
      const auto& arcs = g_[static_cast<std::size_t>(u)];
      for (int k = 0; k < static_cast<int>(arcs.size()); ++k) {
        const arc& e = arcs[static_cast<std::size_t>(k)];
        if (!(e.residual > 0.0)) continue;
        // >= 0 in exact arithmetic; rounding may leave it an ulp below
        const double reduced = std::max(0.0, e.cost + pi[static_cast<std::size_t>(u)] - pi[static_cast<std::size_t>(e.to)]);
        const double nd = d + reduced;
        if (nd < dist[static_cast<std::size_t>(e.to)]) {
          dist[static_cast<std::size_t>(e.to)] = nd;
          via[static_cast<std::size_t>(e.to)] = {u, k};
          heap.push({nd, e.to});
        }
      }
    }
  }

 private:
  std::vector<std::vector<arc>> g_;
};

double flow_work(const problem& p) {
  const double n = static_cast<double>(p.users), m = static_cast<double>(p.tasks);
  return (n + m) * n * m;
}

}  // namespace

bool flow_lp_is_cheap(const problem& p) { return flow_work(p) <= k_flow_budget; }
bool flow_lp_is_feasible(const problem& p) { return flow_work(p) <= k_flow_most; }

std::optional<flow_lp_solution> solve_flow_lp(const problem& p, const std::function<bool()>& stop) {
  const int n = static_cast<int>(p.users), m = static_cast<int>(p.tasks);
  const int source = 0, sink = n + m + 1;
  const auto user = [](int i) { return 1 + i; };
  const auto task = [n](int j) { return 1 + n + j; };
  network g(n + m + 2);
  // the initial potentials: exact distances from the source, the network being acyclic
  std::vector<double> pi(static_cast<std::size_t>(g.nodes()), 0.0);
  std::vector<double> f(static_cast<std::size_t>(m)), a(static_cast<std::size_t>(m));
  for (int i = 0; i < n; ++i) {
    const double r = p.mass[static_cast<std::size_t>(i)];
    if (!(r > 0.0)) continue;
    p.fitness_row(i, f.data());
    p.attraction_row(i, a.data());
    bool any = false;
    for (int j = 0; j < m; ++j) {
      // a pair that earns nothing never carries flow in an optimum: left out
      if (!(f[static_cast<std::size_t>(j)] > 0.0) || !(a[static_cast<std::size_t>(j)] > 0.0)) continue;
      if (!any) g.add_arc(source, user(i), r, 0.0);
      any = true;
      // uncapacitated (the source's arc limits it to r_i anyway): a saturated one would lose
      // the reduced-cost condition that makes the potentials feasible prices
      g.add_arc(user(i), task(j), k_inf, -a[static_cast<std::size_t>(j)]);
      auto& pj = pi[static_cast<std::size_t>(task(j))];
      pj = std::min(pj, -a[static_cast<std::size_t>(j)]);
    }
  }
  for (int j = 0; j < m; ++j) {
    g.add_arc(task(j), sink, p.capacity[static_cast<std::size_t>(j)], 0.0);
    pi[sink] = std::min(pi[sink], pi[static_cast<std::size_t>(task(j))]);
  }

  flow_lp_solution sol;
  // Each augmentation saturates a source arc, a sink arc or empties a user -> task arc; the
  // first two happen at most n + m times, and a run far past that is rounding going around.
  const int most_augmentations = 8 * (n + m) + 64;
  std::vector<double> dist;
  std::vector<std::pair<int, int>> via;
  const auto raise_potentials = [&](double most) {
    for (std::size_t v = 0; v < pi.size(); ++v) pi[v] += std::min(dist[v], most);
  };
  for (;;) {
    if (stop()) return std::nullopt;
    g.shortest_paths(source, pi, dist, via, sink);
    if (!(dist[sink] < k_inf)) {
      // No path left. No residual arc leads from what the search reached to the rest, so
      // raising the rest keeps every reduced cost >= 0; raised enough, pi(sink) >= pi(source)
      // as the last step below needs.
      const double lift = std::max(0.0, pi[source] - pi[sink]);
      for (std::size_t v = 0; v < pi.size(); ++v)
        if (!(dist[v] < k_inf)) pi[v] += lift;
      break;
    }
    raise_potentials(dist[sink]);
    if (pi[sink] - pi[source] >= 0.0) break;  // the cheapest path to the sink earns nothing
    double push = k_inf;
    for (int v = sink; v != source; v = via[static_cast<std::size_t>(v)].first) {
      const auto [u, k] = via[static_cast<std::size_t>(v)];
      push = std::min(push, g.out(u)[static_cast<std::size_t>(k)].residual);
    }
    for (int v = sink; v != source; v = via[static_cast<std::size_t>(v)].first) {
      const auto [u, k] = via[static_cast<std::size_t>(v)];
      arc& e = g.out(u)[static_cast<std::size_t>(k)];
      e.residual -= push;
      g.out(e.to)[static_cast<std::size_t>(e.reverse)].residual += push;
    }
    if (++sol.augmentations > most_augmentations) return std::nullopt;
  }
  // The prices need pi(sink) = pi(source) as well: the flow's amount is free, as if a 0-cost
  // arc ran from the sink back to the source in both directions. With that arc, distances
  // from the sink make the potentials fit; at an optimum no path from the sink to the source
  // costs less than 0, so the source ends at the sink's potential. Nodes not reached rise by
  // the largest distance, which keeps the arcs between them and the rest >= 0.
  g.add_arc(sink, source, k_inf, 0.0);
  g.shortest_paths(sink, pi, dist, via, -1);
  double farthest = 0.0;
  for (double d : dist)
    if (d < k_inf) farthest = std::max(farthest, d);
  raise_potentials(farthest);

  for (int i = 0; i < n; ++i)
    for (const arc& e : g.out(user(i)))
      if (e.cost < 0.0) sol.value += g.out(e.to)[static_cast<std::size_t>(e.reverse)].residual * -e.cost;
  sol.prices.assign(static_cast<std::size_t>(m), 0.0);
  for (int j = 0; j < m; ++j)
    if (std::isfinite(p.capacity[static_cast<std::size_t>(j)]))
      sol.prices[static_cast<std::size_t>(j)] = std::max(0.0, pi[sink] - pi[static_cast<std::size_t>(task(j))]);
  return sol;
}

}  // namespace attnswarm

// The shape search (host/shape_search.hpp): its lattice, the screen by price ladders, the
// swarms on the best-ranked shapes and the climb from the best, on synthetic scores (on a
// generated instance: tests/test_price_seeds.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <string>
#include <utility>

#include "shape_search.hpp"

namespace attnswarm {
namespace {

// The shape search goes past its grid one step at a time, next to the best shape, and only
// where that shape lies on the edge of its own row or column of what was tried.
std::vector<shape_trial> trials(const std::vector<shape>& shapes) {
  std::vector<shape_trial> t;
  for (const shape& s : shapes) t.push_back(shape_trial{s, std::nullopt, std::nullopt});
  return t;
}
bool holds(const std::vector<shape>& shapes, double tau, double beta) {
  for (const shape& s : shapes)
    if (s.tau == tau && s.beta == beta) return true;
  return false;
}

TEST(ShapeSearch, GoesPastTheGridsEdgeNextToTheBest) {
  const auto grid = trials(shape_grid(std::nullopt, std::nullopt));  // tau 1, 1/2, 1/4 x beta 0, 1, 2, 4
  // inside the grid: nowhere to go
  EXPECT_TRUE(shapes_past_the_edge(grid, shape{0.5, 2.0}, true, true).empty());
  // the largest beta and the largest tau: both ways out
  auto next = shapes_past_the_edge(grid, shape{1.0, 4.0}, true, true);
  EXPECT_EQ(next.size(), 2u);
  EXPECT_TRUE(holds(next, 1.0, 8.0));
  EXPECT_TRUE(holds(next, 2.0, 4.0));
  // the smallest tau, beta 0: only down in tau (beta 0 is the grid's smallest, not an edge to extend)
  next = shapes_past_the_edge(grid, shape{0.25, 0.0}, true, true);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_TRUE(holds(next, 0.125, 0.0));
  // a fixed parameter is never moved
  next = shapes_past_the_edge(grid, shape{1.0, 4.0}, false, true);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_TRUE(holds(next, 1.0, 8.0));
  EXPECT_TRUE(shapes_past_the_edge(grid, shape{1.0, 4.0}, false, false).empty());
}

TEST(ShapeSearch, TheEdgeIsAlongTheBestShapesOwnRowAndColumn) {
  // (1, 8) was tried and lost to (2, 4): beta 4 is still the edge of tau 2's column
  auto tried = trials(shape_grid(std::nullopt, std::nullopt));
  tried.push_back(shape_trial{shape{1.0, 8.0}, std::nullopt, std::nullopt});
  tried.push_back(shape_trial{shape{2.0, 4.0}, std::nullopt, std::nullopt});
  const auto next = shapes_past_the_edge(tried, shape{2.0, 4.0}, true, true);
  EXPECT_EQ(next.size(), 2u);
  EXPECT_TRUE(holds(next, 2.0, 8.0));
  EXPECT_TRUE(holds(next, 4.0, 4.0));
  // nothing tried twice, nothing past the limits
  tried.push_back(shape_trial{shape{2.0, 8.0}, std::nullopt, std::nullopt});
  EXPECT_EQ(shapes_past_the_edge(tried, shape{2.0, 4.0}, true, true).size(), 1u);
  const auto at_limits = trials({shape{k_max_search_tau, k_max_search_beta}, shape{k_min_search_tau, k_max_search_beta}});
  EXPECT_TRUE(shapes_past_the_edge(at_limits, shape{k_max_search_tau, k_max_search_beta}, true, true).empty());
  EXPECT_TRUE(shapes_past_the_edge(at_limits, shape{k_min_search_tau, k_max_search_beta}, true, true).empty());
}


TEST(ShapeSearch, NeighboursAreOneStepOnTheLattice) {
  auto next = shape_neighbours(shape{1.0, 0.0}, true, true);
  ASSERT_EQ(next.size(), 3u);  // beta 0 has no smaller neighbour; 1 is its larger one
  EXPECT_TRUE(holds(next, 1.0, 1.0));
  EXPECT_TRUE(holds(next, 2.0, 0.0));
  EXPECT_TRUE(holds(next, 0.5, 0.0));
  next = shape_neighbours(shape{0.5, 1.0}, true, true);
  ASSERT_EQ(next.size(), 4u);
  EXPECT_TRUE(holds(next, 0.5, 0.0));
  EXPECT_TRUE(holds(next, 0.5, 2.0));
  next = shape_neighbours(shape{k_max_search_tau, k_max_search_beta}, true, true);
  ASSERT_EQ(next.size(), 2u);  // nothing past the limits
  EXPECT_TRUE(holds(next, k_max_search_tau, 0.5 * k_max_search_beta));
  EXPECT_TRUE(holds(next, 0.5 * k_max_search_tau, k_max_search_beta));
  EXPECT_EQ(shape_neighbours(shape{k_min_search_tau, 4.0}, true, false).size(), 1u);  // tau x 2 only
  EXPECT_TRUE(shape_neighbours(shape{1.0, 4.0}, false, false).empty());
}

// Scores on the lattice: beta's index (0, 1, 2, 4, 8, ... -> 0, 1, 2, 3, 4, ...) and
// log2 tau, each shape's distance from a peak.
double beta_index(double beta) { return beta == 0.0 ? 0.0 : 1.0 + std::log2(beta); }
std::function<double(const shape&)> peak_at(double tau, double beta) {
  return [=](const shape& s) {
    return 100.0 - 10.0 * std::abs(beta_index(s.beta) - beta_index(beta)) - std::abs(std::log2(s.tau / tau));
  };
}

// Synthetic steps: the screen and the swarm serve what their landscapes say; counts calls.
struct synthetic {
  std::function<double(const shape&)> ladder, swarm;
  bool priced = true;
  int stop_after_screens = -1;  // stopped() once this many shapes were screened; -1: never
  int screens = 0, swarms = 0;
  shape_search_steps steps() {
    shape_search_steps st;
    st.screen = [this](const shape& s) -> std::optional<double> {
      ++screens;
      return priced ? std::optional<double>(ladder(s)) : std::nullopt;
    };
    st.swarm = [this](const shape& s) {
      ++swarms;
      swarm_result r;
      r.best = -swarm(s);  // the swarm minimizes -served
      r.best_x = {s.tau, s.beta};
      return r;
    };
    st.stopped = [this] { return stop_after_screens >= 0 && screens >= stop_after_screens; };
    return st;
  }
};

int swarmed(const shape_search_result& r) {
  return static_cast<int>(std::count_if(r.trials.begin(), r.trials.end(), [](const shape_trial& t) {
    return t.best_served.has_value();
  }));
}
const shape_trial* find(const shape_search_result& r, double tau, double beta) {
  for (const shape_trial& t : r.trials)
    if (t.s.tau == tau && t.s.beta == beta) return &t;
  return nullptr;
}

TEST(ShapeSearch, SwarmsTheBestRankedShapesThenClimbsToTheBest) {
  // the ladders peak at (1, 4); the swarms at (1, 8), which the ladder ranks 4th: the climb
  // from the best of the first three swarms finds it
  synthetic syn{peak_at(1.0, 4.0), peak_at(1.0, 8.0)};
  const auto grid = shape_grid(std::nullopt, std::nullopt);
  const shape_search_result r = search_shapes(grid, true, true, 3, syn.steps());
  for (std::size_t k = 0; k < grid.size(); ++k) {  // the grid first, in its order
    EXPECT_EQ(r.trials[k].s.tau, grid[k].tau) << k;
    EXPECT_EQ(r.trials[k].s.beta, grid[k].beta) << k;
  }
  for (const shape_trial& t : r.trials) ASSERT_TRUE(t.price_seed_served.has_value());
  EXPECT_EQ(syn.screens, static_cast<int>(r.trials.size()));  // each shape screened once
  // the three best-ranked: (1, 4), then (1/2, 4) and (2, 4), the edge's shape past the grid
  for (const auto& [tau, beta] : {std::pair{1.0, 4.0}, {0.5, 4.0}, {2.0, 4.0}}) {
    const shape_trial* t = find(r, tau, beta);
    ASSERT_NE(t, nullptr) << tau << ", " << beta;
    EXPECT_TRUE(t->best_served.has_value()) << tau << ", " << beta;
  }
  EXPECT_EQ(r.best.tau, 1.0);
  EXPECT_EQ(r.best.beta, 8.0);
  EXPECT_EQ(r.best_x, (std::vector<double>{1.0, 8.0}));
  // then (1, 8) and (1, 2) next to (1, 4), and (1, 16), (2, 8), (1/2, 8) next to (1, 8)
  EXPECT_EQ(syn.swarms, 3 + 2 + 3);
  EXPECT_EQ(swarmed(r), syn.swarms);
  EXPECT_LT(swarmed(r), static_cast<int>(r.trials.size()));
  const shape_trial* corner = find(r, 0.25, 0.0);  // the grid's far corner: screened, never swarmed
  ASSERT_NE(corner, nullptr);
  EXPECT_FALSE(corner->best_served.has_value());
}

TEST(ShapeSearch, WithoutPricesEveryShapeGetsItsSwarm) {
  synthetic syn{nullptr, peak_at(1.0, 16.0)};
  syn.priced = false;
  const shape_search_result r = search_shapes(shape_grid(std::nullopt, std::nullopt), true, true, 3, syn.steps());
  EXPECT_EQ(swarmed(r), static_cast<int>(r.trials.size()));
  for (const shape_trial& t : r.trials) EXPECT_FALSE(t.price_seed_served.has_value());
  EXPECT_EQ(r.best.tau, 1.0);
  EXPECT_EQ(r.best.beta, 16.0);
  EXPECT_NE(find(r, 1.0, 32.0), nullptr);  // one step past the best, which lost
  EXPECT_EQ(find(r, 1.0, 64.0), nullptr);
}

TEST(ShapeSearch, TheScreenWalksPastTheEdgeOnlyWhileItGainsMoreThanNoise) {
  // beta fixed, tau free: ladders and swarms rising with tau by a relative 1e-4 a step stop
  // one step past the grid (the screen at tau 2), and one more (the climb's look next to the
  // best swarm, tau 4); by 1e-2 a step, they walk to the limit, tau 64
  for (const double step : {1e-4, 1e-2}) {
    const auto rising = [step](const shape& s) { return 1000.0 * (1.0 + step * std::log2(s.tau)); };
    synthetic syn{rising, rising};
    const shape_search_result r = search_shapes(shape_grid(std::nullopt, 4.0), true, false, 2, syn.steps());
    const double top = step < 1e-3 ? 4.0 : k_max_search_tau;
    double largest = 0.0;
    for (const shape_trial& t : r.trials) largest = std::max(largest, t.s.tau);
    EXPECT_EQ(largest, top) << step;
    EXPECT_EQ(r.trials.size(), 3u + static_cast<std::size_t>(std::log2(top))) << step;
  }
}

// A time limit may stop the screen early: it starts at the grid's corner of largest beta and
// walks past the edge before it screens the grid's interior, so seven screens reach a peak at
// (1, 16) (the grid in its order would have spent them all inside it); the summary still
// lists the grid's shapes first, in the grid's order.
TEST(ShapeSearch, TheScreenReachesPastTheEdgeBeforeTheGridsInterior) {
  synthetic syn{peak_at(1.0, 16.0), peak_at(1.0, 16.0)};
  syn.stop_after_screens = 7;
  const auto grid = shape_grid(std::nullopt, std::nullopt);
  shape_search_result r = search_shapes(grid, true, true, 6, syn.steps());
  ASSERT_EQ(r.trials.size(), 7u);
  EXPECT_EQ(syn.swarms, 0);
  EXPECT_EQ(r.best.tau, 1.0);
  EXPECT_EQ(r.best.beta, 16.0);
  // (1, 4) first, then (1, 8), (2, 4), (1/2, 4); from (1, 8): (1, 16), (2, 8), (1/2, 8)
  const std::vector<std::pair<double, double>> listed = {{1.0, 4.0}, {0.5, 4.0}, {1.0, 8.0}, {2.0, 4.0},
                                                         {1.0, 16.0}, {2.0, 8.0}, {0.5, 8.0}};
  for (std::size_t k = 0; k < listed.size(); ++k) {
    EXPECT_EQ(r.trials[k].s.tau, listed[k].first) << k;
    EXPECT_EQ(r.trials[k].s.beta, listed[k].second) << k;
  }
  // untimed, the whole grid is screened all the same, listed first in its order
  syn = synthetic{peak_at(1.0, 16.0), peak_at(1.0, 16.0)};
  r = search_shapes(grid, true, true, 6, syn.steps());
  ASSERT_GT(r.trials.size(), grid.size());
  for (std::size_t k = 0; k < grid.size(); ++k) {
    EXPECT_EQ(r.trials[k].s.tau, grid[k].tau) << k;
    EXPECT_EQ(r.trials[k].s.beta, grid[k].beta) << k;
  }
  EXPECT_EQ(r.best.tau, 1.0);
  EXPECT_EQ(r.best.beta, 16.0);
}

// The progress line counts the grid's shapes as they are screened, 1/12 to 12/12 in order,
// though the screen reaches them out of the grid's order; the others are "past the grid".
TEST(ShapeSearch, TheProgressCountsTheGridsShapesInTheOrderScreened) {
  for (const bool priced : {true, false}) {
    synthetic syn{peak_at(1.0, 16.0), peak_at(1.0, 16.0)};
    syn.priced = priced;
    shape_search_steps steps = syn.steps();
    std::vector<int> grid_counts;
    int past = 0;
    steps.on_shape = [&](const char* stage, int index, int of, const shape&) {
      if (std::string(stage) == "screen") {
        EXPECT_EQ(of, 12);
        grid_counts.push_back(index);
      } else if (index == 0) {
        EXPECT_EQ(of, 0) << stage;
        ++past;
      }
    };
    search_shapes(shape_grid(std::nullopt, std::nullopt), true, true, 6, steps);
    std::vector<int> want(12);
    std::iota(want.begin(), want.end(), 1);
    EXPECT_EQ(grid_counts, want) << (priced ? "priced" : "unpriced");
    EXPECT_GT(past, 0) << (priced ? "priced" : "unpriced");
  }
}

TEST(ShapeSearch, StopsWhenAskedAndKeepsTheBestLadder) {
  synthetic syn{peak_at(0.5, 2.0), peak_at(0.5, 2.0)};
  syn.stop_after_screens = 1;
  shape_search_result r = search_shapes(shape_grid(std::nullopt, std::nullopt), true, true, 6, syn.steps());
  EXPECT_EQ(r.trials.size(), 1u);
  EXPECT_EQ(syn.swarms, 0);
  EXPECT_TRUE(r.best_x.empty());
  EXPECT_EQ(r.best.tau, 1.0);  // the only shape screened: the grid's largest beta at its first tau
  EXPECT_EQ(r.best.beta, 4.0);
  // stopped after the grid's screen: the ladder's best is the answer's shape, no swarm ran
  syn = synthetic{peak_at(0.5, 2.0), peak_at(0.5, 2.0)};
  syn.stop_after_screens = 12;
  r = search_shapes(shape_grid(std::nullopt, std::nullopt), true, true, 6, syn.steps());
  EXPECT_EQ(r.trials.size(), 12u);
  EXPECT_EQ(syn.swarms, 0);
  EXPECT_EQ(r.best.tau, 0.5);
  EXPECT_EQ(r.best.beta, 2.0);
}

}  // namespace
}  // namespace attnswarm

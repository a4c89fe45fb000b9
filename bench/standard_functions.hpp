// Standard optimizer test functions as batched objectives (minimum 0 at the origin), shared
// by the swarm's tests and its benchmark against Liang et al. 2006.
#pragma once

#include <cmath>

namespace attnswarm::standard_functions {

inline void sphere(const double* x, int count, int dims, double* f) {
  for (int p = 0; p < count; ++p) {
    double s = 0.0;
    for (int d = 0; d < dims; ++d) s += x[p * dims + d] * x[p * dims + d];
    f[p] = s;
  }
}

inline void rastrigin(const double* x, int count, int dims, double* f) {
  for (int p = 0; p < count; ++p) {
    double s = 10.0 * dims;
    for (int d = 0; d < dims; ++d) {
      const double v = x[p * dims + d];
      s += v * v - 10.0 * std::cos(2.0 * M_PI * v);
    }
    f[p] = s;
  }
}

}  // namespace attnswarm::standard_functions

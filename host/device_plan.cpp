#include "device_plan.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

#include "errors.hpp"

namespace attnswarm {

namespace {

std::size_t mib(std::size_t b) { return (b + (std::size_t{1} << 20) - 1) >> 20; }

}  // namespace

std::size_t fixed_device_bytes(const device_plan_inputs& in) {
  const std::size_t m = static_cast<std::size_t>(in.tasks), p = static_cast<std::size_t>(in.particles);
  const std::size_t s = static_cast<std::size_t>(in.segments);
  const std::size_t policies = s * p * m * (8 + 4 + 8);                 // W; E as float32 and float64
  const std::size_t accumulators = p * 2 * m * 8;                        // [L | V] per policy
  const std::size_t report = static_cast<std::size_t>(k_row_blocks) * (2 * m + 1) * 8 + s * m * 8;
  const std::size_t dual = static_cast<std::size_t>(k_row_blocks) * (2 * m + 2) * 8 + m * 8;
  const std::size_t sums = (2 * m + 2) * 8 + 8;  // the partials added on the device
  // task and share (4 + 4 bytes) of the report's largest top-k, one launch of users at a time
  const std::size_t staged = static_cast<std::size_t>(std::min(k_report_rows, std::max<std::int64_t>(in.users, 0)));
  const std::size_t topk = staged * static_cast<std::size_t>(std::min<std::int64_t>(in.topk, in.tasks)) * (4 + 4);
  // x, v, pbest (S*M values each); f and pbest_f; best value and index; CUB's ArgMin storage
  const std::size_t swarm = p * s * m * 8 * 3 + p * 8 * 2 + 8 + 8 + k_swarm_reduce_bytes;
  return policies + accumulators + report + dual + sums + topk + swarm + k_cublas_workspace_bytes;
}

std::size_t batch_workspace_bytes(const device_plan_inputs& in, std::int64_t batch_rows) {
  const std::size_t m = static_cast<std::size_t>(in.tasks), p = static_cast<std::size_t>(in.particles);
  const std::size_t b = static_cast<std::size_t>(batch_rows);
  // Den (rows x P float32) and one P x 2M float32 partial per chunk of users
  return (in.densities ? b * p * 4 : 0) + static_cast<std::size_t>(chunks_of(batch_rows)) * p * 2 * m * 4;
}

std::size_t resident_bytes_per_row(const device_plan_inputs& in) {
  const std::size_t m = static_cast<std::size_t>(in.tasks);
  return m * 4 * 2 + m * 4 * 2 + 8 + 4;  // F, A; H = [G0 | A o G0]; mass; r
}

std::size_t streamed_bytes_per_row(const device_plan_inputs& in) {
  const std::size_t m = static_cast<std::size_t>(in.tasks);
  return 2 * (m * 4 * 2 + 8) + m * 4 * 2 + 4;  // two slots of F, A, mass; H and r of one batch
}

std::size_t plan_bytes(const device_plan_inputs& in, bool resident, std::int64_t batch_rows) {
  const std::size_t rows = resident ? static_cast<std::size_t>(in.users) * resident_bytes_per_row(in)
                                    : static_cast<std::size_t>(batch_rows) * streamed_bytes_per_row(in);
  return fixed_device_bytes(in) + rows + batch_workspace_bytes(in, batch_rows);
}

device_plan plan_device_memory(const device_plan_inputs& in) {
  const std::int64_t wanted = std::clamp<std::int64_t>(in.users, 1, k_max_batch_rows);
  const std::int64_t floor = std::min(wanted, k_min_batch_rows);
  // The largest batch in [floor, wanted] whose plan fits (plan_bytes grows with the batch),
  // cut to whole chunks when it is not all the users, so that no chunk's partial is wasted.
  const auto largest_batch = [&](bool resident) -> std::int64_t {
    const auto fits = [&](std::int64_t b) { return plan_bytes(in, resident, b) <= in.budget_bytes; };
    if (!fits(floor)) return 0;
    std::int64_t lo = floor, hi = wanted;
    while (lo < hi) {
      const std::int64_t mid = lo + (hi - lo + 1) / 2;
      if (fits(mid)) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    if (lo < wanted && lo >= k_chunk_rows) lo -= lo % k_chunk_rows;
    return lo;
  };
  for (const bool resident : {true, false})
    if (const std::int64_t b = largest_batch(resident); b > 0) return device_plan{resident, b, plan_bytes(in, resident, b)};
  throw unavailable_error("CUDA backend: " + std::to_string(mib(in.budget_bytes)) + " MiB of device memory is too little for " +
                          std::to_string(in.users) + " users x " + std::to_string(in.tasks) + " tasks with " +
                          std::to_string(in.particles) + " particles: streaming needs at least " +
                          std::to_string(mib(plan_bytes(in, false, floor))) +
                          " MiB (raise --device-memory, lower --particles, or use --backend cpu)");
}

std::size_t parse_byte_size(const std::string& text, const std::string& what) {
  const auto bad = [&] {
    return input_error(what + ": '" + text + "' is not a size (examples: 64M, 2G, 1.5GiB, 1048576)");
  };
  const char* begin = text.c_str();
  char* end = nullptr;
  const double value = std::strtod(begin, &end);
  if (end == begin || !(value > 0.0) || !std::isfinite(value)) throw bad();
  std::string unit(end);
  for (auto& ch : unit) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  double scale = 1.0;
  if (unit.empty() || unit == "B") {
    scale = 1.0;
  } else {
    const std::string prefixes = "KMGT";
    const auto at = prefixes.find(unit[0]);
    const std::string rest = unit.substr(1);
    if (at == std::string::npos || !(rest.empty() || rest == "B" || rest == "IB")) throw bad();
    scale = std::ldexp(1.0, 10 * static_cast<int>(at + 1));
  }
  const double bytes = std::floor(value * scale);
  if (bytes < 1.0 || bytes > 1.8e19) throw bad();
  return static_cast<std::size_t>(bytes);
}

}  // namespace attnswarm

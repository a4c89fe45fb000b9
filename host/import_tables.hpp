// The two hash tables of `attnswarm import`: dense ids for string keys, and the per-pair
// sums of interest and value. Open addressing, because both sit on the hot path of every
// event (std::unordered_map chased several pointers per lookup and was 2x slower here).
#pragma once

#include <cmath>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace attnswarm::detail {

// Dense ids in order of first appearance, in an open-addressing table of (hash, id) so that
// a lookup touches one slot and, on a hash match, one key; keys live in a deque (stable).
class key_index {
 public:
  key_index() : slots_(1024) {}
  int find(std::string_view key) const {
    const std::uint64_t h = hash(key);
    for (std::size_t at = h & (slots_.size() - 1);; at = (at + 1) & (slots_.size() - 1)) {
      const slot& s = slots_[at];
      if (s.id < 0) return -1;
      if (s.hash == h && keys_[static_cast<std::size_t>(s.id)] == key) return s.id;
    }
  }
  int insert(std::string_view key) {
    const std::uint64_t h = hash(key);
    std::size_t at = h & (slots_.size() - 1);
    for (;; at = (at + 1) & (slots_.size() - 1)) {
      const slot& s = slots_[at];
      if (s.id < 0) break;
      if (s.hash == h && keys_[static_cast<std::size_t>(s.id)] == key) return s.id;
    }
    const int id = static_cast<int>(keys_.size());
    keys_.emplace_back(key);
    slots_[at] = slot{h, id};
    if (2 * keys_.size() > slots_.size()) grow();
    return id;
  }
  const std::string& key(std::size_t id) const { return keys_[id]; }
  std::vector<std::string> keys() const { return {keys_.begin(), keys_.end()}; }
  std::size_t size() const { return keys_.size(); }

 private:
  struct slot {
    std::uint64_t hash = 0;
    int id = -1;
  };
  // FNV-1a, then a multiply to spread the low bits the table indexes by.
  static std::uint64_t hash(std::string_view key) {
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : key) h = (h ^ c) * 1099511628211ull;
    return (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ull;
  }
  void grow() {
    std::vector<slot> old(slots_.size() * 2);
    old.swap(slots_);
    for (const slot& s : old) {
      if (s.id < 0) continue;
      std::size_t at = s.hash & (slots_.size() - 1);
      while (slots_[at].id >= 0) at = (at + 1) & (slots_.size() - 1);
      slots_[at] = s;
    }
  }
  std::vector<slot> slots_;
  std::deque<std::string> keys_;
};

// Sums of weight (interest) and weight x value per (user, task) pair, in an open-addressing
// table. With a half-life, each pair keeps its sums decayed to its own newest event, so the
// weights never overflow and the log is read once, in any time order; for_each() decays
// them to the newest event of all.
class pair_accumulator {
 public:
  explicit pair_accumulator(double half_life_s) : half_life_s_(half_life_s), slots_(1 << 16) {}

  void add(std::uint64_t user, std::uint32_t task, double w, double value, double time) {
    if (2 * (size_ + 1) > slots_.size()) grow();
    slot& s = find(user << 32 | task);
    if (s.key == k_empty) {
      s = slot{user << 32 | task, 0.0, 0.0, time};
      ++size_;
    }
    if (half_life_s_ > 0.0) {
      if (time > s.time) {
        const double decay = std::exp2(-(time - s.time) / half_life_s_);
        s.f *= decay;
        s.v *= decay;
        s.time = time;
      } else {
        w *= std::exp2(-(s.time - time) / half_life_s_);
      }
    }
    s.f += w;
    s.v += w * value;
  }

  template <typename F>
  void for_each(F&& f, double newest) const {
    for (const slot& s : slots_) {
      if (s.key == k_empty) continue;
      const double decay = half_life_s_ > 0.0 ? std::exp2(-(newest - s.time) / half_life_s_) : 1.0;
      f(s.key >> 32, static_cast<std::uint32_t>(s.key), s.f * decay, s.v * decay);
    }
  }

  std::size_t size() const { return size_; }

 private:
  static constexpr std::uint64_t k_empty = ~0ull;  // no user id reaches 2^32 - 1
  struct slot {
    std::uint64_t key = k_empty;
    double f = 0.0, v = 0.0, time = 0.0;
  };

  std::size_t index(std::uint64_t key) const {
    return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ull) >> 20) & (slots_.size() - 1);
  }

  slot& find(std::uint64_t key) {
    std::size_t h = index(key);
    while (slots_[h].key != k_empty && slots_[h].key != key) h = (h + 1) & (slots_.size() - 1);
    return slots_[h];
  }

  void grow() {
    std::vector<slot> old(slots_.size() * 2);
    old.swap(slots_);
    for (const slot& s : old)
      if (s.key != k_empty) find(s.key) = s;
  }

  double half_life_s_;
  std::vector<slot> slots_;
  std::size_t size_ = 0;
};

}  // namespace attnswarm::detail

// NumPy .npy files (format versions 1.0, 2.0 and 3.0): a memory-mapped reader and a
// streaming writer. Only what bundles need: little-endian float32/float64/int32/int64,
// C order, 1-D or 2-D.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace attnswarm {

enum class dtype { f32, f64, i32, i64 };

const char* dtype_name(dtype t);
std::size_t dtype_size(dtype t);
// A shape as NumPy prints it: (3, 4), (5,), ().
std::string shape_text(const std::vector<std::int64_t>& shape);

// A read-only memory-mapped .npy array. Throws input_error naming the file on any problem
// (unreadable, bad header, Fortran order, unsupported dtype, truncated data).
class npy_array {
 public:
  npy_array() = default;
  explicit npy_array(const std::string& path);
  ~npy_array();
  npy_array(npy_array&& other) noexcept;
  npy_array& operator=(npy_array&& other) noexcept;
  npy_array(const npy_array&) = delete;
  npy_array& operator=(const npy_array&) = delete;

  const std::string& path() const { return path_; }
  dtype type() const { return type_; }
  const std::vector<std::int64_t>& shape() const { return shape_; }
  std::int64_t size() const;
  const void* data() const { return data_; }

  // Element k as a double / as an int64, whatever the stored type.
  double get_f64(std::int64_t k) const;
  std::int64_t get_i64(std::int64_t k) const;
  // Elements [first, first + count) converted to double.
  void read_f64(std::int64_t first, std::int64_t count, double* out) const;

 private:
  void release() noexcept;
  std::string path_;
  dtype type_ = dtype::f64;
  std::vector<std::int64_t> shape_;
  void* map_ = nullptr;
  std::size_t map_len_ = 0;
  const void* data_ = nullptr;
};

// Writes a .npy file whose shape is known up front, row by row. The header is written
// first; finish() checks that exactly the announced number of elements arrived and flushes.
class npy_writer {
 public:
  npy_writer(const std::string& path, dtype type, std::vector<std::int64_t> shape);
  ~npy_writer();
  npy_writer(const npy_writer&) = delete;
  npy_writer& operator=(const npy_writer&) = delete;

  void write(const void* elements, std::int64_t count);
  void finish();

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  std::size_t elem_size_;
  std::int64_t expected_ = 0;
  std::int64_t written_ = 0;
};

// Whole-array conveniences.
void write_npy(const std::string& path, dtype type, const std::vector<std::int64_t>& shape,
               const void* data);

}  // namespace attnswarm

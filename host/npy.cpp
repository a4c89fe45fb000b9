#include "npy.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include "errors.hpp"

namespace attnswarm {

const char* dtype_name(dtype t) {
  switch (t) {
    case dtype::f32: return "float32";
    case dtype::f64: return "float64";
    case dtype::i32: return "int32";
    case dtype::i64: return "int64";
  }
  return "?";
}

std::size_t dtype_size(dtype t) { return (t == dtype::f32 || t == dtype::i32) ? 4 : 8; }

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string t = "(";
  for (std::size_t k = 0; k < shape.size(); ++k) t += (k ? ", " : "") + std::to_string(shape[k]);
  return t + (shape.size() == 1 ? ",)" : ")");
}

namespace {

const char k_magic[] = "\x93NUMPY";
constexpr std::size_t k_magic_len = 6;

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw input_error(path + ": " + problem);
}

// Value of `key` in the header dict, as the raw text up to the next top-level comma/brace.
std::string dict_value(const std::string& header, const std::string& key, const std::string& path) {
  const std::string quoted[] = {"'" + key + "'", "\"" + key + "\""};
  std::size_t at = std::string::npos;
  for (const auto& q : quoted) {
    at = header.find(q);
    if (at != std::string::npos) {
      at += q.size();
      break;
    }
  }
  if (at == std::string::npos) fail(path, "not a valid .npy file (header has no '" + key + "')");
  at = header.find(':', at);
  if (at == std::string::npos) fail(path, "not a valid .npy file (malformed header)");
  ++at;
  while (at < header.size() && header[at] == ' ') ++at;
  std::size_t end = at;
  if (at < header.size() && header[at] == '(') {
    end = header.find(')', at);
    if (end == std::string::npos) fail(path, "not a valid .npy file (malformed shape)");
    return header.substr(at, end - at + 1);
  }
  while (end < header.size() && header[end] != ',' && header[end] != '}') ++end;
  std::string v = header.substr(at, end - at);
  while (!v.empty() && v.back() == ' ') v.pop_back();
  return v;
}

dtype parse_descr(std::string descr, const std::string& path) {
  if (descr.size() >= 2 && (descr.front() == '\'' || descr.front() == '"'))
    descr = descr.substr(1, descr.size() - 2);
  if (descr == "<f4") return dtype::f32;
  if (descr == "<f8") return dtype::f64;
  if (descr == "<i4") return dtype::i32;
  if (descr == "<i8") return dtype::i64;
  fail(path, "unsupported dtype '" + one_line(descr) +
                 "' (expected little-endian float32, float64, int32 or int64)");
}

std::vector<std::int64_t> parse_shape(const std::string& text, const std::string& path) {
  std::vector<std::int64_t> shape;
  std::size_t i = 1;  // past '('
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == ',')) ++i;
    if (i >= text.size() || text[i] == ')') break;
    std::size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(text.substr(i), &used);
    } catch (const std::exception&) {
      fail(path, "not a valid .npy file (bad shape " + one_line(text) + ")");
    }
    if (v < 0) fail(path, "not a valid .npy file (negative dimension in " + one_line(text) + ")");
    shape.push_back(v);
    i += used;
    while (i < text.size() && text[i] == 'L') ++i;
  }
  return shape;
}

constexpr std::size_t k_too_many_bytes = std::numeric_limits<std::size_t>::max();

// Bytes the elements of `shape` take, or k_too_many_bytes when that does not fit in a
// size_t: a corrupt header must not wrap round to a size that a short file seems to hold.
std::size_t data_bytes(const std::vector<std::int64_t>& shape, dtype type) {
  for (auto d : shape)
    if (d == 0) return 0;
  std::size_t bytes = dtype_size(type);
  for (auto d : shape) {
    const auto n = static_cast<std::size_t>(d);
    if (bytes > k_too_many_bytes / n) return k_too_many_bytes;
    bytes *= n;
  }
  return bytes;
}

}  // namespace

npy_array::npy_array(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) fail(path, std::string("cannot open (") + std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    fail(path, std::string("cannot stat (") + std::strerror(errno) + ")");
  }
  const auto file_len = static_cast<std::size_t>(st.st_size);
  if (file_len < k_magic_len + 4) {
    ::close(fd);
    fail(path, "not a valid .npy file (too short for a header)");
  }
  map_ = ::mmap(nullptr, file_len, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    fail(path, std::string("cannot map (") + std::strerror(errno) + ")");
  }
  map_len_ = file_len;
  const auto* bytes = static_cast<const unsigned char*>(map_);
  if (std::memcmp(bytes, k_magic, k_magic_len) != 0) fail(path, "not a .npy file (bad magic)");
  const int major = bytes[6];
  std::size_t header_len = 0, prefix = 0;
  if (major == 1) {
    header_len = bytes[8] | (bytes[9] << 8);
    prefix = 10;
  } else if (major == 2 || major == 3) {
    if (file_len < 12) fail(path, "not a valid .npy file (truncated header)");
    header_len = static_cast<std::size_t>(bytes[8]) | (static_cast<std::size_t>(bytes[9]) << 8) |
                 (static_cast<std::size_t>(bytes[10]) << 16) |
                 (static_cast<std::size_t>(bytes[11]) << 24);
    prefix = 12;
  } else {
    fail(path, "unsupported .npy format version " + std::to_string(major));
  }
  if (prefix + header_len > file_len) fail(path, "not a valid .npy file (truncated header)");
  const std::string header(reinterpret_cast<const char*>(bytes + prefix), header_len);
  type_ = parse_descr(dict_value(header, "descr", path), path);
  if (dict_value(header, "fortran_order", path) != "False")
    fail(path, "Fortran-ordered arrays are not supported (save with C order)");
  shape_ = parse_shape(dict_value(header, "shape", path), path);
  const std::size_t have = file_len - prefix - header_len;
  const std::size_t need = data_bytes(shape_, type_);
  if (need == k_too_many_bytes)
    fail(path, "not a valid .npy file (shape " + shape_text(shape_) + " needs more bytes than any file holds)");
  if (have < need)
    fail(path, "truncated file: data holds " + std::to_string(have) + " bytes, shape needs " +
                   std::to_string(need));
  // The spec pads the header so that the data is aligned; reading elements in place relies on it.
  if ((prefix + header_len) % dtype_size(type_) != 0)
    fail(path, "not a valid .npy file (data starts at byte " + std::to_string(prefix + header_len) +
                   ", not a multiple of its " + std::to_string(dtype_size(type_)) + "-byte elements)");
  data_ = bytes + prefix + header_len;
}

npy_array::~npy_array() { release(); }

npy_array::npy_array(npy_array&& other) noexcept { *this = std::move(other); }

npy_array& npy_array::operator=(npy_array&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    type_ = other.type_;
    shape_ = std::move(other.shape_);
    map_ = std::exchange(other.map_, nullptr);
    map_len_ = std::exchange(other.map_len_, 0);
    data_ = std::exchange(other.data_, nullptr);
  }
  return *this;
}

void npy_array::release() noexcept {
  if (map_ != nullptr) ::munmap(map_, map_len_);
  map_ = nullptr;
  data_ = nullptr;
}

std::int64_t npy_array::size() const {
  std::int64_t n = 1;
  for (auto d : shape_) n *= d;
  return n;
}

double npy_array::get_f64(std::int64_t k) const {
  switch (type_) {
    case dtype::f32: return static_cast<const float*>(data_)[k];
    case dtype::f64: return static_cast<const double*>(data_)[k];
    case dtype::i32: return static_cast<const std::int32_t*>(data_)[k];
    case dtype::i64: return static_cast<double>(static_cast<const std::int64_t*>(data_)[k]);
  }
  return 0.0;
}

std::int64_t npy_array::get_i64(std::int64_t k) const {
  switch (type_) {
    case dtype::i32: return static_cast<const std::int32_t*>(data_)[k];
    case dtype::i64: return static_cast<const std::int64_t*>(data_)[k];
    default: return static_cast<std::int64_t>(get_f64(k));
  }
}

void npy_array::read_f64(std::int64_t first, std::int64_t count, double* out) const {
  if (type_ == dtype::f32) {
    const float* p = static_cast<const float*>(data_) + first;
    for (std::int64_t k = 0; k < count; ++k) out[k] = p[k];
  } else if (type_ == dtype::f64) {
    std::memcpy(out, static_cast<const double*>(data_) + first, sizeof(double) * count);
  } else {
    for (std::int64_t k = 0; k < count; ++k) out[k] = get_f64(first + k);
  }
}

// ---------------------------------------------------------------- writer

npy_writer::npy_writer(const std::string& path, dtype type, std::vector<std::int64_t> shape)
    : path_(path), elem_size_(dtype_size(type)) {
  expected_ = 1;
  for (auto d : shape) expected_ *= d;
  std::string dict = "{'descr': '";
  dict += type == dtype::f32 ? "<f4" : type == dtype::f64 ? "<f8" : type == dtype::i32 ? "<i4" : "<i8";
  dict += "', 'fortran_order': False, 'shape': (";
  for (std::size_t k = 0; k < shape.size(); ++k) {
    dict += std::to_string(shape[k]);
    if (shape.size() == 1 || k + 1 < shape.size()) dict += ",";
    if (k + 1 < shape.size()) dict += " ";
  }
  dict += "), }";
  // Pad so that the data starts on a 64-byte boundary, as NumPy does.
  std::size_t total = k_magic_len + 2 + 2 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  file_ = std::fopen(path.c_str(), "wb");
  if (file_ == nullptr) throw input_error(path + ": cannot create (" + std::strerror(errno) + ")");
  const unsigned char version[2] = {1, 0};
  const unsigned char len[2] = {static_cast<unsigned char>(dict.size() & 0xff),
                                static_cast<unsigned char>(dict.size() >> 8)};
  if (std::fwrite(k_magic, 1, k_magic_len, file_) != k_magic_len ||
      std::fwrite(version, 1, 2, file_) != 2 || std::fwrite(len, 1, 2, file_) != 2 ||
      std::fwrite(dict.data(), 1, dict.size(), file_) != dict.size())
    throw input_error(path + ": write failed (" + std::strerror(errno) + ")");
}

npy_writer::~npy_writer() {
  if (file_ != nullptr) std::fclose(file_);
}

void npy_writer::write(const void* elements, std::int64_t count) {
  if (written_ + count > expected_)
    throw std::logic_error(path_ + ": more elements written than the shape holds");
  if (count > 0 && std::fwrite(elements, elem_size_, static_cast<std::size_t>(count), file_) !=
                       static_cast<std::size_t>(count))
    throw input_error(path_ + ": write failed (" + std::strerror(errno) + ")");
  written_ += count;
}

void npy_writer::finish() {
  if (written_ != expected_)
    throw std::logic_error(path_ + ": " + std::to_string(written_) + " elements written, shape holds " +
                           std::to_string(expected_));
  const int rc = std::fclose(file_);
  file_ = nullptr;
  if (rc != 0) throw input_error(path_ + ": write failed (" + std::strerror(errno) + ")");
}

void write_npy(const std::string& path, dtype type, const std::vector<std::int64_t>& shape,
               const void* data) {
  npy_writer w(path, type, shape);
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  w.write(data, n);
  w.finish();
}

}  // namespace attnswarm

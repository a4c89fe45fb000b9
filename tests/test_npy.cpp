// The .npy reader and writer: round trips, format versions, and the files it must refuse.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "errors.hpp"
#include "npy.hpp"
#include "test_util.hpp"

namespace attnswarm {
namespace {

using testing::temp_dir;

// A .npy file written by hand, so the reader is tested on headers this writer never makes.
void write_raw_npy(const std::string& path, int major, const std::string& dict, const void* data, std::size_t bytes) {
  std::string header = dict;
  const std::size_t prefix = major == 1 ? 10 : 12;
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY", 6);
  const char ver[2] = {static_cast<char>(major), 0};
  out.write(ver, 2);
  const std::uint32_t len = static_cast<std::uint32_t>(header.size());
  out.write(reinterpret_cast<const char*>(&len), major == 1 ? 2 : 4);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
}

TEST(Npy, RoundTripsEveryDtype) {
  temp_dir tmp;
  const float f[6] = {1.5f, -2.0f, 0.0f, 3.25f, 1e-30f, 7.0f};
  const double d[3] = {1.0, -0.5, 1e300};
  const std::int32_t i[4] = {0, -1, 5, 2147483647};
  const std::int64_t l[2] = {-9000000000LL, 42};
  write_npy(tmp / "f.npy", dtype::f32, {2, 3}, f);
  write_npy(tmp / "d.npy", dtype::f64, {3}, d);
  write_npy(tmp / "i.npy", dtype::i32, {4}, i);
  write_npy(tmp / "l.npy", dtype::i64, {2, 1}, l);
  npy_array af(tmp / "f.npy"), ad(tmp / "d.npy"), ai(tmp / "i.npy"), al(tmp / "l.npy");
  EXPECT_EQ(af.type(), dtype::f32);
  EXPECT_EQ(af.shape(), (std::vector<std::int64_t>{2, 3}));
  for (int k = 0; k < 6; ++k) EXPECT_EQ(af.get_f64(k), static_cast<double>(f[k]));
  EXPECT_EQ(ad.shape(), (std::vector<std::int64_t>{3}));
  for (int k = 0; k < 3; ++k) EXPECT_EQ(ad.get_f64(k), d[k]);
  for (int k = 0; k < 4; ++k) EXPECT_EQ(ai.get_i64(k), i[k]);
  for (int k = 0; k < 2; ++k) EXPECT_EQ(al.get_i64(k), l[k]);
  double row[3];
  af.read_f64(3, 3, row);
  EXPECT_EQ(row[0], 3.25);
  EXPECT_EQ(row[2], 7.0);
}

TEST(Npy, DataStartsOnA64ByteBoundary) {
  temp_dir tmp;
  const double d[1] = {1.0};
  write_npy(tmp / "d.npy", dtype::f64, {1}, d);
  const auto size = std::filesystem::file_size(tmp / "d.npy");
  EXPECT_EQ((size - 8) % 64, 0u) << size;
}

TEST(Npy, ReadsFormatVersions2And3) {
  temp_dir tmp;
  const float f[2] = {4.0f, 5.0f};
  write_raw_npy(tmp / "v2.npy", 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f, sizeof f);
  write_raw_npy(tmp / "v3.npy", 3, "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (1, 2)}", f, sizeof f);
  npy_array a(tmp / "v2.npy"), b(tmp / "v3.npy");
  EXPECT_EQ(a.get_f64(1), 5.0);
  EXPECT_EQ(b.shape(), (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(b.get_f64(0), 4.0);
}

void expect_rejected(const std::string& path, const std::string& fragment) {
  try {
    npy_array a(path);
    FAIL() << "accepted " << path;
  } catch (const input_error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(Npy, RefusesWhatItCannotRead) {
  temp_dir tmp;
  const double d[4] = {1, 2, 3, 4};
  write_raw_npy(tmp / "fortran.npy", 1, "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }", d, sizeof d);
  expect_rejected(tmp / "fortran.npy", "Fortran");
  write_raw_npy(tmp / "big.npy", 1, "{'descr': '>f8', 'fortran_order': False, 'shape': (4,), }", d, sizeof d);
  expect_rejected(tmp / "big.npy", "unsupported dtype '>f8'");
  write_raw_npy(tmp / "u8.npy", 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }", d, 4);
  expect_rejected(tmp / "u8.npy", "unsupported dtype '|u1'");
  write_raw_npy(tmp / "short.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }", d, sizeof d);
  expect_rejected(tmp / "short.npy", "truncated");
  write_raw_npy(tmp / "v9.npy", 9, "{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }", d, sizeof d);
  expect_rejected(tmp / "v9.npy", "version 9");
  {
    std::ofstream out(tmp / "junk.npy");
    out << "this is not numpy at all";
  }
  expect_rejected(tmp / "junk.npy", "bad magic");
  expect_rejected(tmp / "missing.npy", "cannot open");
}

TEST(Npy, WriterChecksTheElementCount) {
  temp_dir tmp;
  npy_writer w(tmp / "w.npy", dtype::f32, {2, 2});
  const float f[3] = {1, 2, 3};
  w.write(f, 3);
  EXPECT_THROW(w.finish(), std::logic_error);
}

}  // namespace
}  // namespace attnswarm

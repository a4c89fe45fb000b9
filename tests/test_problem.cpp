// Loading and validating bundles (DESIGN §5): every rejection names the file, the problem
// and the place, through the library and through the CLI with exit code 2.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>

#include "errors.hpp"
#include "problem.hpp"
#include "test_util.hpp"

namespace attnswarm {
namespace {

using testing::instance;
using testing::temp_dir;

instance small_instance() {
  std::mt19937_64 rng(5);
  testing::instance_options o;
  o.users = 6;
  o.tasks = 4;
  o.segments = 2;
  o.zero_rows = 0.0;
  return testing::random_instance(rng, o);
}

// segments.csv (import --segments) labels the segments; a label of an id past the last
// segment any user is in is one no user has, and a table that leaves a segment unlabelled
// gives no labels: a policy's rows are then taken by position.
TEST(LoadProblem, ReadsSegmentLabelsWhenEverySegmentHasOne) {
  temp_dir tmp;
  const instance in = small_instance();
  ASSERT_EQ(*std::max_element(in.segment.begin(), in.segment.end()), 1);
  testing::write_bundle(tmp / "b", in);
  EXPECT_TRUE(load_problem(tmp / "b").segment_names.empty());
  std::ofstream(tmp / "b/segments.csv") << "segment,label\n1,\"south, coast\"\n0,north\n7,nobody\n";
  EXPECT_EQ(load_problem(tmp / "b").segment_names, (std::vector<std::string>{"north", "south, coast"}));
  std::ofstream(tmp / "b/segments.csv") << "segment,label\n0,north\n";
  EXPECT_TRUE(load_problem(tmp / "b").segment_names.empty());
}

TEST(LoadProblem, ReadsABundleAndCountsIdleUsers) {
  temp_dir tmp;
  instance in = small_instance();
  for (int j = 0; j < 4; ++j) in.fitness[2 * 4 + j] = 0.0;  // user 2 has no eligible task
  std::int64_t idle = 0;
  for (int i = 0; i < 6; ++i) idle += std::all_of(&in.fitness[i * 4], &in.fitness[i * 4 + 4], [](double f) { return f == 0.0; });
  ASSERT_GE(idle, 1);
  testing::write_bundle(tmp / "b", in, dtype::f64);
  const problem p = load_problem(tmp / "b");
  EXPECT_EQ(p.users, 6);
  EXPECT_EQ(p.tasks, 4);
  EXPECT_EQ(p.segments, 2);
  EXPECT_EQ(p.idle_users, idle);
  EXPECT_EQ(p.mass[3], in.mass[3]);
  EXPECT_EQ(p.capacity, in.capacity);
}

TEST(LoadProblem, DefaultsWhenOptionalFilesAreAbsent) {
  temp_dir tmp;
  instance in = small_instance();
  in.mass.clear();
  in.segment.clear();
  in.capacity.clear();
  testing::write_bundle(tmp / "b", in);
  const problem p = load_problem(tmp / "b");
  EXPECT_EQ(p.segments, 1);
  for (double r : p.mass) EXPECT_EQ(r, 1.0);
  for (double c : p.capacity) EXPECT_TRUE(std::isinf(c));
}

struct bad_case {
  const char* name;
  void (*spoil)(instance&, const std::string& dir);  // after the bundle was written
  const char* file;
  const char* message;  // a fragment of the one-line error
};

void rewrite(const std::string& dir, const instance& in) { testing::write_bundle(dir, in); }

// Replaces `from` by `to` in the header of a format 1.0 .npy file. With `keep_data_offset`
// the header's padding absorbs the change, so the data still starts where it did.
void edit_header(const std::string& path, const std::string& from, const std::string& to, bool keep_data_offset) {
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::size_t len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
  std::string header = bytes.substr(10, len);
  const std::size_t at = header.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  header.replace(at, from.size(), to);
  header.pop_back();  // the '\n'
  while (keep_data_offset && header.size() + 1 > len && header.back() == ' ') header.pop_back();
  while (keep_data_offset && header.size() + 1 < len) header += ' ';
  header += '\n';
  bytes = bytes.substr(0, 8) + static_cast<char>(header.size() & 0xff) + static_cast<char>(header.size() >> 8) +
          header + bytes.substr(10 + len);
  std::ofstream(path, std::ios::binary) << bytes;
}

const bad_case bad_cases[] = {
    {"nan_in_fitness", [](instance& in, const std::string& d) { in.fitness[1 * 4 + 2] = NAN; rewrite(d, in); },
     "fitness.npy", "NaN at row 1, column 2"},
    {"inf_in_attraction",
     [](instance& in, const std::string& d) { in.attraction[5 * 4 + 3] = INFINITY; rewrite(d, in); },
     "attraction.npy", "infinite value at row 5, column 3"},
    {"negative_fitness", [](instance& in, const std::string& d) { in.fitness[0 * 4 + 1] = -0.5; rewrite(d, in); },
     "fitness.npy", "negative value at row 0, column 1"},
    {"negative_attraction",
     [](instance& in, const std::string& d) { in.attraction[3 * 4 + 0] = -1.0; rewrite(d, in); }, "attraction.npy",
     "negative value at row 3, column 0"},
    {"negative_mass", [](instance& in, const std::string& d) { in.mass[4] = -2.0; rewrite(d, in); }, "mass.npy",
     "negative value at row 4"},
    {"nan_mass", [](instance& in, const std::string& d) { in.mass[2] = NAN; rewrite(d, in); }, "mass.npy",
     "NaN at row 2"},
    {"zero_capacity", [](instance& in, const std::string& d) { in.capacity[3] = 0.0; rewrite(d, in); },
     "capacity.npy", "is not > 0 at row 3"},
    {"negative_capacity", [](instance& in, const std::string& d) { in.capacity[1] = -4.0; rewrite(d, in); },
     "capacity.npy", "is not > 0 at row 1"},
    {"negative_segment", [](instance& in, const std::string& d) { in.segment[3] = -1; rewrite(d, in); },
     "segment.npy", "segment id -1 out of range"},
    {"huge_segment", [](instance& in, const std::string& d) { in.segment[5] = 1 << 30; rewrite(d, in); },
     "segment.npy", "at row 5"},
    {"attraction_wrong_shape",
     [](instance&, const std::string& d) {
       const float f[3] = {1, 2, 3};
       write_npy(d + "/attraction.npy", dtype::f32, {3, 1}, f);
     },
     "attraction.npy", "shape (3, 1) does not match (6, 4)"},
    {"mass_wrong_length",
     [](instance&, const std::string& d) {
       const double r[5] = {1, 1, 1, 1, 1};
       write_npy(d + "/mass.npy", dtype::f64, {5}, r);
     },
     "mass.npy", "shape (5,) does not match (6,)"},
    {"fitness_not_2d",
     [](instance&, const std::string& d) {
       const float f[4] = {1, 2, 3, 4};
       write_npy(d + "/fitness.npy", dtype::f32, {4}, f);
     },
     "fitness.npy", "is not 2-D"},
    {"fitness_int_dtype",
     [](instance&, const std::string& d) {
       const std::int32_t f[24] = {};
       write_npy(d + "/fitness.npy", dtype::i32, {6, 4}, f);
     },
     "fitness.npy", "dtype int32 not accepted"},
    {"segment_float_dtype",
     [](instance&, const std::string& d) {
       const double s[6] = {};
       write_npy(d + "/segment.npy", dtype::f64, {6}, s);
     },
     "segment.npy", "dtype float64 not accepted"},
    {"truncated_attraction",
     [](instance&, const std::string& d) {
       std::filesystem::resize_file(d + "/attraction.npy", std::filesystem::file_size(d + "/attraction.npy") - 9);
     },
     "attraction.npy", "truncated file"},
    {"attraction_past_float32",
     [](instance& in, const std::string& d) {
       in.attraction[2 * 4 + 1] = 1e39;
       testing::write_bundle(d, in, dtype::f64);
     },
     "attraction.npy", "value 1e+39 past float32's range (3.4e+38) at row 2, column 1"},
    {"mass_past_float32", [](instance& in, const std::string& d) { in.mass[3] = 5e300; rewrite(d, in); }, "mass.npy",
     "value 5e+300 past float32's range (3.4e+38) at row 3"},
    {"shape_past_any_file",
     // 2^62 x 4 float32 is 2^66 bytes: a size that wraps round to 0 must not pass for a short file
     [](instance&, const std::string& d) {
       edit_header(d + "/fitness.npy", "(6, 4)", "(4611686018427387904, 4)", true);
     },
     "fitness.npy", "shape (4611686018427387904, 4) needs more bytes than any file holds"},
    {"misaligned_data",
     [](instance&, const std::string& d) { edit_header(d + "/attraction.npy", "(6, 4)", "(6,4)", false); },
     "attraction.npy", "data starts at byte 127, not a multiple of its 4-byte elements"},
    {"control_bytes_in_header",
     [](instance&, const std::string& d) { edit_header(d + "/mass.npy", "'<f8'", "'<f8\n\xf0'", true); },
     "mass.npy", "unsupported dtype '<f8\\x0a\\xf0'"},
    {"task_name_past_the_tasks",
     [](instance&, const std::string& d) { std::ofstream(d + "/tasks.csv") << "task,name\n0,a\n9,b\n"; }, "tasks.csv",
     "task id '9' at line 3 is not in [0, 4)"},
    {"task_named_twice",
     [](instance&, const std::string& d) { std::ofstream(d + "/tasks.csv") << "task,name\n1,a\n2,b\n1,c\n"; },
     "tasks.csv", "task 1 named twice (lines 2 and 4)"},
    {"task_without_a_name", [](instance&, const std::string& d) { std::ofstream(d + "/tasks.csv") << "task,name\n0\n"; },
     "tasks.csv", "no name at line 2 (expected task,name)"},
    {"segment_label_of_no_id",
     [](instance&, const std::string& d) { std::ofstream(d + "/segments.csv") << "segment,label\n0,a\nx,b\n"; },
     "segments.csv", "segment id 'x' at line 3 is not in [0, 2)"},
    {"segment_labelled_twice",
     [](instance&, const std::string& d) { std::ofstream(d + "/segments.csv") << "segment,label\n0,a\n1,b\n0,c\n"; },
     "segments.csv", "segment 0 named twice (lines 2 and 4)"},
    {"segment_label_twice",
     [](instance&, const std::string& d) { std::ofstream(d + "/segments.csv") << "segment,label\n0,a\n1,a\n"; },
     "segments.csv", "label 'a' twice (lines 2 and 3)"},
    {"segment_without_a_label",
     [](instance&, const std::string& d) { std::ofstream(d + "/segments.csv") << "segment,label\n0\n"; },
     "segments.csv", "no name at line 2 (expected segment,label)"},
    {"missing_fitness", [](instance&, const std::string& d) { std::filesystem::remove(d + "/fitness.npy"); },
     "fitness.npy", "missing (required)"},
};

void PrintTo(const bad_case& c, std::ostream* os) { *os << c.name; }

class BadInput : public ::testing::TestWithParam<bad_case> {};

TEST_P(BadInput, IsRejectedWithFileProblemAndPlace) {
  const bad_case& c = GetParam();
  temp_dir tmp;
  const std::string dir = tmp / "b";
  instance in = small_instance();
  testing::write_bundle(dir, in);
  c.spoil(in, dir);
  const std::string file = dir + "/" + c.file;
  try {
    load_problem(dir);
    FAIL() << "accepted";
  } catch (const input_error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_EQ(msg.rfind(file, 0), 0u) << msg;
    EXPECT_NE(msg.find(c.message), std::string::npos) << msg;
  }
  // The CLI says the same on one line and exits 2, leaving no output folder.
  const auto r = testing::run_cli("solve --quiet --iterations 1 --problem " + dir + " --out " + (tmp / "out"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(file), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(std::filesystem::exists(tmp / "out"));
}

INSTANTIATE_TEST_SUITE_P(Design5, BadInput, ::testing::ValuesIn(bad_cases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(OneLine, KeepsUtf8AndEscapesTheRest) {
  EXPECT_EQ(one_line("/data/caf\u00e9/\u6570\u636e.npy: ok"), "/data/caf\u00e9/\u6570\u636e.npy: ok");
  EXPECT_EQ(one_line("a\nb\tc\x7f"), "a\\x0ab\\x09c\\x7f");
  // a sequence cut short, a stray continuation byte, an overlong lead, a lead past U+10FFFF
  EXPECT_EQ(one_line("\xe6\x95 \x80 \xc0\xaf \xf5\x80\x80\x80"),
            "\\xe6\\x95 \\x80 \\xc0\\xaf \\xf5\\x80\\x80\\x80");
  EXPECT_EQ(one_line(std::string_view("nul\0!", 5)), "nul\\x00!");
}

TEST(LoadProblem, MissingFolderIsAnInputError) {
  EXPECT_THROW(load_problem("/nonexistent/attnswarm/bundle"), input_error);
  const auto r = testing::run_cli("eval --problem /nonexistent/attnswarm/bundle");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/nonexistent/attnswarm/bundle: not a bundle folder"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace attnswarm

// Output folders (host/staged_dir): what a commit replaces, what it refuses to touch, and
// that concurrent commits to one folder never leave a mix of two runs' files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "errors.hpp"
#include "staged_dir.hpp"
#include "test_util.hpp"

namespace attnswarm {
namespace {

namespace fs = std::filesystem;
using testing::temp_dir;

const output_kind k_report{"report", {"summary.json", "extra.npy", "shared.csv"}};
const output_kind k_table{"table", {"shared.csv", "table.csv"}};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_all(const std::string& target, const output_kind& kind, const std::vector<std::string>& names,
               const std::string& text) {
  staged_dir out(target, kind);
  for (const auto& n : names) write_text_file(out.path(n), text);
  out.commit();
}

// No staging folder of the target "out" is left beside it.
void expect_no_staging_left(const temp_dir& tmp) {
  for (const auto& e : fs::directory_iterator(tmp.path()))
    EXPECT_EQ(e.path().filename().string().find(".out.partial"), std::string::npos) << e.path();
}

// The message of the input_error that `f` throws, or "" when it throws none.
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const input_error& e) {
    return e.what();
  }
  return "";
}

TEST(StagedDir, ANewFolderAppearsWholeWithItsRecord) {
  temp_dir tmp;
  const std::string out = tmp / "out";
  write_all(out, k_report, {"summary.json", "extra.npy"}, "1");
  EXPECT_EQ(slurp(out + "/summary.json"), "1");
  EXPECT_EQ(slurp(out + "/extra.npy"), "1");
  const std::string record = slurp(out + "/" + k_outputs_record);
  EXPECT_NE(record.find("report\tsummary.json\n"), std::string::npos) << record;
  EXPECT_NE(record.find("report\textra.npy\n"), std::string::npos) << record;
  expect_no_staging_left(tmp);
}

TEST(StagedDir, ARerunReplacesAllOfTheEarlierRunsFilesOfItsKind) {
  temp_dir tmp;
  const std::string out = tmp / "out";
  write_all(out, k_report, {"summary.json", "extra.npy"}, "first");
  { std::ofstream(out + "/notes.txt") << "mine"; }
  write_all(out, k_report, {"summary.json"}, "second");
  EXPECT_EQ(slurp(out + "/summary.json"), "second");
  EXPECT_FALSE(fs::exists(out + "/extra.npy")) << "the first run's extra.npy would pass for the second's";
  EXPECT_EQ(slurp(out + "/notes.txt"), "mine");
  const std::string record = slurp(out + "/" + k_outputs_record);
  EXPECT_EQ(record.find("extra.npy"), std::string::npos) << record;
}

TEST(StagedDir, AFileAttnswarmDidNotWriteIsRefusedBeforeAnyWork) {
  temp_dir tmp;
  const std::string out = tmp / "out";
  fs::create_directories(out);
  { std::ofstream(out + "/extra.npy") << "hand-made"; }
  const std::string message = error_of([&] { staged_dir dir(out, k_report); });
  EXPECT_EQ(message, out + "/extra.npy: exists and attnswarm did not write it there (no .attnswarm-outputs entry); "
                           "move it away or choose another folder for this report");
  EXPECT_EQ(slurp(out + "/extra.npy"), "hand-made");
  expect_no_staging_left(tmp);
}

TEST(StagedDir, AnotherKindsFileIsNeverReplacedAndItsOwnAreKept) {
  temp_dir tmp;
  const std::string out = tmp / "out";
  write_all(out, k_table, {"shared.csv", "table.csv"}, "table");
  EXPECT_EQ(error_of([&] { staged_dir dir(out, k_report); }),
            out + "/shared.csv: belongs to the table written there; choose another folder for this report");
  // a report that does not collide lives beside the table, and neither removes the other's files
  const output_kind narrow_report{"report", {"summary.json"}};
  write_all(out, narrow_report, {"summary.json"}, "report");
  write_all(out, k_table, {"shared.csv", "table.csv"}, "table again");
  EXPECT_EQ(slurp(out + "/summary.json"), "report");
  EXPECT_EQ(slurp(out + "/table.csv"), "table again");
}

TEST(StagedDir, AFileThatAppearsDuringTheRunIsRefusedAtTheCommit) {
  temp_dir tmp;
  const std::string out = tmp / "out";
  fs::create_directories(out);
  staged_dir dir(out, k_report);
  write_text_file(dir.path("summary.json"), "result");
  { std::ofstream(out + "/summary.json") << "written meanwhile by hand"; }
  EXPECT_NE(error_of([&] { dir.commit(); }).find("summary.json: exists and attnswarm did not write it"),
            std::string::npos);
  EXPECT_EQ(slurp(out + "/summary.json"), "written meanwhile by hand");
}

TEST(StagedDir, ANameOutsideTheKindIsAProgrammingError) {
  temp_dir tmp;
  staged_dir dir(tmp / "out", k_report);
  EXPECT_THROW(dir.path("table.csv"), std::logic_error);
}

// Runs that commit to one folder at once, half of them with one more file: whichever commits
// last, every file of the kind in the folder is its, and a file it did not write is gone.
TEST(StagedDir, ConcurrentCommitsLeaveOneRunsFilesNeverAMix) {
  temp_dir tmp;
  for (int round = 0; round < 40; ++round) {
    const std::string out = tmp / ("out" + std::to_string(round));
    std::vector<std::thread> runs;
    std::vector<std::string> errors(6);
    for (int r = 0; r < 6; ++r)
      runs.emplace_back([&, r] {
        std::vector<std::string> names = {"summary.json", "shared.csv"};
        if (r % 2 == 1) names.push_back("extra.npy");
        try {
          write_all(out, k_report, names, std::to_string(r));
        } catch (const std::exception& e) {
          errors[r] = e.what();
        }
      });
    for (auto& t : runs) t.join();
    for (const auto& e : errors) ASSERT_EQ(e, "") << "round " << round;
    const std::string winner = slurp(out + "/summary.json");
    ASSERT_FALSE(winner.empty());
    ASSERT_EQ(slurp(out + "/shared.csv"), winner) << "round " << round;
    if (std::stoi(winner) % 2 == 1) {
      ASSERT_EQ(slurp(out + "/extra.npy"), winner) << "round " << round;
    } else {
      ASSERT_FALSE(fs::exists(out + "/extra.npy")) << "round " << round << ": run " << slurp(out + "/extra.npy")
                                                   << "'s extra.npy beside run " << winner << "'s summary";
    }
  }
}

}  // namespace
}  // namespace attnswarm

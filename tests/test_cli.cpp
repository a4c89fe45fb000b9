// The CLI end to end on generated bundles: generate, solve, eval, info, and what each leaves.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <thread>
#include <nlohmann/json.hpp>
#include <sstream>

#include "npy.hpp"
#include "solver.hpp"
#include "test_util.hpp"

namespace attnswarm {
namespace {

using nlohmann::json;
using testing::run_cli;
using testing::temp_dir;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string l; std::getline(ss, l);) out.push_back(l);
  return out;
}

json solve_summary(const std::string& args) {
  const auto r = run_cli("solve --quiet --json " + args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out);
  j.erase("elapsed_s");
  j.erase("bound_elapsed_s");
  j.erase("phase_s");
  j.erase("threads");
  j.erase("device");
  return j;
}

// What --backend auto picks here: CUDA when a device is usable, else the CPU reference.
std::string auto_backend() {
  const json info = json::parse(run_cli("info --json").out);
  return info["devices"].empty() ? "cpu" : "cuda";
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    bundle_ = tmp_ / "bundle";
    const auto r = run_cli("generate --users 3001 --tasks 11 --segments 3 --seed 7 --out " + bundle_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_NE(r.out.find("3001 users x 11 tasks x 3 segments"), std::string::npos) << r.out;
  }
  temp_dir tmp_;
  std::string bundle_;
};

TEST_F(Cli, GenerateIsDeterministicAndBinding) {
  const auto r = run_cli("generate --users 3001 --tasks 11 --segments 3 --seed 7 --out " + (tmp_ / "again"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* f : {"fitness.npy", "attraction.npy", "mass.npy", "segment.npy", "capacity.npy"})
    EXPECT_EQ(slurp(bundle_ + "/" + f), slurp(tmp_ / "again" + "/" + f)) << f;
  const auto e = run_cli("eval --json --problem " + bundle_);
  ASSERT_EQ(e.exit_code, 0) << e.err;
  const json j = json::parse(e.out);
  int overloaded = 0;
  for (int t = 0; t < 11; ++t)
    if (!j["capacity"][t].is_null() && j["load"][t].get<double>() > j["capacity"][t].get<double>()) ++overloaded;
  EXPECT_GE(overloaded, 2);
  EXPECT_LT(j["served"].get<double>(), j["utilization"].get<double>());
}

TEST_F(Cli, GenerateDoesNotDependOnTheThreadCount) {
  const auto one = run_cli("generate --users 40000 --tasks 7 --segments 2 --seed 3 --threads 1 --out " + (tmp_ / "t1"));
  const auto two = run_cli("generate --users 40000 --tasks 7 --segments 2 --seed 3 --threads 2 --out " + (tmp_ / "t2"));
  ASSERT_EQ(one.exit_code, 0) << one.err;
  ASSERT_EQ(two.exit_code, 0) << two.err;
  for (const char* f : {"fitness.npy", "attraction.npy", "mass.npy", "segment.npy", "capacity.npy"})
    EXPECT_EQ(slurp(tmp_ / "t1" + "/" + f), slurp(tmp_ / "t2" + "/" + f)) << f;
}

TEST_F(Cli, TimeLimitStopsTheSolveWithItsBest) {
  const json s = solve_summary("--problem " + bundle_ +
                               " --particles 8 --iterations 100000000 --stall 0 --tau 1 --beta 0 --time-limit 1");
  EXPECT_EQ(s["stop_reason"], "time_limit");
  EXPECT_GT(s["iterations_run"].get<int>(), 0);
  EXPECT_GE(s["best_served"].get<double>(), s["baseline_served"].get<double>());
}

TEST_F(Cli, SolveWritesEveryOutput) {
  const std::string out = tmp_ / "out";
  const auto r = run_cli("solve --quiet --problem " + bundle_ +
                         " --particles 16 --iterations 20 --search-iterations 3 --topk 3 --seed 5 --json --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json printed = json::parse(r.out);
  const json s = json::parse(slurp(out + "/summary.json"));
  EXPECT_EQ(printed, s);
  for (const char* key : {"users", "tasks", "segments", "backend", "particles", "seed", "tau", "beta", "iterations_run",
                          "stop_reason", "baseline_utilization", "baseline_served", "best_utilization", "best_served",
                          "improvement", "idle_users", "elapsed_s", "search_swarms"})
    EXPECT_TRUE(s.contains(key)) << key;
  EXPECT_EQ(s["users"], 3001);
  EXPECT_EQ(s["tasks"], 11);
  EXPECT_EQ(s["segments"], 3);
  EXPECT_EQ(s["backend"], auto_backend());
  // the grid first, in its order, then any shapes past its edge
  const auto grid = shape_grid(std::nullopt, std::nullopt);
  ASSERT_GE(s["shape_search"].size(), grid.size());
  for (std::size_t k = 0; k < grid.size(); ++k) {
    EXPECT_EQ(s["shape_search"][k]["tau"], grid[k].tau) << k;
    EXPECT_EQ(s["shape_search"][k]["beta"], grid[k].beta) << k;
  }
  EXPECT_GE(s["best_served"].get<double>(), s["baseline_served"].get<double>());
  EXPECT_NEAR(s["improvement"].get<double>(),
              s["best_served"].get<double>() / s["baseline_served"].get<double>() - 1.0, 1e-12);
  EXPECT_GT(s["improvement"].get<double>(), 0.0);
  // every phase ran (none is a stray 0), and together they are the whole solve
  double phases = 0.0;
  for (const char* phase : {"baseline", "shape_search", "swarm", "report", "bound"}) {
    ASSERT_TRUE(s["phase_s"].contains(phase)) << phase;
    EXPECT_GT(s["phase_s"][phase].get<double>(), 0.0) << phase;
    phases += s["phase_s"][phase].get<double>();
  }
  EXPECT_NEAR(phases, s["elapsed_s"].get<double>(), 1e-6);
  EXPECT_NEAR(s["phase_s"]["bound"].get<double>(), s["bound_elapsed_s"].get<double>(), 0.01);

  const auto conv = lines(slurp(out + "/convergence.csv"));
  EXPECT_EQ(conv.front(), "iteration,best_served,mean_pbest,elapsed_s");
  EXPECT_EQ(conv.size(), 2u + s["iterations_run"].get<std::size_t>());
  const auto tasks = lines(slurp(out + "/tasks.csv"));
  EXPECT_EQ(tasks.front(), "task,capacity,baseline_load,best_load,best_value,served_fraction");
  EXPECT_EQ(tasks.size(), 12u);

  npy_array policy(out + "/policy.npy");
  EXPECT_EQ(policy.type(), dtype::f64);
  EXPECT_EQ(policy.shape(), (std::vector<std::int64_t>{3, 11}));
  EXPECT_FALSE(std::filesystem::exists(out + "/segments.csv"));  // a generated bundle labels no segment
  npy_array tt(out + "/topk_task.npy"), ts(out + "/topk_share.npy");
  EXPECT_EQ(tt.type(), dtype::i32);
  EXPECT_EQ(ts.type(), dtype::f32);
  EXPECT_EQ(tt.shape(), (std::vector<std::int64_t>{3001, 3}));
  for (std::int64_t k = 0; k < tt.size(); ++k) {
    ASSERT_GE(tt.get_i64(k), -1);
    ASSERT_LT(tt.get_i64(k), 11);
  }

  // eval of the written policy reads its shape from summary.json and reproduces best_served.
  const auto e = run_cli("eval --json --quiet --problem " + bundle_ + " --policy " + out + "/policy.npy");
  ASSERT_EQ(e.exit_code, 0) << e.err;
  const json ej = json::parse(e.out);
  EXPECT_DOUBLE_EQ(ej["served"].get<double>(), s["best_served"].get<double>());
  EXPECT_EQ(ej["load"].size(), 11u);
  EXPECT_EQ(ej["value"].size(), 11u);
  EXPECT_TRUE(ej.contains("idle_users"));
  EXPECT_TRUE(ej.contains("utilization"));
}

TEST_F(Cli, EvalTakesLogBoostsUpToFiftyAndSaysWhereOneIsPast) {
  std::vector<double> w(3 * 11, 0.0);
  for (int j = 0; j < 11; ++j) w[j] = -50.0;  // segment 0: all shut out alike, so as W = 0
  w[11 + 4] = 50.0;
  write_npy(tmp_ / "edge.npy", dtype::f64, {3, 11}, w.data());
  const auto r = run_cli("eval --json --quiet --tau 1 --beta 0 --problem " + bundle_ + " --policy " + (tmp_ / "edge.npy"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  ASSERT_TRUE(j["served"].is_number()) << r.out;
  EXPECT_GT(j["served"].get<double>(), 0.0);
  w[2 * 11 + 7] = -800.0;
  write_npy(tmp_ / "past.npy", dtype::f64, {3, 11}, w.data());
  const auto past = run_cli("eval --quiet --problem " + bundle_ + " --policy " + (tmp_ / "past.npy"));
  EXPECT_EQ(past.exit_code, 2);
  EXPECT_NE(past.err.find("past.npy: log-boost -800 at row 2, column 7 (a policy holds log-boosts in [-50, 50]"),
            std::string::npos)
      << past.err;
}

// A nightly job starts from yesterday's policy: particle 1 starts there, the shape is the one
// its summary.json names, and the answer is never worse than it (kept when nothing beats it).
TEST_F(Cli, AWarmStartTakesItsShapeAndNeverEndsBelowIt) {
  const std::string first = tmp_ / "first", again = tmp_ / "again", kept = tmp_ / "kept";
  const json s = solve_summary("--problem " + bundle_ + " --particles 16 --iterations 10 --search-iterations 2 --out " +
                               first);
  const std::string warm = "--problem " + bundle_ + " --init-policy " + first + "/policy.npy";
  const json w = solve_summary(warm + " --particles 8 --iterations 5 --seed 3 --out " + again);
  EXPECT_EQ(w["tau"], s["tau"]);
  EXPECT_EQ(w["beta"], s["beta"]);
  EXPECT_EQ(w["shape_searched"], false);
  EXPECT_EQ(w["init_policy"], first + "/policy.npy");
  EXPECT_EQ(w["init_served"], s["best_served"]);  // the same exact report of the same policy
  EXPECT_GE(w["best_served"].get<double>(), s["best_served"].get<double>());
  EXPECT_EQ(s.contains("init_served"), false);
  // the nightly pattern: start from the policy in the folder the run writes, night after night
  const json night = solve_summary("--problem " + bundle_ + " --init-policy " + again +
                                   "/policy.npy --particles 8 --iterations 5 --seed 4 --out " + again);
  EXPECT_EQ(night["init_served"], w["best_served"]);
  EXPECT_GE(night["best_served"].get<double>(), w["best_served"].get<double>());
  EXPECT_EQ(json::parse(slurp(again + "/summary.json"))["best_served"], night["best_served"]);

  // two particles and no iteration: particle 1 is the start, which the swarm itself returns
  const json two = solve_summary(warm + " --particles 2 --iterations 0 --no-bound");
  EXPECT_EQ(two["fell_back_to_init_policy"], false);
  EXPECT_EQ(two["best_served"], s["best_served"]);

  // one particle and no iteration: of its two seeds, the baseline and the start, the swarm
  // keeps the one that serves more
  const json one = solve_summary(warm + " --particles 1 --iterations 0 --no-bound");
  EXPECT_EQ(one["fell_back_to_init_policy"], false);
  EXPECT_EQ(one["best_served"], s["best_served"]);

  // a box too small to hold the start: what the swarm finds in it serves less, so the start
  // is kept as it is, unclamped
  const json k = solve_summary(warm + " --particles 4 --iterations 0 --no-bound --w-max 0.01 --out " + kept);
  EXPECT_EQ(k["fell_back_to_init_policy"], true);
  EXPECT_EQ(k["best_served"], s["best_served"]);
  npy_array a(first + "/policy.npy"), b(kept + "/policy.npy");
  ASSERT_EQ(a.size(), b.size());
  for (std::int64_t i = 0; i < a.size(); ++i) EXPECT_EQ(a.get_f64(i), b.get_f64(i)) << i;

  // --tau and --beta given win over the summary's
  const json t = solve_summary(warm + " --particles 4 --iterations 2 --tau 0.25 --beta 1 --no-bound");
  EXPECT_EQ(t["tau"], 0.25);
  EXPECT_EQ(t["beta"], 1.0);
}

TEST_F(Cli, AWarmStartThatDoesNotFitIsAClearError) {
  const std::string first = tmp_ / "first";
  ASSERT_EQ(run_cli("solve --quiet --problem " + bundle_ + " --particles 4 --iterations 1 --tau 1 --beta 2 --no-bound "
                    "--out " + first).exit_code,
            0);
  const std::string other = tmp_ / "other";
  ASSERT_EQ(run_cli("generate --quiet --users 50 --tasks 4 --out " + other).exit_code, 0);
  const auto shape = run_cli("solve --quiet --problem " + other + " --init-policy " + first + "/policy.npy");
  EXPECT_EQ(shape.exit_code, 2);
  const std::string by_name = " (segments and tasks are lined up by name only where both the problem and the "
                              "segments.csv and tasks.csv beside the policy name them)\n";
  EXPECT_EQ(shape.err, "attnswarm: error: " + first + "/policy.npy: shape does not match (1, 4) = segments x tasks of "
                       "the problem" + by_name);
  ASSERT_EQ(run_cli("generate --quiet --users 50 --tasks 4 --segments 3 --out " + other).exit_code, 0);
  const auto tasks = run_cli("eval --quiet --problem " + other + " --policy " + first + "/policy.npy");
  EXPECT_EQ(tasks.exit_code, 2);
  EXPECT_EQ(tasks.err, "attnswarm: error: " + first + "/policy.npy: shape does not match (3, 4) = segments x tasks of "
                       "the problem" + by_name);
  // a missing file is said before the problem is loaded
  const auto missing = run_cli("solve --quiet --problem " + (tmp_ / "absent") + " --init-policy " + (tmp_ / "none.npy"));
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_EQ(missing.err, "attnswarm: error: " + (tmp_ / "none.npy") + ": --init-policy: no such file\n");
  // a summary whose shape is not one names itself
  { std::ofstream(first + "/summary.json") << R"({"tau": 0, "beta": 2})"; }
  const auto bad = run_cli("solve --quiet --problem " + bundle_ + " --init-policy " + first + "/policy.npy");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.err, "attnswarm: error: " + first + "/summary.json: tau 0 is not a shape (tau > 0, beta >= 0); give --tau and --beta\n");
}

TEST_F(Cli, SameSeedSameSummaryAnyThreadCount) {
  const std::string args = "--problem " + bundle_ + " --particles 12 --iterations 15 --search-iterations 2 --seed 9";
  const json a = solve_summary(args + " --threads 1");
  const json b = solve_summary(args + " --threads 2");
  const json c = solve_summary(args + " --threads 2");
  EXPECT_EQ(a, b);
  EXPECT_EQ(b, c);
  const json d = solve_summary("--problem " + bundle_ + " --particles 12 --iterations 15 --search-iterations 2 --seed 10");
  EXPECT_NE(a["best_served"], d["best_served"]);
}

TEST_F(Cli, FixedShapeSkipsTheSearch) {
  const json s = solve_summary("--problem " + bundle_ + " --particles 8 --iterations 5 --tau 0.5 --beta 2 --topology ring");
  EXPECT_EQ(s["shape_searched"], false);
  EXPECT_EQ(s["tau"], 0.5);
  EXPECT_EQ(s["beta"], 2.0);
  EXPECT_EQ(s["topology"], "ring");
  const json t = solve_summary("--problem " + bundle_ + " --particles 8 --iterations 5 --search-iterations 2 --tau 0.5");
  // beta searched (0, 1, 2, 4 and, while the largest wins, past it), tau fixed
  ASSERT_GE(t["shape_search"].size(), 4u);
  for (const auto& trial : t["shape_search"]) EXPECT_EQ(trial["tau"], 0.5);
}

TEST_F(Cli, StallStopsEarly) {
  const json s = solve_summary("--problem " + bundle_ + " --particles 4 --iterations 10000 --tau 1 --beta 0 --stall 3 --tol 0.5");
  EXPECT_EQ(s["stop_reason"], "stall");
  EXPECT_EQ(s["iterations_run"], 3);
}

TEST_F(Cli, ExistingOutputFolderKeepsForeignFilesAndFailedSolveWritesNothing) {
  const std::string out = tmp_ / "out";
  std::filesystem::create_directories(out);
  { std::ofstream(out + "/notes.txt") << "mine"; }
  const auto r = run_cli("solve --quiet --problem " + bundle_ + " --particles 4 --iterations 2 --tau 1 --beta 0 --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(slurp(out + "/notes.txt"), "mine");
  EXPECT_TRUE(std::filesystem::exists(out + "/summary.json"));
  const std::string before = slurp(out + "/summary.json");
  const auto bad = run_cli("solve --quiet --problem " + bundle_ + " --particles 0 --out " + out);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--particles"), std::string::npos);
  EXPECT_EQ(slurp(out + "/summary.json"), before);
  // no staging folders are left beside the output
  for (const auto& e : std::filesystem::directory_iterator(tmp_.path()))
    EXPECT_EQ(e.path().filename().string().find(".out.partial"), std::string::npos) << e.path();
}

// A rerun into the same folder leaves only its own outputs: no top-k from an earlier run with
// --topk beside a policy it does not belong to, no capacities from an earlier bundle.
TEST_F(Cli, ARerunLeavesNoFileOfTheEarlierRun) {
  const std::string out = tmp_ / "out";
  const std::string solve = "solve --quiet --problem " + bundle_ + " --particles 4 --iterations 2 --tau 1 --beta 0 --out " + out;
  ASSERT_EQ(run_cli(solve + " --topk 2").exit_code, 0);
  ASSERT_TRUE(std::filesystem::exists(out + "/topk_task.npy"));
  const auto r = run_cli(solve + " --seed 4");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out + "/topk_task.npy"));
  EXPECT_FALSE(std::filesystem::exists(out + "/topk_share.npy"));
  EXPECT_EQ(json::parse(slurp(out + "/summary.json"))["seed"], 4);

  ASSERT_TRUE(std::filesystem::exists(bundle_ + "/capacity.npy"));
  const auto g = run_cli("generate --quiet --users 500 --tasks 5 --capacity-ratio inf --out " + bundle_);
  ASSERT_EQ(g.exit_code, 0) << g.err;
  EXPECT_FALSE(std::filesystem::exists(bundle_ + "/capacity.npy"));
  const auto e = run_cli("eval --json --quiet --problem " + bundle_);
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_EQ(json::parse(e.out)["served"], json::parse(e.out)["utilization"]);
}

TEST_F(Cli, AnOutputFileAttnswarmDidNotWriteIsRefusedBeforeTheWork) {
  const std::string out = tmp_ / "out";
  std::filesystem::create_directories(out);
  { std::ofstream(out + "/policy.npy") << "hand-made"; }
  // the problem folder does not exist: the error about policy.npy shows it came first
  const auto r = run_cli("solve --quiet --problem " + (tmp_ / "absent") + " --out " + out);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "attnswarm: error: " + out +
                       "/policy.npy: exists and attnswarm did not write it there (no .attnswarm-outputs entry); "
                       "move it away or choose another folder for this solve\n");
  EXPECT_EQ(slurp(out + "/policy.npy"), "hand-made");
}

// A run killed before it could clean up (SIGKILL) leaves its staging folder; the next run
// with the same target removes it, but never one of a live process or of another host.
TEST_F(Cli, StagingFoldersOfKilledRunsAreRemovedByTheNext) {
  char host[256] = {};
  ASSERT_EQ(::gethostname(host, sizeof host - 1), 0);
  std::string h(host);
  std::replace(h.begin(), h.end(), '-', '_');
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ASSERT_GT(dead, 0);
  ::waitpid(dead, nullptr, 0);
  const std::string prefix = tmp_ / (".out.partial-" + h + "-");
  const std::string stale = prefix + std::to_string(dead) + "-77", live = prefix + std::to_string(::getpid()) + "-78",
                    elsewhere = tmp_ / (".out.partial-another_host-" + std::to_string(dead) + "-79");
  for (const auto& d : {stale, live, elsewhere}) {
    std::filesystem::create_directories(d);
    std::ofstream(d + "/fitness.npy") << "half";
  }
  const auto r = run_cli("solve --quiet --problem " + bundle_ + " --particles 4 --iterations 2 --tau 1 --beta 0 --out " +
                         (tmp_ / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(std::filesystem::exists(stale));
  EXPECT_TRUE(std::filesystem::exists(live + "/fitness.npy"));
  EXPECT_TRUE(std::filesystem::exists(elsewhere + "/fitness.npy"));
}

TEST_F(Cli, RunningOutOfHostMemoryIsAClearErrorAndWritesNothing) {
  // 10^8 particles of 33 dimensions need tens of gigabytes; the shell's limit gives 4
  const auto r = testing::run_shell("ulimit -v 4000000; " + std::string(ATTNSWARM_BIN_PATH) +
                                    " solve --quiet --backend cpu --problem " + bundle_ +
                                    " --iterations 2 --particles 100000000 --tau 1 --beta 0 --out " + (tmp_ / "out"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "attnswarm: error: out of host memory (fewer --particles or a smaller --topk need less)\n");
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "out"));
}

TEST_F(Cli, ABundleLargerThanTheDiskFailsBeforeWritingIt) {
  const auto r = run_cli("generate --quiet --users 100000000000 --tasks 100000 --out " + (tmp_ / "huge"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("huge: needs 8e+07 GB, and its file system has"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "huge"));
  for (const auto& e : std::filesystem::directory_iterator(tmp_.path()))
    EXPECT_EQ(e.path().filename().string().find(".huge.partial"), std::string::npos) << e.path();
}

TEST_F(Cli, AnOutputFolderThatCannotBeMadeFailsBeforeTheWork) {
  // /proc takes no new folders, not even from root. The problem folder does not exist: the
  // error about --out shows that it was checked before anything was loaded or solved.
  for (const char* cmd : {"solve", "bound"}) {
    const auto r = run_cli(std::string(cmd) + " --quiet --problem " + (tmp_ / "absent") + " --out /proc/attnswarm-out");
    EXPECT_EQ(r.exit_code, 2) << cmd;
    EXPECT_EQ(r.err.rfind("attnswarm: error: /proc/attnswarm-out: cannot create", 0), 0u) << cmd << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << cmd << ": " << r.err;
  }
}

// Runs args (stdout to /dev/null), sends `sig` after 1.5 s (long enough for a small bundle to
// load and the work to start), and returns the wait status; -1 if it could not be run.
int run_then_signal(const std::vector<std::string>& args, int sig) {
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::freopen("/dev/null", "w", stdout);
    execv(argv[0], argv.data());
    _exit(127);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  if (kill(pid, sig) != 0) kill(pid, SIGKILL);  // never leave it running
  int status = -1;
  return waitpid(pid, &status, 0) == pid ? status : -1;
}

// Ctrl-C, and the SIGTERM a batch scheduler sends before it kills a job: both stop the swarm,
// keep its best and write the outputs, and the exit code is 128 + the signal.
TEST_F(Cli, AStopSignalWritesTheBestSoFar) {
  for (const int sig : {SIGINT, SIGTERM}) {
    const std::string out = tmp_ / ("out-" + std::to_string(sig));
    // the CPU backend: it is ready within the 1.5 s wait everywhere (a CUDA context may not be)
    const std::vector<std::string> args = {ATTNSWARM_BIN_PATH, "solve",   "--quiet",  "--backend", "cpu",
                                           "--problem",        bundle_,   "--tau",    "1",         "--beta",
                                           "0",                "--iterations", "100000000", "--stall", "0",
                                           "--no-bound",       "--out",   out};
    const int status = run_then_signal(args, sig);
    ASSERT_TRUE(WIFEXITED(status)) << "signal " << sig << " killed it";
    EXPECT_EQ(WEXITSTATUS(status), 128 + sig);
    const json s = json::parse(slurp(out + "/summary.json"));
    EXPECT_EQ(s["stop_reason"], "interrupted");
    EXPECT_GT(s["iterations_run"].get<int>(), 0);
    EXPECT_GE(s["best_served"].get<double>(), s["baseline_served"].get<double>());
    EXPECT_TRUE(std::filesystem::exists(out + "/policy.npy"));
  }
}

TEST_F(Cli, AStoppedBoundIsStillWrittenAndSaysSo) {
  // a bound that takes seconds on one thread (about 20 s here), stopped after 1.5 s
  const std::string bundle = tmp_ / "slow";
  ASSERT_EQ(run_cli("generate --users 100000 --tasks 40 --segments 2 --seed 3 --out " + bundle).exit_code, 0);
  const std::string out = tmp_ / "bound-out";
  const std::vector<std::string> args = {ATTNSWARM_BIN_PATH, "bound", "--quiet", "--backend", "cpu", "--threads", "1",
                                         "--problem", bundle, "--tolerance", "1e-9", "--iterations", "100000000",
                                         "--json", "--out", out};
  const int status = run_then_signal(args, SIGTERM);
  ASSERT_TRUE(WIFEXITED(status)) << "SIGTERM killed it";
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGTERM);
  const json j = json::parse(slurp(out + "/bound.json"));
  EXPECT_TRUE(j["interrupted"].get<bool>());
  EXPECT_FALSE(j["converged"].get<bool>());
  EXPECT_GT(j["upper_bound"].get<double>(), 0.0);
  EXPECT_TRUE(std::filesystem::exists(out + "/prices.npy"));
}

TEST_F(Cli, ProgressLineOnATerminalOnly) {
  // script(1) gives the command a terminal; run_cli's redirections give it none.
  const std::string solve = std::string(ATTNSWARM_BIN_PATH) + " solve --problem " + bundle_ +
                            " --particles 8 --iterations 30 --search-iterations 2";
  const auto tty = testing::run_shell("script -qec '" + solve + "' /dev/null");
  EXPECT_NE(tty.out.find("[attnswarm] shape search: screen 1/12 (tau 1, beta 4)"), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find("[attnswarm] shape search: swarm 1/6 (tau "), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find("[attnswarm] iter 30/30"), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find("[attnswarm] certified upper bound"), std::string::npos) << tty.out;
  const auto pipe = testing::run_shell(solve);
  EXPECT_EQ(pipe.err.find("[attnswarm]"), std::string::npos) << pipe.err;
  const auto quiet = testing::run_shell("script -qec '" + solve + " --quiet' /dev/null");
  EXPECT_EQ(quiet.out.find("[attnswarm]"), std::string::npos) << quiet.out;
}

TEST(CliMisc, ProblemsThatServeNothingStillSolve) {
  temp_dir tmp;
  testing::instance in;
  in.users = 4;
  in.tasks = 3;
  in.fitness.assign(12, 0.0);  // every user idle
  in.attraction.assign(12, 0.5);
  in.capacity = {1.0, 2.0, 3.0};
  testing::write_bundle(tmp / "idle", in);
  in.users = 0;
  in.fitness.clear();
  in.attraction.clear();
  testing::write_bundle(tmp / "empty", in);
  for (const char* name : {"idle", "empty"}) {
    const auto r = run_cli("solve --quiet --json --particles 4 --iterations 3 --search-iterations 1 --problem " + (tmp / name));
    ASSERT_EQ(r.exit_code, 0) << name << ": " << r.err;
    const json j = json::parse(r.out);
    EXPECT_EQ(j["best_served"], 0.0) << name;
    EXPECT_TRUE(j["improvement"].is_null()) << name;
    EXPECT_EQ(j["upper_bound"], 0.0) << name;
    EXPECT_EQ(j["gap"], 0.0) << name;
    EXPECT_EQ(j["idle_users"], std::string(name) == "idle" ? 4 : 0) << name;
  }
}

TEST(CliMisc, InfoSaysWhetherCudaIsCompiledIn) {
  const auto r = run_cli("info --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_TRUE(j.contains("version"));
  EXPECT_TRUE(j["cuda_compiled"].is_boolean());
  EXPECT_TRUE(j["devices"].is_array());
  if (j["devices"].empty()) {
    EXPECT_TRUE(j.contains("note"));
  }
  for (const auto& d : j["devices"]) EXPECT_EQ(d["selftest"], "passed");
}

TEST(CliMisc, CudaBackendWithoutADeviceIsAClearError) {
  const auto info = json::parse(run_cli("info --json").out);
  if (!info["devices"].empty()) GTEST_SKIP() << "a CUDA device is present";
  temp_dir tmp;
  ASSERT_EQ(run_cli("generate --users 10 --tasks 3 --out " + (tmp / "b")).exit_code, 0);
  const auto r = run_cli("solve --backend cuda --problem " + (tmp / "b"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--backend cuda"), std::string::npos) << r.err;
  const std::string why = info["cuda_compiled"] ? "no usable CUDA device" : "CUDA was not compiled in";
  EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
}

TEST(CliMisc, ADeviceThatIsNotThereIsAClearError) {
  const auto info = json::parse(run_cli("info --json").out);
  temp_dir tmp;
  ASSERT_EQ(run_cli("generate --users 10 --tasks 3 --out " + (tmp / "b")).exit_code, 0);
  // auto does not trade a device asked for by number for the CPU
  const std::string missing = std::to_string(info["devices"].size());
  const auto r = run_cli("solve --iterations 1 --device " + missing + " --problem " + (tmp / "b"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--device " + missing), std::string::npos) << r.err;
  const std::string why = !info["cuda_compiled"]      ? "CUDA was not compiled in"
                          : info["devices"].empty() ? "no usable CUDA device"
                                                    : "no such CUDA device";
  EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
}

TEST(CliMisc, AnEvaluationPathWithoutCudaIsAClearError) {
  const auto info = json::parse(run_cli("info --json").out);
  temp_dir tmp;
  ASSERT_EQ(run_cli("generate --users 10 --tasks 3 --out " + (tmp / "b")).exit_code, 0);
  // under auto too: a CUDA path asked for by name is never silently dropped for the CPU
  const auto r = run_cli("eval --eval-path tensor --json --problem " + (tmp / "b"));
  if (!info["devices"].empty()) {
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(json::parse(r.out)["backend"], "cuda");
    return;
  }
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--eval-path tensor needs the CUDA backend"), std::string::npos) << r.err;
  const std::string why = info["cuda_compiled"] ? "no usable CUDA device" : "CUDA was not compiled in";
  EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
}

TEST(CliMisc, BadOptionsExitTwo) {
  EXPECT_EQ(run_cli("solve --topology star --iterations 1").exit_code, 2);
  EXPECT_EQ(run_cli("solve --tau 0").exit_code, 2);
  EXPECT_EQ(run_cli("solve --no-such-flag").exit_code, 2);
  EXPECT_EQ(run_cli("generate --users 10").exit_code, 2);
  EXPECT_EQ(run_cli("").exit_code, 2);
  // backend flags are checked before any problem is loaded, with the flag named
  for (const auto& [args, flag] : std::vector<std::pair<std::string, std::string>>{
           {"solve --backend gpu", "--backend"},
           {"solve --backend cpu --tf32", "--tf32"},
           {"solve --backend cpu --device 0", "--device"},
           {"solve --backend cpu --eval-path fused", "--eval-path"},
           {"bound --backend cpu --device-memory 1G", "--device-memory"},
           {"eval --device -2", "--device"},
           {"solve --eval-path wmma", "--eval-path"},
           {"solve --device-memory 12X", "--device-memory"},
           {"eval --device-memory 0", "--device-memory"},
           {"bound --backend tpu", "--backend"},
           {"solve --seed -1", "--seed"},
           {"solve --seed 18446744073709551616", "--seed"},
           {"generate --users 3 --tasks 2 --out x --seed 1e3", "--seed"},
           {"eval --threads 100000", "--threads"},
           {"solve --tol nan", "--tol"},
           {"solve --search-swarms 0", "--search-swarms: must be >= 1"},
           {"solve --tol -1", "--tol"},
           {"solve --time-limit nan", "--time-limit"},
           {"generate --users 18446744073709551616 --tasks 2 --out x", "--users"},
           {"generate --users 3 --tasks 9223372036854775808 --out x", "--tasks"},
           {"generate --users 0x10 --tasks 2 --out x", "--users"},
           {"import --events e.csv --out x --max-cells 1e9", "--max-cells"},
           {"solve --particles 99999999999", "--particles"},
           {"solve --no-such-flag", "--no-such-flag"},
           {"slove --iterations 3", "unknown subcommand 'slove' (one of solve, eval, bound, import, generate, info)"}}) {
    const auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, 2) << args;
    EXPECT_NE(r.err.find(flag), std::string::npos) << args << ": " << r.err;
    EXPECT_EQ(r.err.rfind("attnswarm: error: ", 0), 0u) << args << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << ": " << r.err;
    EXPECT_EQ(r.err.find("built-in"), std::string::npos) << args << ": loaded a problem first: " << r.err;
  }
  EXPECT_EQ(run_cli("solve --particles many").err,
            "attnswarm: error: Could not convert: --particles = many (attnswarm solve --help lists the options)\n");
  // the largest --tasks that fits is refused for want of disk, before any table is sized from it
  temp_dir tmp;
  const auto huge = run_cli("generate --users 0 --tasks 9223372036854775807 --out " + (tmp / "huge"));
  EXPECT_EQ(huge.exit_code, 2);
  EXPECT_NE(huge.err.find("huge: needs 7.38e+10 GB, and its file system has"), std::string::npos) << huge.err;
  const auto w_max = run_cli("solve --w-max 51");
  EXPECT_EQ(w_max.exit_code, 2);
  EXPECT_NE(w_max.err.find("--w-max: must be a number in (0, 50]"), std::string::npos) << w_max.err;
  for (const char* cmd : {"solve", "eval", "generate", "info"}) {
    const auto r = run_cli(std::string(cmd) + " --help");
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << cmd << ": " << r.out;
  }
}

}  // namespace
}  // namespace attnswarm

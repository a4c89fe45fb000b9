// The attnswarm command line: solve, eval, bound, import, generate, info (one file each,
// host/cli_*.cpp). Bad input is one line on stderr and exit code 2; an internal failure is
// exit code 1.
#include <cstdio>
#include <new>
#include <string>
#include <vector>

#include "cli.hpp"
#include "errors.hpp"

#ifndef ATTNSWARM_VERSION
#define ATTNSWARM_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
  using namespace attnswarm;
  CLI::App app{"attnswarm: attention allocation with a particle swarm, and a bound on how far from optimal it is"};
  app.require_subcommand(1);
  app.set_version_flag("--version", ATTNSWARM_VERSION);
  const std::vector<cli::subcommand> commands = {cli::add_solve(app),  cli::add_eval(app),     cli::add_bound(app),
                                                 cli::add_import(app), cli::add_generate(app), cli::add_info(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // one line, as every other error: the option, the problem, and where to read more
    std::string help = "attnswarm", names;
    for (const auto& c : commands) {
      if (*c.app) help += " " + c.app->get_name();
      names += (names.empty() ? "" : ", ") + c.app->get_name();
    }
    std::string what = e.what();
    if (help == "attnswarm")  // CLI11 says only "A subcommand is required", even of a misspelt one
      what = (argc > 1 && argv[1][0] != '-' ? "unknown subcommand '" + std::string(argv[1]) + "'"
                                             : std::string("a subcommand is required")) +
             " (one of " + names + ")";
    std::fprintf(stderr, "attnswarm: error: %s (%s --help lists the options)\n", one_line(what).c_str(), help.c_str());
    return 2;
  }
  try {
    for (const auto& c : commands)
      if (*c.app) return c.run();
  } catch (const input_error& e) {
    std::fprintf(stderr, "attnswarm: error: %s\n", one_line(e.what()).c_str());
    return 2;
  } catch (const unavailable_error& e) {
    std::fprintf(stderr, "attnswarm: error: %s\n", one_line(e.what()).c_str());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "attnswarm: error: out of host memory (fewer --particles or a smaller --topk need less)\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "attnswarm: internal error: %s\n", one_line(e.what()).c_str());
    return 1;
  }
  return 0;
}

#include "staged_dir.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "errors.hpp"

namespace attnswarm {

namespace fs = std::filesystem;

namespace {

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "host";
  std::string h(name);
  std::replace(h.begin(), h.end(), '-', '_');  // '-' separates the parts of a staging name
  return h;
}

// Removes the staging folders of `target` that runs on this host left behind when they were
// killed before they could clean up (SIGKILL from a batch scheduler, a crash): a nightly job
// would otherwise leave a bundle's worth of files each time. A folder is stale when the
// process that named it is gone; one of another host (a shared file system) is never touched.
void remove_stale_staging(const fs::path& parent, const std::string& prefix) {
  std::error_code ec;
  for (fs::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string rest = name.substr(prefix.size());  // PID-RANDOM
    const auto dash = rest.find('-');
    if (dash == std::string::npos || dash == 0) continue;
    pid_t pid = 0;
    try {
      pid = static_cast<pid_t>(std::stol(rest.substr(0, dash)));
    } catch (const std::exception&) {
      continue;
    }
    if (pid <= 0 || pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
    std::error_code rm;
    fs::remove_all(it->path(), rm);
  }
}

}  // namespace

staged_dir::staged_dir(const std::string& target) : target_(target) {
  fs::path t = fs::absolute(fs::path(target)).lexically_normal();
  if (t.filename().empty()) t = t.parent_path();
  if (fs::exists(t) && !fs::is_directory(t))
    throw input_error(target + ": exists and is not a folder");
  const fs::path parent = t.parent_path();
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) throw input_error(parent.string() + ": cannot create output folder (" + ec.message() + ")");
  // .NAME.partial-HOST-PID-RANDOM
  std::string prefix = ".";  // appended piece by piece: GCC 12 warns falsely on "." + string
  prefix += t.filename().string();
  prefix += ".partial-";
  prefix += host_name();
  prefix += '-';
  remove_stale_staging(parent, prefix);
  std::random_device rd;
  std::string name = prefix;
  name += std::to_string(::getpid());
  name += '-';
  name += std::to_string(rd() & 0xffffff);
  staging_ = (parent / name).string();
  if (!fs::create_directory(staging_, ec) || ec)
    throw input_error(target + ": cannot create its staging folder " + staging_ + " (" +
                      (ec ? ec.message() : std::string("it exists")) + ")");
}

staged_dir::~staged_dir() {
  std::error_code ec;
  fs::remove_all(staging_, ec);
}

std::string staged_dir::path(const std::string& name) {
  if (std::find(names_.begin(), names_.end(), name) == names_.end()) names_.push_back(name);
  return (fs::path(staging_) / name).string();
}

void staged_dir::require_space(double bytes) const {
  std::error_code ec;
  const fs::space_info room = fs::space(staging_, ec);
  if (ec || bytes <= static_cast<double>(room.available)) return;
  char text[160];
  std::snprintf(text, sizeof text, ": needs %.3g GB, and its file system has %.3g GB free", bytes / 1e9,
                static_cast<double>(room.available) / 1e9);
  throw input_error(target_ + text);
}

void staged_dir::commit() {
  if (committed_) return;
  std::error_code ec;
  if (!fs::exists(target_)) {
    // The common case is a new folder: one rename makes it appear whole.
    fs::rename(staging_, target_, ec);
    if (!ec) {
      committed_ = true;
      return;
    }
  }
  fs::create_directories(target_, ec);
  if (ec) throw input_error(target_ + ": cannot create output folder (" + ec.message() + ")");
  for (const auto& name : names_) {
    fs::rename(fs::path(staging_) / name, fs::path(target_) / name, ec);
    if (ec) throw input_error((fs::path(target_) / name).string() + ": cannot move into place (" + ec.message() + ")");
  }
  committed_ = true;
}

void write_text_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      throw input_error(path + ": cannot write (" + std::strerror(errno) + ")");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw input_error(path + ": cannot write (" + std::strerror(errno) + ")");
  }
}

}  // namespace attnswarm

#include "staged_dir.hpp"

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

staged_dir::staged_dir(const std::string& target) : target_(target) {
  fs::path t = fs::absolute(fs::path(target)).lexically_normal();
  if (t.filename().empty()) t = t.parent_path();
  if (fs::exists(t) && !fs::is_directory(t))
    throw input_error(target + ": exists and is not a folder");
  const fs::path parent = t.parent_path();
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) throw input_error(parent.string() + ": cannot create output folder (" + ec.message() + ")");
  std::random_device rd;
  std::string name = ".";
  name += t.filename().string();
  name += ".partial-";
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

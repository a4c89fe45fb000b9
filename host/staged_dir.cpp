#include "staged_dir.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>

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

// The record of a target folder: which kind wrote which file, one "KIND<TAB>FILE" a line.
struct record_entry {
  std::string kind, file;
};

std::vector<record_entry> read_record(const fs::path& dir) {
  std::vector<record_entry> entries;
  std::ifstream in(dir / k_outputs_record);
  std::string line;
  while (std::getline(in, line)) {
    const auto tab = line.find('\t');
    if (line.empty() || line[0] == '#' || tab == std::string::npos || tab == 0 || tab + 1 == line.size()) continue;
    entries.push_back({line.substr(0, tab), line.substr(tab + 1)});
  }
  return entries;
}

std::string record_text(const std::vector<record_entry>& entries) {
  std::string text = "# which attnswarm command wrote each file of this folder: KIND<TAB>FILE\n";
  for (const auto& e : entries) {
    text += e.kind;
    text += '\t';
    text += e.file;
    text += '\n';
  }
  return text;
}

std::string owner_of(const std::vector<record_entry>& record, const std::string& file) {
  for (const auto& e : record)
    if (e.file == file) return e.kind;
  return {};
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// A file of the kind's names that attnswarm did not write there as this kind would be lost
// (a hand-made fitness.npy, the events CSV an import reads, a bundle's tasks.csv under a
// solve's results), so such a target is refused: before any work, and again at the commit.
void check_target(const fs::path& dir, const std::string& target, const output_kind& kind,
                  const std::vector<record_entry>& record) {
  for (const auto& name : kind.files) {
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(dir / name, ec))) continue;
    const std::string owner = owner_of(record, name);
    if (owner == kind.name) continue;
    const std::string file = (fs::path(target) / name).string();
    if (owner.empty())
      throw input_error(file + ": exists and attnswarm did not write it there (no " + k_outputs_record +
                        " entry); move it away or choose another folder for this " + kind.name);
    throw input_error(file + ": belongs to the " + owner + " written there; choose another folder for this " + kind.name);
  }
}

// Serializes the commits to one folder (flock(2) on the folder itself). Where the file
// system has no such locks (some network file systems), commits go on unserialized.
class folder_lock {
 public:
  explicit folder_lock(const fs::path& dir) : fd_(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
    if (fd_ < 0) return;
    while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  ~folder_lock() {
    if (fd_ >= 0) ::close(fd_);
  }
  folder_lock(const folder_lock&) = delete;
  folder_lock& operator=(const folder_lock&) = delete;

 private:
  int fd_;
};

}  // namespace

staged_dir::staged_dir(const std::string& target, output_kind kind) : target_(target), kind_(std::move(kind)) {
  fs::path t = fs::absolute(fs::path(target)).lexically_normal();
  if (t.filename().empty()) t = t.parent_path();
  if (fs::exists(t) && !fs::is_directory(t))
    throw input_error(target + ": exists and is not a folder");
  if (fs::is_directory(t)) {
    const folder_lock lock(t);  // a commit under way has moved files in but not yet recorded them
    check_target(t, target, kind_, read_record(t));
  }
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
  if (!contains(kind_.files, name)) throw std::logic_error(name + " is not a file of a " + kind_.name);
  if (!contains(names_, name)) names_.push_back(name);
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
  std::vector<record_entry> mine;
  for (const auto& name : names_) mine.push_back({kind_.name, name});
  std::error_code ec;
  if (!fs::exists(target_)) {
    // The common case is a new folder: one rename makes it appear whole, record included.
    // When another run made the folder meanwhile, the rename fails and the path below serves.
    write_text_file((fs::path(staging_) / k_outputs_record).string(), record_text(mine));
    fs::rename(staging_, target_, ec);
    if (!ec) {
      committed_ = true;
      return;
    }
  }
  fs::create_directories(target_, ec);
  if (ec) throw input_error(target_ + ": cannot create output folder (" + ec.message() + ")");
  const folder_lock lock(target_);
  const auto record = read_record(target_);
  check_target(target_, target_, kind_, record);  // another run may have written there since
  for (const auto& name : names_) {
    fs::rename(fs::path(staging_) / name, fs::path(target_) / name, ec);
    if (ec) throw input_error((fs::path(target_) / name).string() + ": cannot move into place (" + ec.message() + ")");
  }
  // Kept: other kinds' files that are still there. An earlier run's file of this kind that
  // this run did not write (its top-k, a capacity.npy) would be read as part of this run's
  // outputs, so it goes; only the kind's own names, so a record edited by hand removes nothing else.
  std::vector<record_entry> kept;
  for (const auto& e : record) {
    if (contains(names_, e.file)) continue;
    if (e.kind == kind_.name) {
      if (contains(kind_.files, e.file)) fs::remove(fs::path(target_) / e.file, ec);
    } else if (fs::exists(fs::symlink_status(fs::path(target_) / e.file, ec))) {
      kept.push_back(e);
    }
  }
  kept.insert(kept.end(), mine.begin(), mine.end());
  write_text_file((fs::path(target_) / k_outputs_record).string(), record_text(kept));
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

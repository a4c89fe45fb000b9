// Output folders that are never half-written: files go to a hidden sibling folder first and
// are renamed into place only by commit(), after everything was written. Without commit()
// (an error, an exception) the staging folder is removed and the target is untouched. One
// that a killed run left behind is removed by the next run with the same target.
#pragma once

#include <string>
#include <vector>

namespace attnswarm {

class staged_dir {
 public:
  explicit staged_dir(const std::string& target);
  ~staged_dir();
  staged_dir(const staged_dir&) = delete;
  staged_dir& operator=(const staged_dir&) = delete;

  // Where to write `name` now; it appears in the target folder at commit().
  std::string path(const std::string& name);
  // Throws input_error when the file system holds less than `bytes` free for the staged
  // files: a bundle of many gigabytes fails at once, not when the disk is full.
  void require_space(double bytes) const;
  // Renames every staged file into the target folder (created if missing); files of the
  // target that were not staged are left alone.
  void commit();

 private:
  std::string target_;
  std::string staging_;
  std::vector<std::string> names_;
  bool committed_ = false;
};

// Writes text to `path` through a temporary name in the same folder and a rename.
void write_text_file(const std::string& path, const std::string& text);

}  // namespace attnswarm

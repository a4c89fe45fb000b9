// Output folders that are never half-written and never mixed: files go to a hidden sibling
// folder first and are renamed into place only by commit(), after everything was written.
// Without commit() (an error, an exception) the staging folder is removed and the target is
// untouched. One that a killed run left behind is removed by the next run with the same target.
//
// Each kind of output (a bundle, a solve's results, a bound) owns a fixed set of file names.
// A hidden record in the target, `.attnswarm-outputs`, says which kind wrote which file, so
// that a commit can replace all of an earlier run's files of its kind (a file that run wrote
// and this one does not, such as the top-k of a solve with --topk, is removed), while a file
// attnswarm did not write, or one another kind wrote, is never overwritten: the constructor
// refuses such a target before any work. Commits to one folder are serialized with flock(2),
// so two runs writing the same folder leave one run's files, never a mix.
#pragma once

#include <string>
#include <vector>

namespace attnswarm {

// The name of the record of which kind wrote which file of an output folder.
inline constexpr const char* k_outputs_record = ".attnswarm-outputs";

struct output_kind {
  std::string name;                // "bundle", "solve", "bound": in messages and the record
  std::vector<std::string> files;  // every file this kind may write
};

class staged_dir {
 public:
  // Throws input_error when `target` cannot be made, or when it holds a file of kind.files
  // that attnswarm did not write as this kind.
  staged_dir(const std::string& target, output_kind kind);
  ~staged_dir();
  staged_dir(const staged_dir&) = delete;
  staged_dir& operator=(const staged_dir&) = delete;

  // Where to write `name` (one of the kind's files) now; it appears in the target at commit().
  std::string path(const std::string& name);
  // Throws input_error when the file system holds less than `bytes` free for the staged
  // files: a bundle of many gigabytes fails at once, not when the disk is full.
  void require_space(double bytes) const;
  // Renames every staged file into the target folder (created if missing), removes the files
  // of this kind that an earlier run wrote and this one did not, and updates the record.
  void commit();

 private:
  std::string target_;
  std::string staging_;
  output_kind kind_;
  std::vector<std::string> names_;
  bool committed_ = false;
};

// Writes text to `path` through a temporary name in the same folder and a rename.
void write_text_file(const std::string& path, const std::string& text);

}  // namespace attnswarm

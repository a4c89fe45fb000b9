#include "csv_reader.hpp"

#include <cerrno>
#include <cstring>

#include "errors.hpp"

namespace attnswarm {

namespace {
constexpr std::size_t k_block = 1 << 22;
}

csv_reader::csv_reader(const std::string& path) : path_(path), buf_(k_block) {
  file_ = std::fopen(path.c_str(), "rb");
  if (file_ == nullptr) throw input_error(path + ": cannot open (" + std::strerror(errno) + ")");
}

csv_reader::~csv_reader() {
  if (file_ != nullptr) std::fclose(file_);
}

bool csv_reader::fill() {
  if (eof_) return false;
  end_ = std::fread(buf_.data(), 1, buf_.size(), file_);
  pos_ = 0;
  if (end_ == 0) {
    if (std::ferror(file_)) throw input_error(path_ + ": read failed (" + std::strerror(errno) + ")");
    eof_ = true;
    return false;
  }
  return true;
}

bool csv_reader::next() {
  scratch_.clear();
  offsets_.clear();
  fields_.clear();
  record_line_ = line_;
  bool in_quotes = false, any = false, after_quote = false;
  for (;;) {
    if (pos_ == end_ && !fill()) break;
    // Fast path: copy a run of plain characters at once.
    if (!in_quotes) {
      std::size_t k = pos_;
      while (k < end_) {
        const char c = buf_[k];
        if (c == ',' || c == '\n' || c == '\r' || c == '"') break;
        ++k;
      }
      if (k > pos_) {
        scratch_.append(buf_.data() + pos_, k - pos_);
        pos_ = k;
        any = true;
        after_quote = false;
        continue;
      }
    }
    const char c = buf_[pos_++];
    any = true;
    if (in_quotes) {
      if (c == '"') {
        in_quotes = false;
        after_quote = true;
      } else {
        if (c == '\n') ++line_;
        scratch_ += c;
      }
      continue;
    }
    if (c == '"') {
      if (after_quote) scratch_ += '"';  // "" inside a quoted field
      in_quotes = true;
      after_quote = false;
      continue;
    }
    after_quote = false;
    if (c == ',') {
      offsets_.push_back(scratch_.size());
    } else if (c == '\n') {
      ++line_;
      break;
    } else if (c == '\r') {
      // CRLF: the '\n' that follows ends the record
    } else {
      scratch_ += c;
    }
  }
  if (!any) return false;
  std::size_t start = 0;
  for (std::size_t off : offsets_) {
    fields_.emplace_back(scratch_.data() + start, off - start);
    start = off;
  }
  fields_.emplace_back(scratch_.data() + start, scratch_.size() - start);
  return true;
}

std::string csv_quote(std::string_view s) {
  if (s.find_first_of(",\"\n\r") == std::string_view::npos) return std::string(s);
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

int csv_reader::column(const std::vector<std::string>& header, const std::string& name) {
  for (std::size_t k = 0; k < header.size(); ++k)
    if (header[k] == name) return static_cast<int>(k);
  return -1;
}

}  // namespace attnswarm

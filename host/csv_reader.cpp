#include "csv_reader.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <ctime>
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

std::string_view csv_trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool parse_csv_number(std::string_view s, double& out) {
  s = csv_trim(s);
  if (s.empty()) return false;
  if (s.front() == '+') s.remove_prefix(1);
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool parse_csv_time(std::string_view s, double& out) {
  if (parse_csv_number(s, out)) return std::isfinite(out);
  s = csv_trim(s);
  if (!s.empty() && s.back() == 'Z') s.remove_suffix(1);
  int v[6] = {0, 1, 1, 0, 0, 0};
  const char seps[6] = {'-', '-', 'T', ':', ':', '\0'};
  std::size_t at = 0;
  for (int k = 0; k < 6 && at < s.size(); ++k) {
    const auto r = std::from_chars(s.data() + at, s.data() + s.size(), v[k]);
    if (r.ec != std::errc()) return false;
    at = static_cast<std::size_t>(r.ptr - s.data());
    if (at == s.size()) break;
    if (!(s[at] == seps[k] || (k == 2 && s[at] == ' '))) return false;
    ++at;
  }
  if (at < s.size()) return false;
  std::tm tm{};
  tm.tm_year = v[0] - 1900;
  tm.tm_mon = v[1] - 1;
  tm.tm_mday = v[2];
  tm.tm_hour = v[3];
  tm.tm_min = v[4];
  tm.tm_sec = v[5];
  if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60) return false;
  out = static_cast<double>(timegm(&tm));
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

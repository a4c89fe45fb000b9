// A streaming CSV reader (RFC 4180: quoted fields with commas, doubled quotes and line
// breaks; LF or CRLF line ends) that reads a file in large blocks, so files larger than
// memory stream. Fields are views into the reader's buffer, valid until the next record.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace attnswarm {

class csv_reader {
 public:
  explicit csv_reader(const std::string& path);
  ~csv_reader();
  csv_reader(const csv_reader&) = delete;
  csv_reader& operator=(const csv_reader&) = delete;

  // Reads the next record into fields(); false at the end of the file.
  bool next();
  const std::vector<std::string_view>& fields() const { return fields_; }
  // Physical line on which the current record starts (1-based).
  std::int64_t line() const { return record_line_; }
  const std::string& path() const { return path_; }
  // Index of the column named `name` in the header record (read by the caller first), or -1.
  static int column(const std::vector<std::string>& header, const std::string& name);

 private:
  bool fill();
  std::string path_;
  std::FILE* file_ = nullptr;
  std::vector<char> buf_;
  std::size_t pos_ = 0, end_ = 0;
  bool eof_ = false;
  std::string scratch_;                 // unquoted text of the current record's fields
  std::vector<std::size_t> offsets_;    // field boundaries within scratch_
  std::vector<std::string_view> fields_;
  std::int64_t line_ = 1, record_line_ = 0;
};

// A field without its leading and trailing blanks.
std::string_view csv_trim(std::string_view field);
// A whole field as a number (blanks around it allowed); false if it is not one.
bool parse_csv_number(std::string_view field, double& out);
// Seconds since the epoch: a number, or an ISO 8601 date "YYYY-MM-DD[(T| )hh:mm[:ss]][Z]" (UTC).
bool parse_csv_time(std::string_view field, double& out);

// A field as CSV text: quoted (with doubled quotes) only when it needs to be.
std::string csv_quote(std::string_view field);

}  // namespace attnswarm

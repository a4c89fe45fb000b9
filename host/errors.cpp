#include "errors.hpp"

#include <cstdio>

namespace attnswarm {

namespace {

// Length of the well-formed UTF-8 sequence of two or more bytes starting at text[at]; 0 if none.
std::size_t utf8_sequence(std::string_view text, std::size_t at) {
  const auto lead = static_cast<unsigned char>(text[at]);
  const std::size_t len = lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3
                          : lead >= 0xf0 && lead <= 0xf4                                  ? 4
                                                                                          : 0;
  if (len == 0 || at + len > text.size()) return 0;
  for (std::size_t k = 1; k < len; ++k)
    if ((static_cast<unsigned char>(text[at + k]) & 0xc0) != 0x80) return 0;
  return len;
}

}  // namespace

std::string one_line(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t at = 0; at < text.size();) {
    const auto c = static_cast<unsigned char>(text[at]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
      ++at;
      continue;
    }
    if (const std::size_t len = c >= 0x80 ? utf8_sequence(text, at) : 0; len > 0) {
      out.append(text.substr(at, len));
      at += len;
      continue;
    }
    char escaped[5];
    std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
    out += escaped;
    ++at;
  }
  return out;
}

}  // namespace attnswarm

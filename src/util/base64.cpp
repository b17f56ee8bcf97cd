// EVP_DecodeBlock wants whole 4-character groups and counts padding as zero bytes, so the
// input is cleaned and padded first and the padding's bytes are cut from the result.

#include "util/base64.hpp"

#include "util/error.hpp"

#include <openssl/evp.h>

namespace xb {

std::string base64_encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string base64_decode(std::string_view text) {
  std::string clean;
  clean.reserve(text.size() + 3);
  for (char c : text)
    if (c != '\n' && c != '\r') clean += c;
  while (!clean.empty() && clean.back() == '=') clean.pop_back();
  std::size_t pad = (4 - clean.size() % 4) % 4;
  if (pad == 3) throw Error("invalid base64: a truncated group", Exit::usage);
  clean.append(pad, '=');
  std::string out(clean.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(clean.data()), static_cast<int>(clean.size()));
  if (n < 0) throw Error("invalid base64", Exit::usage);
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

}  // namespace xb

#pragma once
// Base64 (RFC 4648, standard alphabet) through OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock,
// which the sha256 wrapper already links: no hand-written codec to get wrong.

#include <string>
#include <string_view>

namespace xb {

/// Standard base64 with padding, on one line.
std::string base64_encode(std::string_view data);
/// Decodes standard base64; padding is optional and line breaks are ignored. Throws Error
/// (Exit::usage) on any other character or a truncated group.
std::string base64_decode(std::string_view text);

}  // namespace xb

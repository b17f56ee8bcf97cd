#pragma once
// Errors that end the run are exceptions, caught once in main and printed as
// "xbuild: error: ...". Recoverable failures return Result<T>: a value or a message,
// the way ccache uses tl::expected (std::expected is C++23 and g++ 12 lacks it).

#include <fmt/format.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace xb {

/// Exit codes scripts can rely on (documented in README.md).
enum class Exit : int {
  ok = 0,
  build_failed = 1,   ///< a platform's build, test or verification failed
  usage = 2,          ///< bad flags, bad config, unknown platform
  environment = 3,    ///< a missing toolchain, qemu, binfmt or tool
  registry = 4,       ///< a registry or network failure
  interrupted = 130,  ///< SIGINT/SIGTERM
};

/// A fatal error with the exit code main should return.
class Error : public std::runtime_error {
public:
  explicit Error(std::string message, Exit code = Exit::build_failed)
    : std::runtime_error(std::move(message)), m_code(code) {}
  /// The exit code for this failure.
  Exit code() const { return m_code; }

private:
  Exit m_code;
};

/// Throws an Error with a fmt-formatted message.
template <typename... Args>
[[noreturn]] void fail(Exit code, fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...), code);
}

/// A value or an error message. Small on purpose: ok(), value(), error().
template <typename T>
class Result {
public:
  Result(T value) : m_v(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  static Result failure(std::string message) { return Result(Tag{}, std::move(message)); }

  bool ok() const { return m_v.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(m_v); }
  const T& value() const { return std::get<0>(m_v); }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  const std::string& error() const { return std::get<1>(m_v); }
  /// The value, or throws Error(error(), code).
  T take(Exit code = Exit::build_failed) {
    if (!ok()) throw Error(error(), code);
    return std::move(value());
  }

private:
  struct Tag {};
  Result(Tag, std::string e) : m_v(std::in_place_index<1>, std::move(e)) {}
  std::variant<T, std::string> m_v;
};

}  // namespace xb

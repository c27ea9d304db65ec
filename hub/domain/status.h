// Status and Result<T>: errors as values for the per-record path.
//
// A Status carries a stable reason code (a dotted, lower-case identifier such as
// "id.checksum" that operators filter on) and a human sentence that says what was
// expected, what was found and where. Reason codes are string literals with static
// storage, so an OK status and the code itself never allocate; only the message does.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace hutong {

class Status {
 public:
  Status() = default;  // OK
  Status(std::string_view code, std::string message) : code_(code), message_(std::move(message)) {
    assert(!code_.empty());
  }

  static Status ok() { return Status(); }

  bool is_ok() const { return code_.empty(); }
  explicit operator bool() const { return is_ok(); }

  // The stable reason code, empty when OK.
  std::string_view code() const { return code_; }
  const std::string& message() const { return message_; }

  // "code: message", or "ok".
  std::string to_string() const {
    if (is_ok()) return "ok";
    std::string out(code_);
    out += ": ";
    out += message_;
    return out;
  }

 private:
  std::string_view code_;  // points at a string literal
  std::string message_;
};

// A value or the Status saying why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}        // NOLINT: implicit
  Result(Status status) : state_(std::in_place_index<1>, std::move(status)) {  // NOLINT
    assert(!std::get<1>(state_).is_ok());
  }

  bool is_ok() const { return state_.index() == 0; }
  explicit operator bool() const { return is_ok(); }

  const T& value() const& { return std::get<0>(state_); }
  T& value() & { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

  // The error; an OK Status when a value is held.
  Status status() const { return is_ok() ? Status() : std::get<1>(state_); }
  std::string_view code() const {
    return is_ok() ? std::string_view() : std::get<1>(state_).code();
  }

 private:
  std::variant<T, Status> state_;
};

}  // namespace hutong

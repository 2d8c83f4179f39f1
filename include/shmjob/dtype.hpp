#pragma once
// Element types of the matrices shmjob moves. Stored in native (little-endian) byte order.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace shmjob {

enum class DType : std::uint8_t {
  int8, int16, int32, int64, uint8, uint16, uint32, uint64, float32, float64
};

std::size_t dtype_size(DType type) noexcept;
std::string_view dtype_name(DType type) noexcept;  // "float64", as numpy spells it
bool dtype_is_float(DType type) noexcept;
bool dtype_is_signed(DType type) noexcept;
std::optional<DType> parse_dtype(std::string_view name) noexcept;

// Calls f(T{}) with the C++ type behind `type`.
template <class F>
decltype(auto) visit_dtype(DType type, F&& f) {
  switch (type) {
    case DType::int8: return f(std::int8_t{});
    case DType::int16: return f(std::int16_t{});
    case DType::int32: return f(std::int32_t{});
    case DType::int64: return f(std::int64_t{});
    case DType::uint8: return f(std::uint8_t{});
    case DType::uint16: return f(std::uint16_t{});
    case DType::uint32: return f(std::uint32_t{});
    case DType::uint64: return f(std::uint64_t{});
    case DType::float32: return f(float{});
    case DType::float64: break;
  }
  return f(double{});
}

}  // namespace shmjob

#include "shmjob/dtype.hpp"

#include <array>

namespace shmjob {
namespace {
struct DTypeInfo {
  DType type;
  std::string_view name;
  std::size_t size;
  bool is_float;
  bool is_signed;
};
constexpr std::array<DTypeInfo, static_cast<std::size_t>(kLastDType) + 1> kInfo{{
    {DType::int8, "int8", 1, false, true},
    {DType::int16, "int16", 2, false, true},
    {DType::int32, "int32", 4, false, true},
    {DType::int64, "int64", 8, false, true},
    {DType::uint8, "uint8", 1, false, false},
    {DType::uint16, "uint16", 2, false, false},
    {DType::uint32, "uint32", 4, false, false},
    {DType::uint64, "uint64", 8, false, false},
    {DType::float32, "float32", 4, true, true},
    {DType::float64, "float64", 8, true, true},
    {DType::float16, "float16", 2, true, true},
}};
const DTypeInfo& info(DType type) noexcept { return kInfo[static_cast<std::size_t>(type)]; }
}  // namespace

std::size_t dtype_size(DType type) noexcept { return info(type).size; }
std::string_view dtype_name(DType type) noexcept { return info(type).name; }
bool dtype_is_float(DType type) noexcept { return info(type).is_float; }
bool dtype_is_signed(DType type) noexcept { return info(type).is_signed; }

std::optional<DType> parse_dtype(std::string_view name) noexcept {
  for (const auto& entry : kInfo)
    if (entry.name == name) return entry.type;
  return std::nullopt;
}

}  // namespace shmjob

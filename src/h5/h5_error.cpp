#include <cstdint>
#include <string>

#include "h5/h5_handle.hpp"
#include "shmjob/dtype.hpp"
#include "shmjob/error.hpp"

namespace shmjob::h5 {
namespace {
// HDF5's I/O errors embed a multi-line report; the part a user needs is the system's message.
std::string one_line(std::string_view desc) {
  const std::string_view marker = "error message = '";
  if (const auto at = desc.find(marker); at != std::string_view::npos) {
    const auto start = at + marker.size();
    return std::string(desc.substr(start, desc.find('\'', start) - start));
  }
  std::string text(desc);
  for (char& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  return text;
}

// Collects the most specific messages of the current HDF5 error stack.
herr_t collect(unsigned n, const H5E_error2_t* e, void* data) {
  auto* out = static_cast<std::string*>(data);
  if (e->desc == nullptr || *e->desc == '\0') return 0;
  // The stack runs from the innermost call outwards; the first entry is the root cause, the
  // second usually names the operation.
  if (n < 2) {
    if (!out->empty()) *out += "; ";
    *out += one_line(e->desc);
  }
  return 0;
}
}  // namespace

void fail(std::string_view what) {
  std::string detail;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, collect, &detail);
  H5Eclear2(H5E_DEFAULT);
  std::string message = "HDF5: " + std::string(what);
  if (!detail.empty()) message += ": " + detail;
  throw H5Error(message);
}

void silence_hdf5_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

void write_string_attribute(hid_t object, const char* name, std::string_view value) {
  Datatype type(H5Tcopy(H5T_C_S1), "H5Tcopy");
  check(H5Tset_size(type, value.empty() ? 1 : value.size()), "H5Tset_size");
  check(H5Tset_cset(type, H5T_CSET_UTF8), "H5Tset_cset");
  Dataspace space(H5Screate(H5S_SCALAR), "H5Screate");
  if (H5Aexists(object, name) > 0) check(H5Adelete(object, name), "H5Adelete");
  Attribute attr(H5Acreate2(object, name, type, space, H5P_DEFAULT, H5P_DEFAULT),
                 std::string("create attribute ") + name);
  const std::string copy(value.empty() ? std::string(1, '\0') : std::string(value));
  check(H5Awrite(attr, type, copy.data()), std::string("write attribute ") + name);
}

void write_u64_attribute(hid_t object, const char* name, unsigned long long value) {
  Dataspace space(H5Screate(H5S_SCALAR), "H5Screate");
  if (H5Aexists(object, name) > 0) check(H5Adelete(object, name), "H5Adelete");
  Attribute attr(H5Acreate2(object, name, H5T_STD_U64LE, space, H5P_DEFAULT, H5P_DEFAULT),
                 std::string("create attribute ") + name);
  const std::uint64_t v = value;
  check(H5Awrite(attr, H5T_NATIVE_UINT64, &v), std::string("write attribute ") + name);
}

void write_string_list(hid_t location, const char* name, const std::vector<std::string>& values) {
  Datatype type(H5Tcopy(H5T_C_S1), "H5Tcopy");
  check(H5Tset_size(type, H5T_VARIABLE), "H5Tset_size");
  check(H5Tset_cset(type, H5T_CSET_UTF8), "H5Tset_cset");
  const hsize_t n = values.size();
  Dataspace space(H5Screate_simple(1, &n, nullptr), "H5Screate_simple");
  Dataset d(H5Dcreate2(location, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
            std::string("create dataset ") + name);
  std::vector<const char*> pointers;
  for (const auto& v : values) pointers.push_back(v.c_str());
  if (n > 0) check(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()), std::string("write ") + name);
}

namespace {
// HDF5's own type for every dtype but float16.
hid_t predefined_type(DType dtype) {
  switch (dtype) {
    case DType::int8:
      return H5T_NATIVE_INT8;
    case DType::int16:
      return H5T_NATIVE_INT16;
    case DType::int32:
      return H5T_NATIVE_INT32;
    case DType::int64:
      return H5T_NATIVE_INT64;
    case DType::uint8:
      return H5T_NATIVE_UINT8;
    case DType::uint16:
      return H5T_NATIVE_UINT16;
    case DType::uint32:
      return H5T_NATIVE_UINT32;
    case DType::uint64:
      return H5T_NATIVE_UINT64;
    case DType::float32:
      return H5T_NATIVE_FLOAT;
    case DType::float16:
      break;  // no predefined type: native_type() builds it
    case DType::float64:
      break;
  }
  return H5T_NATIVE_DOUBLE;
}
}  // namespace

Datatype native_type(DType dtype) {
  if (dtype == DType::float16) {
    // IEEE binary16, built as h5py builds it (so H5Tequal matches what h5py and numpy write):
    // sign bit 15, exponent bits 10-14 with bias 15, mantissa bits 0-9.
    Datatype half(H5Tcopy(H5T_IEEE_F32LE), "H5Tcopy");
    check(H5Tset_fields(half, 15, 10, 5, 0, 10), "H5Tset_fields");
    check(H5Tset_size(half, 2), "H5Tset_size");
    check(H5Tset_ebias(half, 15), "H5Tset_ebias");
    return half;
  }
  return Datatype(H5Tcopy(predefined_type(dtype)), "H5Tcopy");
}

}  // namespace shmjob::h5

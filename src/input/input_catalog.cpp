// InputCatalog: every input file opened once, the configured object resolved and validated, and
// the matrices listed. Every problem is one InputError line "<file>:<object>: <problem>".
#include <hdf5.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <limits>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "h5/h5_handle.hpp"
#include "h5/zstd_filter.hpp"
#include "input/input.hpp"
#include "shmjob/error.hpp"
#include "util/printable.hpp"
#include "util/utf8.hpp"

namespace shmjob {
namespace {

// Far beyond any real input; keeps the matrix arithmetic (and a corrupt serialisation) sane.
constexpr std::uint64_t kMaxMatrices = std::uint64_t{1} << 40;

// The decimal number following `marker` in `text`, if any.
std::optional<std::string> number_after(const std::string& text, std::string_view marker) {
  const auto at = text.find(marker);
  if (at == std::string::npos) return std::nullopt;
  const auto start = at + marker.size();
  const auto end = text.find_first_not_of("0123456789", start);
  if (end == start) return std::nullopt;
  return text.substr(start, end - start);
}

std::string shape_text(const std::vector<hsize_t>& dims) {
  std::string text = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) text += (i ? ", " : "") + std::to_string(dims[i]);
  return text + "]";
}

// Registered HDF5 filter ids (https://github.com/HDFGroup/hdf5_plugins/blob/master/docs/
// RegisteredFilterPlugins.md), used when the file does not store the filter's name.
std::string_view known_filter_name(H5Z_filter_t id) {
  switch (id) {
    case H5Z_FILTER_DEFLATE:
      return "deflate";
    case H5Z_FILTER_SHUFFLE:
      return "shuffle";
    case H5Z_FILTER_FLETCHER32:
      return "fletcher32";
    case H5Z_FILTER_SZIP:
      return "szip";
    case H5Z_FILTER_NBIT:
      return "nbit";
    case H5Z_FILTER_SCALEOFFSET:
      return "scaleoffset";
    case 305:
      return "lzo";
    case 307:
      return "bzip2";
    case 32000:
      return "lzf";
    case 32001:
      return "blosc";
    case 32004:
      return "lz4";
    case 32008:
      return "bitshuffle";
    case 32013:
      return "zfp";
    case 32015:
      return "zstd";
    case 32017:
      return "sz";
    case 32026:
      return "blosc2";
    default:
      return "unknown";
  }
}

// Why a type is not one of ours, or nullopt if it is; sets dtype and big_endian when it is.
std::optional<std::string> classify_type(hid_t type, DType& dtype, bool& big_endian) {
  const H5T_class_t type_class = h5::check(H5Tget_class(type), "H5Tget_class");
  const std::size_t size = H5Tget_size(type);
  if (size == 0) h5::fail("H5Tget_size");
  switch (type_class) {
    case H5T_INTEGER:
    case H5T_FLOAT:
      break;
    case H5T_STRING:
      return std::string(H5Tis_variable_str(type) > 0 ? "variable-length string" : "fixed-length string");
    case H5T_COMPOUND:
      return std::string("compound");
    case H5T_VLEN:
      return std::string("variable-length sequence");
    case H5T_ENUM:
      return std::string("enum");
    case H5T_REFERENCE:
      return std::string("reference");
    case H5T_BITFIELD:
      return std::string("bitfield");
    case H5T_OPAQUE:
      return std::string("opaque");
    case H5T_ARRAY:
      return std::string("array");
    case H5T_TIME:
      return std::string("time");
    default:
      return std::string("unknown type class");
  }

  const std::size_t precision = H5Tget_precision(type);
  const int offset = H5Tget_offset(type);
  const H5T_order_t order = H5Tget_order(type);
  if (order != H5T_ORDER_LE && order != H5T_ORDER_BE) return std::string("byte order other than little- or big-endian");
  big_endian = order == H5T_ORDER_BE;
  const std::string bits = std::to_string(size * 8) + "-bit";

  if (type_class == H5T_INTEGER) {
    if (size != 1 && size != 2 && size != 4 && size != 8) return bits + " integer";
    if (precision != size * 8 || offset != 0)
      return "integer with " + std::to_string(precision) + " significant bits in " + bits;
    const H5T_sign_t sign = H5Tget_sign(type);
    if (sign == H5T_SGN_ERROR) h5::fail("H5Tget_sign");
    const bool is_signed = sign == H5T_SGN_2;
    switch (size) {
      case 1:
        dtype = is_signed ? DType::int8 : DType::uint8;
        break;
      case 2:
        dtype = is_signed ? DType::int16 : DType::uint16;
        break;
      case 4:
        dtype = is_signed ? DType::int32 : DType::uint32;
        break;
      default:
        dtype = is_signed ? DType::int64 : DType::uint64;
        break;
    }
    return std::nullopt;
  }

  if (size != 2 && size != 4 && size != 8) return bits + " float";
  // IEEE 754 binary16/32/64 exactly: sign, exponent and mantissa where the native types (and
  // numpy's float16) have them, so H5Dread's conversion is a byte swap at most.
  std::size_t spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0;
  h5::check(H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize), "H5Tget_fields");
  const std::size_t ebias = H5Tget_ebias(type);
  const bool ieee32 = size == 4 && spos == 31 && epos == 23 && esize == 8 && mpos == 0 && msize == 23 && ebias == 127;
  const bool ieee64 = size == 8 && spos == 63 && epos == 52 && esize == 11 && mpos == 0 && msize == 52 && ebias == 1023;
  const bool ieee16 = size == 2 && spos == 15 && epos == 10 && esize == 5 && mpos == 0 && msize == 10 && ebias == 15;
  if (precision != size * 8 || offset != 0 || !(ieee16 || ieee32 || ieee64))
    return bits + " float that is not IEEE 754";
  dtype = size == 2 ? DType::float16 : size == 4 ? DType::float32 : DType::float64;
  return std::nullopt;
}

// The configured path made absolute, as parse_input_config() writes it (a config built in code
// may say "frames" or "frames/").
std::string object_path(std::string path) {
  if (path.empty() || path.front() != '/') path.insert(path.begin(), '/');
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

std::string join(const std::string& group, const std::string& name) {
  return group == "/" ? "/" + name : group + "/" + name;
}

// One input file being scanned.
class FileScanner {
 public:
  // `notes` (may be null) receives what the user should know but that is no error.
  FileScanner(std::string name, std::uint32_t index, const InputConfig& config, std::vector<InputDataset>& out,
              std::vector<std::string>* notes)
      : name_(std::move(name)), index_(index), config_(config), out_(out), notes_(notes) {}

  // Scans the file; returns the object its matrices come from (configured or found).
  std::string scan() {
    // Input names are recorded as UTF-8 text (master file, metrics log).
    if (!is_valid_utf8(name_))
      throw InputError(printable(name_) +
                       ": file name is not valid UTF-8 (shmjob records input names as UTF-8 text; rename the file)");
    open();
    const std::string path = config_.dataset ? object_path(*config_.dataset) : choose_object();
    resolve(path);
    try {
      h5::Handle<H5Oclose> object(H5Oopen(file_, path.c_str(), H5P_DEFAULT), "H5Oopen");
      const H5I_type_t type = H5Iget_type(object);
      if (type == H5I_DATASET) {
        add_dataset(object, path, /*in_group=*/false);
      } else if (type == H5I_GROUP) {
        remember(object);
        bool skipped_groups = false;
        scan_group(object, path, skipped_groups);
        if (added_ == 0)
          bad(path, std::string("group holds no 2-D datasets") +
                        (skipped_groups ? " (it has subgroups: set input.recursive to search them)" : ""));
      } else if (type == H5I_DATATYPE) {
        bad(path, "is a named datatype, not a dataset or group");
      } else {
        bad(path, "is neither a dataset nor a group");
      }
    } catch (const H5Error& e) {
      bad(path, "unreadable metadata: " + std::string(e.what()));
    }
    return path;
  }

  // With no input.dataset: "/data" if the file has it, else the file's only candidate.
  const std::string& found_by() const noexcept { return found_by_; }

 private:
  static constexpr std::size_t kCandidatesShown = 20;
  static constexpr std::size_t kMaxGroupDepth = 1024;
  // A file with more objects than this is not searched: the user names the dataset.
  static constexpr std::uint64_t kMaxObjectsSearched = 1'000'000;

  std::string choose_object() {
    try {
      if (h5::check(H5Lexists(file_, "data", H5P_DEFAULT), "H5Lexists") > 0) return "/data";
    } catch (const H5Error& e) {
      bad("/", "unreadable metadata: " + std::string(e.what()));
    }
    std::vector<std::string> shown;
    std::uint64_t count = 0;
    std::string only;
    find_candidates([&](const std::string& path, const std::vector<hsize_t>& dims, DType dtype) {
      const std::string text = printable(path) + " " + shape_text(dims) + " " + std::string(dtype_name(dtype));
      if (count == 0) only = path, found_by_ = text;
      if (shown.size() < kCandidatesShown) shown.push_back(text);
      ++count;
    });
    if (count == 0)
      bad_file(
          "no input.dataset given, no /data, and no 2-D or 3-D dataset of a supported type in the "
          "file (name one with input.dataset or --dataset)");
    if (count > 1) {
      std::string list;
      for (const std::string& s : shown) list += (list.empty() ? "" : ", ") + s;
      if (count > shown.size()) list += ", and " + std::to_string(count - shown.size()) + " more";
      bad_file("no input.dataset given and no /data, and " + std::to_string(count) +
               " datasets could hold the matrices: " + list + " (choose one with input.dataset or --dataset)");
    }
    return only;
  }

  // Calls found(path, dims, dtype) for every 2-D or 3-D, non-empty dataset of a supported type,
  // breadth first, names in bytewise order, each object once. Only hard links are followed (an
  // external link would read another file). A queue of group addresses, not recursion: a file
  // may nest groups as deep as its author likes.
  template <class Found>
  void find_candidates(Found found) {
    struct Pending {
      haddr_t address;
      std::string path;
    };
    std::deque<Pending> groups;
    {
      h5::Handle<H5Oclose> root(H5Oopen(file_, "/", H5P_DEFAULT), "H5Oopen /");
      H5O_info_t info{};
      h5::check(H5Oget_info2(root, &info, H5O_INFO_BASIC), "H5Oget_info2");
      seen_.insert({info.fileno, info.addr});
      groups.push_back({info.addr, "/"});
    }
    std::uint64_t objects = 0;
    while (!groups.empty()) {
      const Pending next = std::move(groups.front());
      groups.pop_front();
      try {
        h5::Handle<H5Oclose> group(H5Oopen_by_addr(file_, next.address), "H5Oopen_by_addr");
        std::vector<std::string> names;
        hsize_t position = 0;
        h5::check(H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &position, collect_hard_link, &names), "H5Literate");
        std::sort(names.begin(), names.end());
        for (const std::string& name : names) {
          if (++objects > kMaxObjectsSearched)
            bad_file("no input.dataset given and no /data, and the file holds more than " +
                     std::to_string(kMaxObjectsSearched) +
                     " objects to search (name the dataset with input.dataset or --dataset)");
          const std::string child = join(next.path, name);
          H5O_info_t info{};
          h5::check(H5Oget_info_by_name2(group, name.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT),
                    "H5Oget_info_by_name2");
          if (!seen_.insert({info.fileno, info.addr}).second) continue;
          if (info.type == H5O_TYPE_GROUP) {
            groups.push_back({info.addr, child});
          } else if (info.type == H5O_TYPE_DATASET) {
            h5::Dataset dataset(H5Dopen2(group, name.c_str(), H5P_DEFAULT), "H5Dopen2");
            if (auto shape = candidate_shape(dataset)) found(child, shape->first, shape->second);
          }
        }
      } catch (const H5Error& e) {
        bad(printable(next.path), "unreadable metadata: " + std::string(e.what()));
      }
    }
    seen_.clear();  // the scan proper starts afresh
  }

  // The dims and element type of a dataset that could hold the matrices, or nullopt.
  static std::optional<std::pair<std::vector<hsize_t>, DType>> candidate_shape(hid_t dataset) {
    h5::Datatype type(H5Dget_type(dataset), "H5Dget_type");
    DType dtype = DType::float64;
    bool big_endian = false;
    if (classify_type(type, dtype, big_endian)) return std::nullopt;
    h5::Dataspace space(H5Dget_space(dataset), "H5Dget_space");
    if (H5Sget_simple_extent_type(space) != H5S_SIMPLE) return std::nullopt;
    const int rank = h5::check(H5Sget_simple_extent_ndims(space), "H5Sget_simple_extent_ndims");
    if (rank != 2 && rank != 3) return std::nullopt;
    std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
    h5::check(H5Sget_simple_extent_dims(space, dims.data(), nullptr), "H5Sget_simple_extent_dims");
    if (std::find(dims.begin(), dims.end(), hsize_t{0}) != dims.end()) return std::nullopt;
    return std::make_pair(std::move(dims), dtype);
  }

  // H5Literate callback collecting the names of hard links; no exception may cross HDF5's frames.
  static herr_t collect_hard_link(hid_t, const char* name, const H5L_info_t* info, void* data) noexcept {
    try {
      if (info->type == H5L_TYPE_HARD) static_cast<std::vector<std::string>*>(data)->emplace_back(name);
      return 0;
    } catch (...) {
      return -1;
    }
  }

  [[noreturn]] void bad_file(const std::string& problem) const { throw InputError(name_ + ": " + problem); }
  [[noreturn]] void bad(const std::string& object, const std::string& problem) const {
    throw InputError(name_ + ":" + object + ": " + problem);
  }

  static std::string file_type_name(std::filesystem::file_type type) {
    switch (type) {
      case std::filesystem::file_type::fifo:
        return "a FIFO";
      case std::filesystem::file_type::character:
        return "a character device";
      case std::filesystem::file_type::block:
        return "a block device";
      case std::filesystem::file_type::socket:
        return "a socket";
      default:
        return "not a plain file";
    }
  }

  // External links would make shmjob read a file the user did not list (any path the input's
  // author chose), and user-defined links run code HDF5 finds elsewhere: both are refused.
  void refuse_foreign_link(hid_t location, const std::string& name, const std::string& shown) {
    H5L_info_t info{};
    h5::check(H5Lget_info(location, name.c_str(), &info, H5P_DEFAULT), "H5Lget_info");
    if (info.type == H5L_TYPE_HARD || info.type == H5L_TYPE_SOFT) return;
    if (info.type != H5L_TYPE_EXTERNAL)
      bad(shown, "user-defined link (type " + std::to_string(static_cast<int>(info.type)) + "): not followed");
    std::vector<char> value(info.u.val_size + 1, '\0');
    h5::check(H5Lget_val(location, name.c_str(), value.data(), value.size(), H5P_DEFAULT), "H5Lget_val");
    const char* file = nullptr;
    const char* object = nullptr;
    unsigned flags = 0;
    h5::check(H5Lunpack_elink_val(value.data(), value.size(), &flags, &file, &object), "H5Lunpack_elink_val");
    bad(shown, "external link to " + printable(file ? file : "?") + ":" + printable(object ? object : "?") +
                   ": not followed (list that file as an input instead)");
  }

  void open() {
    std::error_code error;
    const auto status = std::filesystem::status(name_, error);
    if (status.type() == std::filesystem::file_type::not_found) bad_file("no such file");
    if (error) bad_file("cannot access: " + error.message());
    if (std::filesystem::is_directory(status)) bad_file("is a directory, not an HDF5 file");
    // A FIFO would block the scan forever and a device has no end: regular files only
    // (symbolic links are followed; a loop is the "cannot access" above).
    if (!std::filesystem::is_regular_file(status))
      bad_file("is not a regular file (" + file_type_name(status.type()) + ")");

    if (::access(name_.c_str(), R_OK) != 0)
      bad_file("cannot read: " + std::error_code(errno, std::generic_category()).message());

    const htri_t is_hdf5 = H5Fis_hdf5(name_.c_str());
    H5Eclear2(H5E_DEFAULT);
    if (is_hdf5 == 0) bad_file("not an HDF5 file (no HDF5 signature)");
    // is_hdf5 < 0 (cannot read the file): H5Fopen below says why.
    const hid_t id = H5Fopen(name_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    if (id < 0) {
      try {
        h5::fail("H5Fopen");  // throws H5Error carrying HDF5's message, classified here
      } catch (const H5Error& e) {
        const std::string what = e.what();
        // HDF5 1.10 compares the file's size with the end address its superblock records:
        // "truncated file: eof = 33792, sblock->base_addr = 0, stored_eof = 67584".
        const auto on_disk = number_after(what, " eof = ");
        const auto expected = number_after(what, "stored_eof = ");
        if (what.find("truncated file") != std::string::npos && on_disk && expected)
          bad_file("truncated HDF5 file: " + *on_disk + " of its " + *expected + " bytes are present");
        bad_file("corrupt or truncated HDF5 file (" + what + ")");
      }
    }
    file_ = h5::File(id, "H5Fopen");
  }

  // Walks the path link by link, so "/a/b" with no "/a" is reported as such rather than as an
  // HDF5 traversal error.
  void resolve(const std::string& path) {
    if (path == "/") return;
    try {
      std::size_t at = 0;
      while (at != std::string::npos) {
        at = path.find('/', at + 1);
        const std::string prefix = path.substr(0, at);
        if (prefix.back() == '/') continue;  // "//" in the path
        if (h5::check(H5Lexists(file_, prefix.c_str(), H5P_DEFAULT), "H5Lexists") == 0)
          bad(path,
              prefix == path ? "no such dataset or group" : "no such dataset or group (" + prefix + " does not exist)");
        refuse_foreign_link(file_, prefix, prefix);
        if (h5::check(H5Oexists_by_name(file_, prefix.c_str(), H5P_DEFAULT), "H5Oexists_by_name") == 0)
          bad(path, "no such dataset or group (" + prefix + " is a dangling link)");
        if (prefix == path) break;
        H5O_info_t info{};
        h5::check(H5Oget_info_by_name2(file_, prefix.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT),
                  "H5Oget_info_by_name2");
        if (info.type != H5O_TYPE_GROUP) bad(path, "no such dataset or group (" + prefix + " is not a group)");
      }
    } catch (const H5Error& e) {
      bad(path, "unreadable metadata: " + std::string(e.what()));
    }
  }

  // False if the object was seen before (hard links, cycles through subgroups).
  bool remember(hid_t object) {
    H5O_info_t info{};
    h5::check(H5Oget_info2(object, &info, H5O_INFO_BASIC), "H5Oget_info2");
    return seen_.insert({info.fileno, info.addr}).second;
  }

  // H5Literate callback: no exception may cross HDF5's C frames.
  static herr_t collect_name(hid_t, const char* name, const H5L_info_t*, void* data) noexcept {
    try {
      static_cast<std::vector<std::string>*>(data)->emplace_back(name);
      return 0;
    } catch (...) {
      return -1;
    }
  }

  // Depth first, names in bytewise order, subgroups entered where their name falls: a stack of
  // open groups, not recursion, and a bound on its depth, so a hostile file can exhaust neither
  // the call stack nor memory (each level holds its path and its names).
  void scan_group(hid_t root, const std::string& root_path, bool& skipped_groups) {
    struct Level {
      h5::Handle<H5Oclose> group;
      std::string path;
      std::vector<std::string> names;
      std::size_t next = 0;
    };
    std::vector<Level> stack;
    const auto enter = [&](h5::Handle<H5Oclose> group, const std::string& path) {
      if (stack.size() > kMaxGroupDepth) {
        const std::string shown =
            path.size() <= 120 ? path : path.substr(0, 60) + "..." + path.substr(path.size() - 60);
        bad(printable(shown),
            "groups nested more than " + std::to_string(kMaxGroupDepth) + " levels deep (input.recursive)");
      }
      std::vector<std::string> names;
      hsize_t next = 0;
      h5::check(H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &next, collect_name, &names), "H5Literate " + path);
      std::sort(names.begin(), names.end());  // bytewise, whatever the file's index
      stack.push_back({std::move(group), path, std::move(names), 0});
    };
    enter(h5::Handle<H5Oclose>(H5Oopen(root, ".", H5P_DEFAULT), "H5Oopen"), root_path);
    while (!stack.empty()) {
      Level& level = stack.back();
      if (level.next == level.names.size()) {
        stack.pop_back();
        continue;
      }
      const std::string name = level.names[level.next++];
      const std::string child = join(level.path, name);
      try {
        if (auto subgroup = scan_child(level.group, name, child, skipped_groups)) enter(std::move(*subgroup), child);
      } catch (const H5Error& e) {
        bad(child, "unreadable metadata: " + std::string(e.what()));
      }
    }
  }

  // Adds a dataset; returns a subgroup to enter (recursive scans), else nothing.
  std::optional<h5::Handle<H5Oclose>> scan_child(hid_t group, const std::string& name, const std::string& child,
                                                 bool& skipped_groups) {
    if (!is_valid_utf8(name)) bad(printable(child), "object name is not valid UTF-8");
    refuse_foreign_link(group, name, child);
    if (h5::check(H5Oexists_by_name(group, name.c_str(), H5P_DEFAULT), "H5Oexists_by_name") == 0)
      bad(child, "dangling link");
    h5::Handle<H5Oclose> object(H5Oopen(group, name.c_str(), H5P_DEFAULT), "H5Oopen");
    const H5I_type_t type = H5Iget_type(object);
    if (type == H5I_DATASET) {
      if (remember(object)) add_dataset(object, child, /*in_group=*/true);
    } else if (type == H5I_GROUP) {
      if (!config_.recursive)
        skipped_groups = true;
      else if (remember(object))
        return object;
    }
    // Named datatypes are not data: skipped.
    return std::nullopt;
  }

  void add_dataset(hid_t dataset, const std::string& path, bool in_group) {
    InputDataset d;
    d.file = index_;
    d.path = path;

    h5::Datatype type(H5Dget_type(dataset), "H5Dget_type");
    if (auto problem = classify_type(type, d.shape.dtype, d.big_endian))
      bad(path, "unsupported element type: " + *problem +
                    " (shmjob reads 8/16/32/64-bit integers, float16, float32 and float64)");

    h5::Dataspace space(H5Dget_space(dataset), "H5Dget_space");
    const H5S_class_t space_class = H5Sget_simple_extent_type(space);
    if (space_class == H5S_NULL) bad(path, "is empty (null dataspace)");
    if (space_class == H5S_NO_CLASS) h5::fail("H5Sget_simple_extent_type");
    const int rank = h5::check(H5Sget_simple_extent_ndims(space), "H5Sget_simple_extent_ndims");
    std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
    if (rank > 0) h5::check(H5Sget_simple_extent_dims(space, dims.data(), nullptr), "H5Sget_simple_extent_dims");
    if (in_group && rank != 2)
      bad(path, "rank " + std::to_string(rank) + " (shape " + shape_text(dims) +
                    "): datasets in an input group must be 2-D [rows, cols]");
    if (rank != 2 && rank != 3)
      bad(path, "rank " + std::to_string(rank) + " (shape " + shape_text(dims) +
                    "): expected 3-D [N, rows, cols] or 2-D [rows, cols]");
    if (std::find(dims.begin(), dims.end(), hsize_t{0}) != dims.end())
      bad(path, "is empty (shape " + shape_text(dims) + ")");
    const hsize_t rows = dims[dims.size() - 2], cols = dims[dims.size() - 1];
    constexpr hsize_t kMaxDim = std::numeric_limits<std::uint32_t>::max();
    if (rows > kMaxDim || cols > kMaxDim)
      bad(path, "matrix shape " + shape_text(dims) + " exceeds 2^32-1 rows or columns");
    d.shape.rows = static_cast<std::uint32_t>(rows);
    d.shape.cols = static_cast<std::uint32_t>(cols);
    // rows x cols x element size can exceed 64 bits (2^32-1 squared x 8): multiply checked.
    std::uint64_t bytes = 0;
    const bool overflow = __builtin_mul_overflow(std::uint64_t{rows}, std::uint64_t{cols}, &bytes) ||
                          __builtin_mul_overflow(bytes, std::uint64_t{dtype_size(d.shape.dtype)}, &bytes);
    if (overflow || bytes > kMaxChunkBytes)
      bad(path, "one matrix of shape " + shape_text(dims) + " is " +
                    (overflow ? std::string("more than 2^64") : std::to_string(bytes)) +
                    " bytes, more than HDF5's chunk limit of 4 GiB - 1 (" + std::to_string(kMaxChunkBytes) + " bytes)");
    d.sliced = rank == 3;
    d.matrices = d.sliced ? dims[0] : 1;
    if (d.matrices > kMaxMatrices) bad(path, "more than 2^40 matrices");

    check_storage(dataset, path);
    note_sparse(dataset, path, d.matrices, bytes);
    out_.push_back(std::move(d));
    ++added_;
  }

  // A dataset that declares far more than it stores (a few KB declaring millions of matrices):
  // its unwritten chunks read as the fill value. Legal HDF5, but rarely what the user meant.
  void note_sparse(hid_t dataset, const std::string& path, std::uint64_t matrices, std::uint64_t matrix_bytes) {
    if (notes_ == nullptr) return;
    std::uint64_t declared = 0;
    if (__builtin_mul_overflow(matrices, matrix_bytes, &declared)) declared = std::numeric_limits<std::uint64_t>::max();
    const std::uint64_t stored = H5Dget_storage_size(dataset);  // 0 also for "nothing allocated"
    constexpr std::uint64_t kLarge = std::uint64_t{64} << 20, kRatio = 1000;
    if (declared < kLarge || stored > declared / kRatio) return;
    notes_->push_back("input: " + printable(name_) + ":" + printable(path) + " declares " + std::to_string(matrices) +
                      " matrices (" + std::to_string(declared) + " bytes) but stores " + std::to_string(stored) +
                      " bytes: the chunks never written read as the fill value");
  }

  void check_storage(hid_t dataset, const std::string& path) {
    h5::PropList dcpl(H5Dget_create_plist(dataset), "H5Dget_create_plist");
    const H5D_layout_t layout = H5Pget_layout(dcpl);
    if (layout == H5D_VIRTUAL) bad(path, "virtual datasets are not supported (list their source files instead)");
    if (layout != H5D_CONTIGUOUS && layout != H5D_CHUNKED && layout != H5D_COMPACT) bad(path, "unknown storage layout");
    if (h5::check(H5Pget_external_count(dcpl), "H5Pget_external_count") > 0)
      bad(path, "data in external raw files are not supported");

    const int filters = h5::check(H5Pget_nfilters(dcpl), "H5Pget_nfilters");
    for (int i = 0; i < filters; ++i) {
      unsigned flags = 0, filter_config = 0;
      std::array<unsigned, 32> cd_values{};
      std::size_t cd_count = cd_values.size();
      std::array<char, 128> name{};
      const H5Z_filter_t id = H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, &cd_count, cd_values.data(),
                                             name.size(), name.data(), &filter_config);
      if (id < 0) h5::fail("H5Pget_filter2");
      const std::string label = std::to_string(id) + " (" +
                                (name[0] != '\0' ? std::string(name.data()) : std::string(known_filter_name(id))) + ")";
      const htri_t available = H5Zfilter_avail(id);
      H5Eclear2(H5E_DEFAULT);  // a failed plugin search leaves its trail on the stack
      if (available <= 0) bad(path, "filter " + label + " is not available");
      unsigned info = 0;
      if (H5Zget_filter_info(id, &info) < 0 || (info & H5Z_FILTER_CONFIG_DECODE_ENABLED) == 0) {
        H5Eclear2(H5E_DEFAULT);
        bad(path, "filter " + label + " cannot decode in this HDF5 build");
      }
    }
  }

  std::string name_;
  std::uint32_t index_;
  const InputConfig& config_;
  std::vector<InputDataset>& out_;
  h5::File file_;
  std::set<std::pair<unsigned long, haddr_t>> seen_;
  std::size_t added_ = 0;
  std::string found_by_;  // "path [dims] dtype" of the object choose_object() found
  std::vector<std::string>* notes_;
};

// --- serialisation: little-endian fixed-width fields, strings length-prefixed ---------------

FileStamp stamp_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};  // the scan says why it cannot be read
  return {static_cast<std::uint64_t>(st.st_size),
          static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

constexpr std::array<char, 8> kMagic{'S', 'H', 'M', 'J', 'I', 'N', 'P', '2'};
constexpr std::uint8_t kBigEndianFlag = 1, kSlicedFlag = 2;

class Writer {
 public:
  void bytes(const void* data, std::size_t n) {
    const auto* p = static_cast<const std::byte*>(data);
    out_.insert(out_.end(), p, p + n);
  }
  template <class T>
  void integer(T value) {
    for (std::size_t i = 0; i < sizeof(T); ++i)
      out_.push_back(static_cast<std::byte>((static_cast<std::uint64_t>(value) >> (8 * i)) & 0xff));
  }
  void string(const std::string& s) {
    integer(static_cast<std::uint32_t>(s.size()));
    bytes(s.data(), s.size());
  }
  std::vector<std::byte> take() { return std::move(out_); }

 private:
  std::vector<std::byte> out_;
};

class Reader {
 public:
  explicit Reader(std::span<const std::byte> in) : in_(in) {}
  template <class T>
  T integer() {
    need(sizeof(T));
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i)
      value |= std::uint64_t{std::to_integer<std::uint8_t>(in_[at_ + i])} << (8 * i);
    at_ += sizeof(T);
    return static_cast<T>(value);
  }
  std::string string() {
    const auto n = integer<std::uint32_t>();
    need(n);
    std::string s(reinterpret_cast<const char*>(in_.data() + at_), n);
    at_ += n;
    return s;
  }
  void expect_magic() {
    need(kMagic.size());
    if (std::memcmp(in_.data(), kMagic.data(), kMagic.size()) != 0)
      malformed("wrong magic (not a serialised input catalog)");
    at_ += kMagic.size();
  }
  bool done() const { return at_ == in_.size(); }
  [[noreturn]] static void malformed(const std::string& why) { throw Error("input: malformed catalog bytes: " + why); }

 private:
  void need(std::size_t n) const {
    if (in_.size() - at_ < n) malformed("truncated");
  }
  std::span<const std::byte> in_;
  std::size_t at_ = 0;
};

}  // namespace

InputCatalog InputCatalog::scan(const InputConfig& config, std::vector<std::string>* notes) {
  h5::register_zstd_filter();
  if (config.files.empty()) throw InputError("no input files given (input.files is empty)");
  InputCatalog catalog;
  catalog.files_ = expand_input_files(config.files);
  if (catalog.files_.size() > std::numeric_limits<std::uint32_t>::max())
    throw InputError("more than 2^32-1 input files");
  // Counted as the files are scanned: 2^32 datasets of 2^40 matrices each would overflow a
  // total taken at the end.
  std::uint64_t matrices = 0;
  std::string object;  // where the first file's matrices are; every file must agree
  for (std::size_t i = 0; i < catalog.files_.size(); ++i) {
    const std::size_t before = catalog.datasets_.size();
    catalog.stamps_.push_back(stamp_of(catalog.files_[i]));  // before the scan reads it
    FileScanner scanner(catalog.files_[i], static_cast<std::uint32_t>(i), config, catalog.datasets_, notes);
    const std::string used = scanner.scan();
    if (i == 0) {
      object = used;
      if (notes != nullptr && !scanner.found_by().empty())
        notes->push_back("input: " + printable(catalog.files_[0]) + ": no input.dataset given and no /data: reading " +
                         scanner.found_by() +
                         ", the file's only 2-D or 3-D dataset (name it with input.dataset to be sure)");
    } else if (used != object) {
      throw InputError(printable(catalog.files_[i]) + ": its matrices would be read from " + printable(used) +
                       ", but " + printable(catalog.files_[0]) + "'s from " + printable(object) +
                       ": with no input.dataset every file must hold the same one (name it with input.dataset)");
    }
    for (std::size_t d = before; d < catalog.datasets_.size(); ++d) {
      matrices += catalog.datasets_[d].matrices;  // each <= 2^40: no overflow before the check
      if (matrices > kMaxMatrices)
        throw InputError(catalog.files_[i] + ": more than 2^40 matrices in the input so far");
    }
  }
  if (catalog.datasets_.size() > std::numeric_limits<std::uint32_t>::max())
    throw InputError("more than 2^32-1 input datasets");
  catalog.index_matrices();
  if (catalog.size() > kMaxMatrices) throw InputError("more than 2^40 matrices in the input");
  return catalog;
}

void InputCatalog::index_matrices() {
  first_.clear();
  first_.reserve(datasets_.size() + 1);
  by_shape_.clear();
  std::uint64_t total = 0;
  for (std::size_t d = 0; d < datasets_.size(); ++d) {
    const InputDataset& dataset = datasets_[d];
    first_.push_back(total);
    total += dataset.matrices;
    auto shape =
        std::find_if(by_shape_.begin(), by_shape_.end(), [&](const ShapeIndex& s) { return s.shape == dataset.shape; });
    if (shape == by_shape_.end()) shape = by_shape_.insert(shape, {dataset.shape, {}, {0}});
    shape->datasets.push_back(static_cast<std::uint32_t>(d));
    shape->first.push_back(shape->first.back() + dataset.matrices);
  }
  first_.push_back(total);
}

std::uint64_t InputCatalog::size() const noexcept { return first_.back(); }

// The k-th matrix over the datasets whose first matrices are `first` (then the total); the
// dataset indices are `datasets`, or 0.. when null.
InputMatrix InputCatalog::locate(const std::vector<std::uint64_t>& first, std::uint64_t k,
                                 const std::vector<std::uint32_t>* datasets) const {
  if (k >= first.back())
    throw std::out_of_range("input: matrix " + std::to_string(k) + " of " + std::to_string(first.back()));
  // The last dataset whose first matrix is <= k (every dataset holds at least one matrix).
  const auto next = std::upper_bound(first.begin(), first.end(), k);
  const auto position = static_cast<std::size_t>(next - first.begin() - 1);
  const auto dataset = datasets ? (*datasets)[position] : static_cast<std::uint32_t>(position);
  return {datasets_[dataset].file, dataset, k - first[position]};
}

InputMatrix InputCatalog::matrix(std::uint64_t id) const { return locate(first_, id, nullptr); }

std::uint64_t InputCatalog::count(const MatrixShape& shape) const noexcept {
  for (const ShapeIndex& s : by_shape_)
    if (s.shape == shape) return s.first.back();
  return 0;
}

InputMatrix InputCatalog::matrix(const MatrixShape& shape, std::uint64_t k) const {
  for (const ShapeIndex& s : by_shape_)
    if (s.shape == shape) return locate(s.first, k, &s.datasets);
  throw std::out_of_range("input: no matrix has the shape " + std::to_string(shape.rows) + " x " +
                          std::to_string(shape.cols) + " " + std::string(dtype_name(shape.dtype)));
}

std::vector<InputMatrix> InputCatalog::matrices() const {
  std::vector<InputMatrix> all;
  all.reserve(size());
  for (std::size_t d = 0; d < datasets_.size(); ++d)
    for (std::uint64_t i = 0; i < datasets_[d].matrices; ++i)
      all.push_back({datasets_[d].file, static_cast<std::uint32_t>(d), i});
  return all;
}

std::vector<MatrixShape> InputCatalog::shapes() const {
  std::vector<MatrixShape> shapes;
  for (const ShapeIndex& s : by_shape_) shapes.push_back(s.shape);
  return shapes;
}

std::uint64_t InputCatalog::total_bytes() const {
  std::uint64_t total = 0;
  // Saturates: up to 2^40 matrices of up to 4 GiB each exceed 64 bits.
  for (const InputDataset& d : datasets_) {
    std::uint64_t bytes = 0;
    if (__builtin_mul_overflow(d.matrices, d.shape.bytes(), &bytes) || __builtin_add_overflow(total, bytes, &total))
      return std::numeric_limits<std::uint64_t>::max();
  }
  return total;
}

std::uint64_t InputCatalog::max_matrix_bytes() const {
  std::uint64_t largest = 0;
  for (const InputDataset& d : datasets_) largest = std::max(largest, d.shape.bytes());
  return largest;
}

std::string InputCatalog::describe(const InputMatrix& m) const {
  if (m.dataset >= datasets_.size() || m.file >= files_.size()) return "<matrix outside the catalog>";
  const InputDataset& d = datasets_[m.dataset];
  std::string text = files_[m.file] + ":" + d.path;
  if (d.sliced) text += "[" + std::to_string(m.index) + "]";
  return text;
}

std::vector<std::byte> InputCatalog::serialize() const {
  Writer w;
  w.bytes(kMagic.data(), kMagic.size());
  w.integer(static_cast<std::uint32_t>(files_.size()));
  for (std::size_t i = 0; i < files_.size(); ++i) {
    w.string(files_[i]);
    w.integer(stamps_[i].size);
    w.integer(stamps_[i].mtime_ns);
  }
  w.integer(static_cast<std::uint32_t>(datasets_.size()));
  for (const InputDataset& d : datasets_) {
    w.integer(d.file);
    w.string(d.path);
    w.integer(d.shape.rows);
    w.integer(d.shape.cols);
    w.integer(static_cast<std::uint8_t>(d.shape.dtype));
    w.integer(static_cast<std::uint8_t>((d.big_endian ? kBigEndianFlag : 0) | (d.sliced ? kSlicedFlag : 0)));
    w.integer(d.matrices);
  }
  return w.take();
}

InputCatalog InputCatalog::deserialize(std::span<const std::byte> bytes) {
  Reader r(bytes);
  r.expect_magic();
  InputCatalog c;
  const auto files = r.integer<std::uint32_t>();
  // Each entry needs at least 20 bytes, so a corrupt count cannot make us allocate wildly.
  if (files > bytes.size() / 20) Reader::malformed("file count too large");
  c.files_.reserve(files);
  for (std::uint32_t i = 0; i < files; ++i) {
    c.files_.push_back(r.string());
    FileStamp stamp;
    stamp.size = r.integer<std::uint64_t>();
    stamp.mtime_ns = r.integer<std::int64_t>();
    c.stamps_.push_back(stamp);
  }
  const auto datasets = r.integer<std::uint32_t>();
  if (datasets > bytes.size() / 26) Reader::malformed("dataset count too large");
  c.datasets_.reserve(datasets);
  std::uint64_t total = 0;
  for (std::uint32_t i = 0; i < datasets; ++i) {
    InputDataset d;
    d.file = r.integer<std::uint32_t>();
    d.path = r.string();
    d.shape.rows = r.integer<std::uint32_t>();
    d.shape.cols = r.integer<std::uint32_t>();
    const auto dtype = r.integer<std::uint8_t>();
    const auto flags = r.integer<std::uint8_t>();
    d.matrices = r.integer<std::uint64_t>();
    if (d.file >= files) Reader::malformed("dataset names file " + std::to_string(d.file));
    if (dtype > static_cast<std::uint8_t>(kLastDType)) Reader::malformed("bad dtype");
    if ((flags & ~(kBigEndianFlag | kSlicedFlag)) != 0) Reader::malformed("bad flags");
    d.shape.dtype = static_cast<DType>(dtype);
    d.big_endian = (flags & kBigEndianFlag) != 0;
    d.sliced = (flags & kSlicedFlag) != 0;
    if (d.shape.rows == 0 || d.shape.cols == 0 || d.matrices == 0 || (!d.sliced && d.matrices != 1) ||
        d.matrices > kMaxMatrices || d.shape.elements() > kMaxChunkBytes / dtype_size(d.shape.dtype))
      Reader::malformed("bad shape for " + d.path);
    total += d.matrices;
    if (total > kMaxMatrices) Reader::malformed("too many matrices");
    c.datasets_.push_back(std::move(d));
  }
  if (!r.done()) Reader::malformed("trailing bytes");
  c.index_matrices();
  return c;
}

}  // namespace shmjob

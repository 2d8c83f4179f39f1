#pragma once
// Byte shuffle with exactly the byte order of HDF5's shuffle filter (H5Z_FILTER_SHUFFLE, id 2):
// byte j of element i goes to out[j * n + i] (n = bytes / element_size); the bytes % element_size
// trailing bytes are copied unchanged to the end. A chunk shuffled here and declared with
// H5Pset_shuffle reads back correctly through HDF5. `in` and `out` must not overlap; `in` needs no
// particular alignment.
#include <cstddef>

namespace shmjob::codec {

void shuffle(const void* in, void* out, std::size_t bytes, std::size_t element_size) noexcept;
void unshuffle(const void* in, void* out, std::size_t bytes, std::size_t element_size) noexcept;

}  // namespace shmjob::codec

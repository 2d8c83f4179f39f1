#include "codec/shuffle_choice.hpp"

#include <cmath>

namespace shmjob::codec {

namespace {
double ratio_of(std::size_t stored, std::size_t frame) {
  return frame == 0 ? 0.0 : static_cast<double>(stored) / static_cast<double>(frame);
}
}  // namespace

bool ShuffleChoice::probed(std::size_t set, std::size_t stored_bytes, std::size_t plain_bytes,
                           std::size_t shuffled_bytes) {
  Set& s = sets_.at(set);
  s.shuffle = shuffled_bytes < plain_bytes;
  s.ratio = ratio_of(stored_bytes, s.shuffle ? shuffled_bytes : plain_bytes);
  s.until_probe = kProbeEvery - 1;
  return s.shuffle;
}

void ShuffleChoice::compressed(std::size_t set, std::size_t stored_bytes, std::size_t frame_bytes) {
  Set& s = sets_.at(set);
  const double ratio = ratio_of(stored_bytes, frame_bytes);
  if (s.ratio > 0.0 && std::abs(ratio - s.ratio) > kDrift * s.ratio)
    s.until_probe = 0;
  else if (s.until_probe > 0)
    --s.until_probe;
}

}  // namespace shmjob::codec

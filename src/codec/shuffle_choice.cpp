#include "codec/shuffle_choice.hpp"

#include <algorithm>
#include <cmath>

namespace shmjob::codec {

namespace {
double log_ratio(std::size_t stored, std::size_t frame) {
  return frame == 0 || stored == 0 ? 0.0 : std::log(static_cast<double>(stored) / static_cast<double>(frame));
}
}  // namespace

bool ShuffleChoice::observe(Set& s, double x) {
  const double distance = std::abs(x - s.mean);
  const bool far = distance > std::max(std::log1p(kDrift), kDeviations * s.deviation);
  s.deviation += kWeight * (distance - s.deviation);
  s.mean += kWeight * (x - s.mean);
  return far;
}

bool ShuffleChoice::probed(std::size_t set, std::size_t stored_bytes, std::size_t plain_bytes,
                           std::size_t shuffled_bytes) {
  Set& s = sets_.at(set);
  const bool shuffle = shuffled_bytes < plain_bytes;
  if (!s.probed || shuffle != s.shuffle) {
    // A first choice or a flipped one: the data is new, start the statistics and probe soon.
    s.interval = kFirstInterval;
    s.mean = log_ratio(stored_bytes, shuffle ? shuffled_bytes : plain_bytes);
    s.deviation = 0.0;
  } else {
    s.interval = std::min(kMaxInterval, s.interval * 2);
    observe(s, log_ratio(stored_bytes, shuffle ? shuffled_bytes : plain_bytes));
  }
  s.probed = true;
  s.shuffle = shuffle;
  s.outlier = false;
  s.until_probe = s.interval - 1;
  return shuffle;
}

void ShuffleChoice::compressed(std::size_t set, std::size_t stored_bytes, std::size_t frame_bytes) {
  Set& s = sets_.at(set);
  const bool far = observe(s, log_ratio(stored_bytes, frame_bytes));
  if (far && s.outlier) {
    s.until_probe = 0;  // two in a row: the data changed
    return;
  }
  s.outlier = far;
  if (s.until_probe > 0) --s.until_probe;
}

}  // namespace shmjob::codec

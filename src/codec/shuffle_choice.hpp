#pragma once
// compression.shuffle "auto": whether to byte-shuffle the next matrix of a set, decided from
// probes (one matrix compressed both ways, the smaller kept). A set's first matrix is a probe.
// Then probes come at growing intervals while they confirm the choice (kFirstInterval, doubled
// up to kMaxInterval; back to kFirstInterval when a probe flips it), and early when the data
// changes: two matrices in a row whose compression ratio is further from the recent mean than
// both kDrift and kDeviations times the recent mean deviation (log ratios; the noise of the
// data itself, e.g. `smooth` matrices at 4..15, does not trigger probes). One per compressing
// rank; no clock, no I/O: tests replay recorded sizes.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace shmjob::codec {

class ShuffleChoice {
 public:
  static constexpr std::uint32_t kFirstInterval = 4;
  static constexpr std::uint32_t kMaxInterval = 32;
  static constexpr double kDrift = 0.15;      // relative change of the ratio
  static constexpr double kDeviations = 3.0;  // times the mean absolute deviation
  static constexpr double kWeight = 0.125;    // of a new matrix in the running mean and deviation

  explicit ShuffleChoice(std::size_t sets) : sets_(sets) {}

  // The next matrix of `set` is compressed both ways.
  bool probe_due(std::size_t set) const { return sets_.at(set).until_probe == 0; }
  // The choice for a matrix that is not a probe.
  bool shuffle(std::size_t set) const { return sets_.at(set).shuffle; }
  // A probe of `set`: the frame bytes of `stored_bytes` compressed plain and shuffled. Returns
  // whether the shuffled frames are kept (the smaller; plain on a tie: one pass less to read).
  bool probed(std::size_t set, std::size_t stored_bytes, std::size_t plain_bytes, std::size_t shuffled_bytes);
  // A matrix that was not a probe: compressed with the current choice to `frame_bytes`.
  void compressed(std::size_t set, std::size_t stored_bytes, std::size_t frame_bytes);

 private:
  struct Set {
    std::uint32_t until_probe = 0;  // matrices to go before the next probe; 0: the next is one
    std::uint32_t interval = kFirstInterval;
    bool probed = false;
    bool shuffle = false;
    double mean = 0.0;       // running mean of log(stored / frame bytes) with the kept choice
    double deviation = 0.0;  // running mean absolute deviation from it
    bool outlier = false;    // the previous matrix was far from the mean
  };
  // Adds one log ratio to the running mean and deviation; true when it is far from the mean.
  static bool observe(Set& s, double log_ratio);
  std::vector<Set> sets_;
};

}  // namespace shmjob::codec

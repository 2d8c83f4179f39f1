#pragma once
// compression.shuffle "auto": whether to byte-shuffle the next matrix of a set, decided from
// probes (one matrix compressed both ways, the smaller kept). A set's first matrix is a probe,
// then every kProbeEvery-th, and the one after a matrix whose compression ratio moved more than
// kDrift from the ratio at the last probe (the data changed). One per compressing rank; no
// clock, no I/O: tests replay recorded sizes.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace shmjob::codec {

class ShuffleChoice {
 public:
  static constexpr std::uint32_t kProbeEvery = 32;
  static constexpr double kDrift = 0.15;

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
    bool shuffle = false;
    double ratio = 0.0;  // stored / frame bytes of the kept choice at the last probe
  };
  std::vector<Set> sets_;
};

}  // namespace shmjob::codec

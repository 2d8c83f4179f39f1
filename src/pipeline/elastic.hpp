#pragma once
// Elastic stages (config stages.elastic, docs/elastic.md): a rank whose own stage has nothing to
// do works for the stage that limits the job, where a core would otherwise be idle.
//   - A producer with no free raw slot, and a writer with an empty inbox, compress a ready
//     matrix into a compressed slot borrowed from a compressor's free queue.
//   - A compressor with no ready matrix, and a writer with an empty inbox, produce the next
//     matrix of the work order into a raw slot borrowed from a producer's free queue (one node
//     only: with several nodes, producers claim ids job-wide in blocks they produce whole).
//   - Writing stays with the shard's writer.
// Borrowed slots return to their owners' queues as every slot does, so backpressure, the zero-copy
// path and which matrices exist are those of the fixed stages: the output is the same matrices by
// id, whoever did the work. A helper counts itself in NodeControl::helping_* while it works; the
// compressors' end (no producer left) and the writers' end of stream wait for it.
// A rank helps only when a core it may run on has no working rank: a helper on a core that is
// already busy would only take time from the rank working there.
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "pipeline/compression_work.hpp"
#include "pipeline/matrix_source.hpp"
#include "pipeline/stage_context.hpp"

namespace shmjob::stages {

// This rank's mark in the node's count of working ranks (NodeControl::active_*): working from
// construction to destruction, except while an Asleep is alive.
class Activity {
 public:
  explicit Activity(const StageContext& ctx);
  ~Activity();
  Activity(const Activity&) = delete;
  Activity& operator=(const Activity&) = delete;

  class Asleep {
   public:
    explicit Asleep(const Activity& a) : activity_(a) { activity_.mark(-1); }
    ~Asleep() { activity_.mark(+1); }
    Asleep(const Asleep&) = delete;
    Asleep& operator=(const Asleep&) = delete;

   private:
    const Activity& activity_;
  };

  // Whether a core this rank may run on has no working rank other than itself.
  bool core_idle() const;

 private:
  void mark(int delta) const;

  shm::NodeControl& control_;
  std::vector<int> cores_;   // pinned ranks: the cores it is bound to; empty: it runs anywhere
  int node_cores_;           // cores of the node, for ranks that run anywhere
  mutable int working_ = 0;  // this rank's own mark (1 while working, 0 while asleep)
};

// After a chance to help that another rank took first, a rank does not look again for a moment:
// it sleeps rather than spin on chances that keep going to others.
class HelpPacer {
 public:
  bool may_look() const { return std::chrono::steady_clock::now() >= next_; }
  void missed() { next_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(20); }

 private:
  std::chrono::steady_clock::time_point next_{};
};

class Helper {
 public:
  using SourceFactory = std::function<std::unique_ptr<MatrixSource>()>;
  // `make_source` makes this rank's matrix source when it first helps produce.
  Helper(const StageContext& ctx, CompressionWork& work, SourceFactory make_source);

  const Activity& activity() const noexcept { return activity_; }
  // Whether helping the compressors (producers) would find work now: the job is elastic, a core
  // of this rank is idle, a matrix is ready (ids are left) and a slot can be borrowed. Cheap,
  // changes nothing; call while asleep.
  bool can_compress() const;
  bool can_produce() const;
  // Compresses (produces) one matrix if one is still there for it; false if another rank took
  // the chance first (nothing changed then).
  bool compress_one();
  bool produce_one();

 private:
  bool borrow(const std::vector<int>& owners, shm::SlotHandle& slot) const;
  bool take_ready(shm::SlotHandle& raw) const;
  bool stopping() const;

  const StageContext& ctx_;
  CompressionWork& work_;
  SourceFactory make_source_;
  std::unique_ptr<MatrixSource> source_;
  Activity activity_;
  bool elastic_;
  std::vector<int> producers_, compressors_;  // node ranks, this rank's lane first
  std::vector<int> lanes_;                    // lane indexes, this rank's first
};

}  // namespace shmjob::stages

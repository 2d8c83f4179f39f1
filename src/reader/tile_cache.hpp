#pragma once
// A bounded LRU cache of decoded tiles, keyed by (matrix id, tile number). Holds at most
// `capacity` bytes of tile data; a tile larger than that is never kept. Thread-safe; entries are
// shared, so a tile evicted while a reader copies from it stays valid for that reader.
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "shmjob/reader.hpp"

namespace shmjob::reader {

using Tile = std::shared_ptr<const std::vector<std::byte>>;

class TileCache {
 public:
  explicit TileCache(std::size_t capacity) : capacity_(capacity) {}

  // The tile, counting a hit, or nullptr, counting a miss.
  Tile find(std::uint64_t id, std::uint64_t tile);
  void insert(std::uint64_t id, std::uint64_t tile, Tile data);
  bool keeps(std::size_t bytes) const noexcept { return bytes <= capacity_; }
  void count_decoded(std::size_t bytes);
  CacheStats stats() const;

 private:
  struct Key {
    std::uint64_t id, tile;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept {
      return std::hash<std::uint64_t>()(k.id * 0x9E3779B97F4A7C15ull ^ k.tile);
    }
  };
  struct Entry {
    Key key;
    Tile data;
  };

  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<Key, std::list<Entry>::iterator, KeyHash> where_;
  std::size_t bytes_ = 0;
  CacheStats stats_;
};

}  // namespace shmjob::reader

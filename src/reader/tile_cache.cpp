#include "reader/tile_cache.hpp"

namespace shmjob::reader {

Tile TileCache::find(std::uint64_t id, std::uint64_t tile) {
  const std::lock_guard lock(mutex_);
  const auto it = where_.find({id, tile});
  if (it == where_.end()) {
    ++stats_.misses;
    return nullptr;
  }
  ++stats_.hits;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->data;
}

void TileCache::insert(std::uint64_t id, std::uint64_t tile, Tile data) {
  const std::size_t size = data->size();
  if (!keeps(size)) return;
  const std::lock_guard lock(mutex_);
  if (where_.count({id, tile}) != 0) return;  // another thread decoded it meanwhile
  while (bytes_ + size > capacity_ && !lru_.empty()) {
    bytes_ -= lru_.back().data->size();
    where_.erase(lru_.back().key);
    lru_.pop_back();
    ++stats_.evictions;
  }
  lru_.push_front({{id, tile}, std::move(data)});
  where_[{id, tile}] = lru_.begin();
  bytes_ += size;
}

void TileCache::count_decoded(std::size_t bytes) {
  const std::lock_guard lock(mutex_);
  ++stats_.chunks_decoded;
  stats_.bytes_decoded += bytes;
}

CacheStats TileCache::stats() const {
  const std::lock_guard lock(mutex_);
  CacheStats s = stats_;
  s.entries = lru_.size();
  s.bytes = bytes_;
  s.capacity = capacity_;
  return s;
}

}  // namespace shmjob::reader

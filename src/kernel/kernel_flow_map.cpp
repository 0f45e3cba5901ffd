#include <bpf/bpf.h>

#include <cerrno>

#include "sniffer/flow_map.hpp"
#include "sniffer/worker_shard.h"

namespace sniffer {

bool KernelFlowMap::for_each(const Visit& visit) {
  // Batched reads, each entry copied under its lock: two syscalls per entry
  // cost ~2 us each; a batch of 1024 costs about as much as one.
  keys_.resize(kBatch);
  values_.resize(kBatch);
  LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_F_LOCK);
  __u32 cursor = 0;
  for (bool first = true;; first = false) {
    __u32 count = kBatch;
    const int err = bpf_map_lookup_batch(map_fd_, first ? nullptr : &cursor, &cursor, keys_.data(), values_.data(),
                                         &count, &opts);
    if (err && errno != ENOENT) return false;  // ENOENT: the walk is complete (count may still be > 0)
    for (__u32 i = 0; i < count; ++i) visit(keys_[i], values_[i]);
    if (err) return true;
  }
}

int KernelFlowMap::take(const sniffer_flow_key& key, sniffer_flow_value& value) {
  return bpf_map_lookup_and_delete_elem_flags(map_fd_, &key, &value, BPF_F_LOCK) == 0 ? 0 : errno;
}

int KernelFlowMap::lookup(const sniffer_flow_key& key, sniffer_flow_value& value) {
  return bpf_map_lookup_elem_flags(map_fd_, &key, &value, BPF_F_LOCK) == 0 ? 0 : errno;
}

int KernelFlowMap::put_back(const sniffer_flow_key& key, const sniffer_flow_value& value) {
  return bpf_map_update_elem(map_fd_, &key, &value, BPF_NOEXIST | BPF_F_LOCK) == 0 ? 0 : errno;
}

std::vector<sniffer_flow_key> KernelFlowMap::keys() {
  std::vector<sniffer_flow_key> keys;
  sniffer_flow_key key{}, next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(map_fd_, prev, &next) == 0) {
    key = next;
    prev = &key;
    keys.push_back(key);
  }
  return keys;
}

bool ShardFlowMap::owns(const sniffer_flow_key& k) const {
  return sniffer_worker_of(k.addr_a, k.port_a, k.addr_b, k.port_b, k.l4_proto, workers_, key_.data()) == worker_;
}

bool ShardFlowMap::for_each(const Visit& visit) {
  return map_->for_each([&](const sniffer_flow_key& key, const sniffer_flow_value& value) {
    if (owns(key)) visit(key, value);
  });
}

std::vector<sniffer_flow_key> ShardFlowMap::keys() {
  std::vector<sniffer_flow_key> all = map_->keys();
  std::erase_if(all, [this](const sniffer_flow_key& key) { return !owns(key); });
  return all;
}

}  // namespace sniffer

#include "sniffer/user_flow_map.hpp"

#include <linux/bpf.h>

#include <cstring>

namespace sniffer {

bool UserFlowMap::for_each(const Visit& visit) {
  store_.for_each([&](const void* key, const void* value) {
    sniffer_flow_key k;
    sniffer_flow_value v;
    std::memcpy(&k, key, sizeof k);
    std::memcpy(&v, value, sizeof v);
    visit(k, v);
  });
  return true;
}

int UserFlowMap::take(const sniffer_flow_key& key, sniffer_flow_value& value) {
  return static_cast<int>(-store_.take(&key, &value));
}

int UserFlowMap::lookup(const sniffer_flow_key& key, sniffer_flow_value& value) {
  const void* stored = store_.lookup(&key);
  if (!stored) return ENOENT;
  std::memcpy(&value, stored, sizeof value);
  return 0;
}

int UserFlowMap::put_back(const sniffer_flow_key& key, const sniffer_flow_value& value) {
  return static_cast<int>(-store_.update(&key, &value, BPF_NOEXIST));
}

std::vector<sniffer_flow_key> UserFlowMap::keys() {
  std::vector<sniffer_flow_key> keys;
  store_.for_each([&](const void* key, const void*) {
    sniffer_flow_key& k = keys.emplace_back();
    std::memcpy(&k, key, sizeof k);
  });
  return keys;
}

}  // namespace sniffer

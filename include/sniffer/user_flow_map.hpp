// Kernel flow aggregation in the user engine: the programs' "flows" map is
// the engine's hash store, and the sweep (kernel_flows.hpp) reaches it here
// as it reaches the kernel's map through its fd. One thread runs both the
// programs and the sweep, so there is no lock to take.
#pragma once

#include "sniffer/flow_map.hpp"
#include "sniffer/user_maps.hpp"

namespace sniffer {

class UserFlowMap : public FlowMap {
 public:
  explicit UserFlowMap(UserHashMap& store) : store_(store) {}
  bool for_each(const Visit& visit) override;
  int take(const sniffer_flow_key& key, sniffer_flow_value& value) override;
  int lookup(const sniffer_flow_key& key, sniffer_flow_value& value) override;
  int put_back(const sniffer_flow_key& key, const sniffer_flow_value& value) override;
  std::vector<sniffer_flow_key> keys() override;

 private:
  UserHashMap& store_;
};

}  // namespace sniffer

#include "sniffer/load_options.hpp"

#include "sniffer/flow_table.hpp"

namespace sniffer {

LoadOptions load_options(const Config& config) {
  LoadOptions load;
  load.ring_buffer_bytes = config.capture.ring_buffer_bytes;
  load.capture_ring_bytes = config.capture.full_packet_ring_bytes;
  load.payload_bytes = config.capture.payload_bytes;
  load.wakeup_bytes = wakeup_bytes(config.capture);
  load.btf_path = config.btf_path;
  load.blocklist_max_entries = config.blocklist.max_entries;
  load.flow_kernel = aggregates_in_kernel(config.flows);
  load.flow_max_entries = config.flows.max_flows;
  load.packet_sample = config.publish.packet_events ? config.flows.packet_sample_one_in : 0;
  load.flow_params = flow_params(flow_table_config(config.flows));
  return load;
}

std::vector<std::uint16_t> record_ports(const Config& config) {
  return aggregates_in_kernel(config.flows) && config.publish.packet_events ? config.flows.packet_ports
                                                                           : std::vector<std::uint16_t>{};
}

}  // namespace sniffer

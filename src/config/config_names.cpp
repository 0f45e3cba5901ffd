#include "sniffer/config_names.hpp"

namespace sniffer {

const char* to_string(Role role) { return name_of(kRoleNames, role); }
const char* to_string(Mode mode) { return name_of(kModeNames, mode); }
const char* to_string(XdpMode mode) { return name_of(kXdpModeNames, mode); }
const char* to_string(FlowAggregation aggregation) { return name_of(kFlowAggregationNames, aggregation); }
const char* to_string(Hook hook) { return name_of(kHookNames, hook); }
const char* to_string(TcAttach method) { return name_of(kTcAttachNames, method); }
const char* to_string(BlockDirection d) { return name_of(kBlockDirectionNames, d); }
const char* to_string(BlockAction a) { return name_of(kBlockActionNames, a); }

}  // namespace sniffer

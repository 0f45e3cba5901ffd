// How large a message of the sensor's stream can be: what a subscriber
// (sniffer-sub) must accept, and no more.
#pragma once

#include <cstdint>

namespace sniffer {

// publish.batch_max_events at most: items (packet events or flow records) per message.
inline constexpr std::uint32_t kMaxBatchEvents = 65536;

// Every message the sensor publishes is smaller than this: a batch holds at
// most kMaxBatchEvents items of at most ~1.4 KiB each (an event with a
// 512-byte payload; a flow record with a label of up to 256 bytes), under
// 90 MiB (tests/unit/test_publish_bound.cpp). sniffer-sub refuses larger
// messages by default (ZMQ_MAXMSGSIZE), so that whatever it connects to
// cannot make it take gigabytes.
inline constexpr std::int64_t kMaxPublishedMessageBytes = std::int64_t{128} << 20;

}  // namespace sniffer

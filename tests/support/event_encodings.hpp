// Packet events encoded both ways, compared: EventWireBatch (the publish
// path) against libprotobuf's serialisation of the EventBatch whose events
// record_to_event fills; and the wire bytes parsed back by libprotobuf give
// that same batch.
#pragma once

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "sniffer/event_codec.hpp"
#include "sniffer/event_wire.hpp"

namespace sniffer::test {

// One event's input: what RecordProcessor hands the encoder.
struct EventInput {
  DecodedRecord record;  // its snippet points into storage the caller keeps
  const InterfaceInfo* iface = nullptr;
  std::uint64_t wall_ts_ns = 0;
  std::string community_id;
};

// The batch as libprotobuf serialises it (sequence 0: not written).
inline v1::EventBatch reference_batch(const std::vector<EventInput>& events, const std::string& sensor_id,
                                      std::uint64_t sensor_start_ns, std::uint32_t worker) {
  v1::EventBatch batch;
  batch.set_sensor_id(sensor_id);
  batch.set_sensor_start_ns(sensor_start_ns);
  batch.set_worker(worker);
  for (const EventInput& in : events) {
    v1::PacketEvent* e = batch.add_events();
    record_to_event(in.record, in.iface, in.wall_ts_ns, *e);
    e->set_community_id(in.community_id);
  }
  return batch;
}

// Encodes `events` as one batch in `wire` (reused, as a stream reuses its
// payload) and expects the bytes libprotobuf writes; `what` names the case.
inline void expect_same_encodings(EventWireBatch& wire, const std::vector<EventInput>& events,
                                  const std::string& sensor_id, std::uint64_t sensor_start_ns, std::uint32_t worker,
                                  const std::string& what) {
  for (const EventInput& in : events) wire.add(in.record, in.iface, in.wall_ts_ns, in.community_id);
  ASSERT_EQ(wire.size(), events.size()) << what;
  const SerialisedBatch out = wire.take();
  EXPECT_EQ(wire.size(), 0u) << what;
  ASSERT_GE(out.size, PublishSocket::kSequenceRoom) << what;
  const std::string got(reinterpret_cast<const char*>(out.bytes.get()) + PublishSocket::kSequenceRoom,
                        out.size - PublishSocket::kSequenceRoom);
  const v1::EventBatch want = reference_batch(events, sensor_id, sensor_start_ns, worker);
  EXPECT_EQ(got, want.SerializeAsString()) << what << ": the wire bytes differ from libprotobuf's";
  v1::EventBatch parsed;
  ASSERT_TRUE(parsed.ParseFromString(got)) << what;
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, want))
      << what << ": parsed " << parsed.ShortDebugString().substr(0, 2000);
}

}  // namespace sniffer::test

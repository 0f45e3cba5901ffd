// kMaxPublishedMessageBytes (what sniffer-sub accepts by default) is above
// the largest batch the sensor can send: kMaxBatchEvents items, each with
// every field at its widest encoding.
#include <gtest/gtest.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include "sniffer.pb.h"
#include "sniffer/abi.h"
#include "sniffer/publish_bounds.hpp"

namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// The longest text or bytes the sensor puts in a field.
std::size_t longest(const FieldDescriptor& f) {
  const std::string& name = f.name();
  if (name == "payload") return SNIFFER_MAX_PAYLOAD_BYTES;
  if (name == "src_addr" || name == "dst_addr") return 16;
  if (name == "interface") return 15;               // IFNAMSIZ - 1
  if (name == "community_id") return 30;            // "1:" + base64 of 20 bytes
  if (name == "history") return SNIFFER_FLOW_HISTORY_LEN;
  if (name == "label") return 256;                  // the documented bound (sniffer-sub --help)
  return 64;                                        // conn_state and the like
}

// Sets every field of `m` to its widest encoding, recursively.
void fill_widest(Message& m) {
  const auto* d = m.GetDescriptor();
  const auto* r = m.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor& f = *d->field(i);
    const int copies = f.is_repeated() ? (f.name() == "vlan_ids" ? 2 : 8) : 1;
    for (int n = 0; n < copies; ++n) {
      switch (f.cpp_type()) {
        case FieldDescriptor::CPPTYPE_UINT32:
          f.is_repeated() ? r->AddUInt32(&m, &f, UINT32_MAX) : r->SetUInt32(&m, &f, UINT32_MAX);
          break;
        case FieldDescriptor::CPPTYPE_UINT64:
          f.is_repeated() ? r->AddUInt64(&m, &f, UINT64_MAX) : r->SetUInt64(&m, &f, UINT64_MAX);
          break;
        case FieldDescriptor::CPPTYPE_INT32:  // a negative int32 takes 10 bytes
          f.is_repeated() ? r->AddInt32(&m, &f, -1) : r->SetInt32(&m, &f, -1);
          break;
        case FieldDescriptor::CPPTYPE_INT64:
          f.is_repeated() ? r->AddInt64(&m, &f, -1) : r->SetInt64(&m, &f, -1);
          break;
        case FieldDescriptor::CPPTYPE_DOUBLE:
          f.is_repeated() ? r->AddDouble(&m, &f, 1.5) : r->SetDouble(&m, &f, 1.5);
          break;
        case FieldDescriptor::CPPTYPE_FLOAT:
          f.is_repeated() ? r->AddFloat(&m, &f, 1.5f) : r->SetFloat(&m, &f, 1.5f);
          break;
        case FieldDescriptor::CPPTYPE_BOOL:
          f.is_repeated() ? r->AddBool(&m, &f, true) : r->SetBool(&m, &f, true);
          break;
        case FieldDescriptor::CPPTYPE_ENUM: {
          const auto* e = f.enum_type();
          const int widest = e->value(e->value_count() - 1)->number();
          f.is_repeated() ? r->AddEnumValue(&m, &f, widest) : r->SetEnumValue(&m, &f, widest);
          break;
        }
        case FieldDescriptor::CPPTYPE_STRING: {
          const std::string text(longest(f), 'x');
          f.is_repeated() ? r->AddString(&m, &f, text) : r->SetString(&m, &f, text);
          break;
        }
        case FieldDescriptor::CPPTYPE_MESSAGE:
          fill_widest(f.is_repeated() ? *r->AddMessage(&m, &f) : *r->MutableMessage(&m, &f));
          break;
      }
    }
  }
}

// A batch of kMaxBatchEvents copies of the widest item: its header (sensor
// id of up to 255 bytes, sequence, start, worker) plus each item's tag,
// length and bytes.
std::size_t widest_batch_bytes(Message& item) {
  fill_widest(item);
  const std::size_t item_bytes = item.ByteSizeLong();
  const std::size_t header = 3 + 255 + 3 * 11;
  return header + std::size_t{sniffer::kMaxBatchEvents} * (1 + 5 + item_bytes);
}

TEST(PublishBound, WidestEventBatchFitsUnderWhatSubscribersAccept) {
  sniffer::v1::PacketEvent event;
  const std::size_t bytes = widest_batch_bytes(event);
  EXPECT_GT(event.payload().size(), 0u);
  EXPECT_LT(bytes, static_cast<std::size_t>(sniffer::kMaxPublishedMessageBytes)) << bytes;
}

TEST(PublishBound, WidestFlowBatchFitsUnderWhatSubscribersAccept) {
  sniffer::v1::FlowRecord flow;
  const std::size_t bytes = widest_batch_bytes(flow);
  EXPECT_EQ(flow.label().size(), 256u);
  EXPECT_LT(bytes, static_cast<std::size_t>(sniffer::kMaxPublishedMessageBytes)) << bytes;
}

}  // namespace

// The user engine (--engine user, the offline default): the programs of
// bpf/sniffer.bpf.c compiled as ordinary C (user_programs.c) and run
// in-process on each captured frame: the same parser, record and counter
// code as the kernel's, without a BPF_PROG_TEST_RUN syscall per packet.
//
// It starts from the loaded kernel programs: their constants (the same
// LoadOptions) and a copy of their maps as the config filled them
// (interfaces, filter, blocklist), so both engines run one program on one
// configuration. Records the programs submit go to the sink at once, as the
// ring reader would take them. Under kernel flow aggregation the flows live
// in the engine's store of the programs' "flows" map (flow_map()), swept as
// the kernel's would be. One UserEngine at a time: the programs' globals are
// the process's.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "sniffer/bpf_loader.hpp"
#include "sniffer/user_flow_map.hpp"
#include "sniffer/user_maps.hpp"

namespace sniffer {

class UserEngine {
 public:
  // Kernel flow aggregation numbers flows from first_flow_id. Throws Error:
  // a map of the programs without a store here.
  UserEngine(const BpfPrograms& programs, UserRingBuffer::Sink sink, std::uint64_t first_flow_id = 1);
  ~UserEngine();
  UserEngine(const UserEngine&) = delete;
  UserEngine& operator=(const UserEngine&) = delete;

  // Runs one frame through the XDP path at its capture time and original
  // length; the programs' bpf_ktime_get_ns() gives mono_now_ns, the
  // CLOCK_MONOTONIC time the caller read for this frame. 0, or a negative
  // errno where BPF_PROG_TEST_RUN refuses the frame.
  int run(const std::uint8_t* data, std::uint32_t caplen, std::uint64_t ts_ns, std::uint32_t wire_len,
          std::uint64_t mono_now_ns);

  // Where the programs build each packet record (its header, then its
  // snippet), kRecordAreaBytes at `at`: the reader's (RingReader::record_area),
  // which then decodes it in place; nullptr: the engine's own (its start).
  static constexpr std::size_t kRecordAreaBytes = sizeof(sniffer_record) + SNIFFER_MAX_PAYLOAD_BYTES;
  void set_record_area(void* at);

  // The programs' counters, as BpfPrograms::read_counters gives the kernel's.
  KernelCounters read_counters() const;
  // Kernel flow aggregation: the programs' flow map, and the last flow id
  // they handed out (as BpfPrograms::flows_created).
  FlowMap& flow_map() { return *flows_; }
  std::uint64_t flows_created() const;

 private:
  void cache_interfaces();
  void release_slots();  // the programs' maps without stores again

  std::vector<std::unique_ptr<sniffer_user_map>> stores_;
  const UserArrayMap* stats_ = nullptr;
  UserRingBuffer* events_ = nullptr;
  std::optional<UserFlowMap> flows_;
};

}  // namespace sniffer

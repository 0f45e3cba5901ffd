// Attaching the loaded programs to interfaces, and detaching exactly what we
// attached. XDP and TC (tcx) attach through bpf_link: the kernel detaches a
// link when its last fd closes, so even a SIGKILLed daemon leaves nothing
// behind. On kernels without tcx (< 6.6), TC falls back to a clsact qdisc and
// a cls_bpf filter over netlink; the daemon then removes its filter and leaves
// the qdisc (see tc_clsact.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "sniffer/config.hpp"

namespace sniffer {

class Attachment {
 public:
  virtual ~Attachment() = default;
  // "xdp native (bpf_link)", "tc egress (tcx link)", ...
  virtual std::string describe() const = 0;
  // False once someone else removed it: since Linux 5.9 any root process can
  // detach a link (`bpftool link detach`), and a clsact filter goes with its
  // qdisc (`tc qdisc del dev X clsact`). True when it cannot be told.
  virtual bool still_attached() const = 0;
};

// Attaches the XDP program. Auto tries native first, then generic.
std::unique_ptr<Attachment> attach_xdp(int prog_fd, std::uint32_t ifindex, const std::string& ifname, XdpMode mode);

// Attaches a TC program on ingress or egress. On the clsact path a filter
// already at our handle is replaced only with `reclaim` (ours, replaced by
// someone else) or when a killed sniffer left it (see tc_clsact.hpp).
std::unique_ptr<Attachment> attach_tc(int prog_fd, std::uint32_t ifindex, const std::string& ifname, bool ingress,
                                      TcAttach method, bool reclaim);

}  // namespace sniffer

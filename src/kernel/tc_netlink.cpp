#include "sniffer/tc_netlink.hpp"

#include "sniffer/netlink_dump.hpp"

#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstring>
#include <functional>

namespace sniffer {

namespace {

// One rtnetlink dump (`type` RTM_GETTFILTER or RTM_GETQDISC) asked with `tc`:
// `each` sees every message of the matching RTM_NEW* type. 0 or -errno.
int dump(std::uint16_t type, const tcmsg& tc, const std::function<void(const nlmsghdr*)>& each) {
  return netlink_dump(NETLINK_ROUTE, type, tc, type == RTM_GETQDISC ? RTM_NEWQDISC : RTM_NEWTFILTER, each);
}

// The attribute `type` among those from `at` (`len` bytes), or null.
const rtattr* find_attribute(const rtattr* at, int len, unsigned short type) {
  for (; RTA_OK(at, len); at = RTA_NEXT(at, len)) {
    if (at->rta_type == type) return at;
  }
  return nullptr;
}

// The clsact qdisc's filters in one direction, every chain.
int dump_filters(std::uint32_t ifindex, bool ingress, const std::function<void(const nlmsghdr*)>& each) {
  tcmsg tc{};
  tc.tcm_family = AF_UNSPEC;
  tc.tcm_ifindex = static_cast<int>(ifindex);
  tc.tcm_parent = TC_H_MAKE(TC_H_CLSACT, ingress ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
  return dump(RTM_GETTFILTER, tc, each);
}

}  // namespace

int has_clsact_qdisc(std::uint32_t ifindex, bool& present) {
  present = false;
  tcmsg tc{};
  tc.tcm_family = AF_UNSPEC;
  tc.tcm_ifindex = static_cast<int>(ifindex);  // older kernels dump every interface's: filtered below
  return dump(RTM_GETQDISC, tc, [&](const nlmsghdr* nh) {
    const auto* q = static_cast<const tcmsg*>(NLMSG_DATA(nh));
    if (q->tcm_ifindex != static_cast<int>(ifindex) || q->tcm_parent != TC_H_CLSACT) return;
    const int len = static_cast<int>(nh->nlmsg_len - NLMSG_LENGTH(sizeof *q));
    const rtattr* kind = find_attribute(TCA_RTA(q), len, TCA_KIND);
    if (kind && strncmp(static_cast<const char*>(RTA_DATA(kind)), "clsact", RTA_PAYLOAD(kind)) == 0) present = true;
  });
}

int count_filters(std::uint32_t ifindex, bool ingress, std::size_t& count) {
  std::size_t heads = 0;
  count = 0;
  const int err = dump_filters(ifindex, ingress, [&](const nlmsghdr* nh) {
    // One message heads each priority's filters (handle 0), then one per filter.
    ++(static_cast<const tcmsg*>(NLMSG_DATA(nh))->tcm_handle ? count : heads);
  });
  if (count == 0) count = heads;  // a priority without a filter of its own: in use all the same
  return err;
}

std::string filter_program_name(std::uint32_t ifindex, bool ingress, std::uint32_t handle, std::uint32_t priority) {
  std::string name;
  dump_filters(ifindex, ingress, [&](const nlmsghdr* nh) {
    const auto* tc = static_cast<const tcmsg*>(NLMSG_DATA(nh));
    if (tc->tcm_handle != handle || TC_H_MAJ(tc->tcm_info) >> 16 != priority) return;
    const int len = static_cast<int>(nh->nlmsg_len - NLMSG_LENGTH(sizeof *tc));
    const rtattr* options = find_attribute(TCA_RTA(tc), len, TCA_OPTIONS);
    if (!options) return;
    const rtattr* bpf_name = find_attribute(static_cast<const rtattr*>(RTA_DATA(options)),
                                            static_cast<int>(RTA_PAYLOAD(options)), TCA_BPF_NAME);
    if (!bpf_name) return;
    const char* raw = static_cast<const char*>(RTA_DATA(bpf_name));
    const std::string text(raw, strnlen(raw, RTA_PAYLOAD(bpf_name)));
    name = text.substr(0, text.rfind(":["));  // libbpf's "name:[id]"
  });
  return name;
}

}  // namespace sniffer

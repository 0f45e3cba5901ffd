#include "sniffer/attach.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "sniffer/error.hpp"
#include "sniffer/tc_clsact.hpp"

namespace sniffer {

namespace {

// enum bpf_attach_type values of tcx (Linux 6.6); Debian 12's headers predate them.
constexpr int kBpfTcxIngress = 46;
constexpr int kBpfTcxEgress = 47;

class LinkAttachment : public Attachment {
 public:
  LinkAttachment(int fd, std::string what) : fd_(fd), what_(std::move(what)) {}
  ~LinkAttachment() override { close(fd_); }  // closing the last fd detaches
  std::string describe() const override { return what_; }
  // A detached XDP or tcx link reports ifindex 0: the union's first field
  // for both (tcx's member is newer than Debian 12's headers).
  bool still_attached() const override {
    bpf_link_info info{};
    __u32 len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd_, &info, &len) != 0) return true;
    return info.xdp.ifindex != 0;
  }

 private:
  int fd_;
  std::string what_;
};

int link_create(int prog_fd, std::uint32_t ifindex, int attach_type, __u32 flags) {
  LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = flags);
  int fd = bpf_link_create(prog_fd, static_cast<int>(ifindex), static_cast<bpf_attach_type>(attach_type), &opts);
  return fd < 0 ? -errno : fd;
}

// EBUSY, EEXIST: the device has an XDP program already (in either mode, or on
// an upper device), which no mode can replace with a link.
bool another_xdp_program(int err) { return err == -EBUSY || err == -EEXIST; }

}  // namespace

// auto: native, else generic. What is logged follows the outcome: "native
// unavailable, attached generic" once generic worked; when both fail, one
// error carries both reasons (a line "trying generic" before the error read
// as if generic had been the problem).
std::unique_ptr<Attachment> attach_xdp(int prog_fd, std::uint32_t ifindex, const std::string& ifname, XdpMode mode) {
  int native = 0;
  if (mode != XdpMode::Generic) {
    native = link_create(prog_fd, ifindex, BPF_XDP, XDP_FLAGS_DRV_MODE);
    if (native >= 0) return std::make_unique<LinkAttachment>(native, "xdp native (bpf_link)");
    if (mode == XdpMode::Native) {
      throw Error("interface \"" + ifname + "\": attach XDP in native mode: " + errno_text(native) +
                  (another_xdp_program(native) ? " (another XDP program is attached)" : ""));
    }
  }
  const int fd = link_create(prog_fd, ifindex, BPF_XDP, XDP_FLAGS_SKB_MODE);
  if (fd < 0) {
    const bool other = another_xdp_program(fd) || another_xdp_program(native);
    throw Error("interface \"" + ifname + "\": attach XDP" +
                (other ? ": another XDP program is attached (bpftool net show dev " + ifname + ")" : std::string()) +
                (native ? "; native mode: " + errno_text(native) : std::string()) +
                "; generic mode: " + errno_text(fd));
  }
  if (native) spdlog::info("{}: native XDP unavailable ({}): attached in generic mode", ifname, errno_text(native));
  return std::make_unique<LinkAttachment>(fd, "xdp generic (bpf_link)");
}

std::unique_ptr<Attachment> attach_tc(int prog_fd, std::uint32_t ifindex, const std::string& ifname, bool ingress,
                                      TcAttach method, bool reclaim) {
  const char* dir = ingress ? "ingress" : "egress";
  if (method != TcAttach::Clsact) {
    int fd = link_create(prog_fd, ifindex, ingress ? kBpfTcxIngress : kBpfTcxEgress, 0);
    if (fd >= 0) return std::make_unique<LinkAttachment>(fd, std::string("tc ") + dir + " (tcx link)");
    if (method == TcAttach::Tcx) {
      throw Error("interface \"" + ifname + "\": attach tcx " + dir + " link: " + errno_text(fd) +
                  " (tcx needs Linux 6.6 or later)");
    }
    spdlog::info("{}: tcx unavailable ({}), using a clsact qdisc", ifname, errno_text(fd));
  }
  return attach_clsact(prog_fd, ifindex, ifname, ingress, reclaim);
}

}  // namespace sniffer

#include "sniffer/attach.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <unistd.h>

#include <optional>

#include <spdlog/spdlog.h>

#include "sniffer/error.hpp"

namespace sniffer {

namespace {

// enum bpf_attach_type values of tcx (Linux 6.6); Debian 12's headers predate them.
constexpr int kBpfTcxIngress = 46;
constexpr int kBpfTcxEgress = 47;

// Our cls_bpf filter's identity on the clsact fallback path.
constexpr __u32 kTcHandle = 0x5f1f;
constexpr __u32 kTcPriority = 0xc0de;

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

class ClsactAttachment : public Attachment {
 public:
  ClsactAttachment(std::uint32_t ifindex, std::string ifname, bool ingress, bool created_qdisc, std::uint32_t prog_id)
      : ifindex_(ifindex), ifname_(std::move(ifname)), ingress_(ingress), created_qdisc_(created_qdisc), prog_id_(prog_id) {}

  // Removes the filter only if it still runs our program: another tool may
  // have replaced it at our handle and priority (tc filter replace), and its
  // filter is not ours to delete (a small race remains: tc has no
  // compare-and-delete).
  ~ClsactAttachment() override {
    const std::optional<std::uint32_t> current = query_prog_id();
    const bool ours = current == prog_id_;
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex_),
                .attach_point = ingress_ ? BPF_TC_INGRESS : BPF_TC_EGRESS);
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
    int err = ours ? bpf_tc_detach(&hook, &opts) : 0;
    if (err && err != -ENOENT && err != -ENODEV) {
      spdlog::warn("{}: remove tc {} filter: {}", ifname_, ingress_ ? "ingress" : "egress", errno_text(err));
    }
    if (created_qdisc_ && (ours || !current)) {
      // Destroying the clsact qdisc removes both directions: only when we
      // created it, and only if the interface still exists.
      hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
      err = bpf_tc_hook_destroy(&hook);
      if (err && err != -ENOENT && err != -ENODEV && err != -EINVAL) {
        spdlog::warn("{}: remove clsact qdisc: {}", ifname_, errno_text(err));
      }
    }
  }
  // Attached while the filter at our handle and priority runs our program.
  bool still_attached() const override { return query_prog_id() == prog_id_; }
  std::string describe() const override {
    return std::string("tc ") + (ingress_ ? "ingress" : "egress") + " (clsact filter" +
           (created_qdisc_ ? ", qdisc created by sniffer" : "") + ")";
  }

 private:
  // The program id of the filter at our handle and priority; none when the
  // filter (or its qdisc, or the interface) is gone.
  std::optional<std::uint32_t> query_prog_id() const {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex_),
                .attach_point = ingress_ ? BPF_TC_INGRESS : BPF_TC_EGRESS);
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
    if (bpf_tc_query(&hook, &opts) != 0) return std::nullopt;
    return opts.prog_id;
  }

  std::uint32_t ifindex_;
  std::string ifname_;
  bool ingress_;
  bool created_qdisc_;
  std::uint32_t prog_id_;  // our program, as bpf_tc_attach reported it
};

int link_create(int prog_fd, std::uint32_t ifindex, int attach_type, __u32 flags) {
  LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = flags);
  int fd = bpf_link_create(prog_fd, static_cast<int>(ifindex), static_cast<bpf_attach_type>(attach_type), &opts);
  return fd < 0 ? -errno : fd;
}

std::unique_ptr<Attachment> attach_clsact(int prog_fd, std::uint32_t ifindex, const std::string& ifname,
                                          bool ingress) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex),
              .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
  int err = bpf_tc_hook_create(&hook);
  bool created = err == 0;
  if (err && err != -EEXIST) throw Error("interface \"" + ifname + "\": create clsact qdisc: " + errno_text(err));
  // REPLACE: a filter left by a killed daemon (same handle/priority) is taken over.
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE, .handle = kTcHandle,
              .priority = kTcPriority);
  err = bpf_tc_attach(&hook, &opts);
  if (err) {
    if (created) {
      hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
      bpf_tc_hook_destroy(&hook);
    }
    throw Error("interface \"" + ifname + "\": attach tc " + (ingress ? "ingress" : "egress") +
                " filter: " + errno_text(err));
  }
  return std::make_unique<ClsactAttachment>(ifindex, ifname, ingress, created, opts.prog_id);
}

}  // namespace

namespace {

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
                                      TcAttach method) {
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
  return attach_clsact(prog_fd, ifindex, ifname, ingress);
}

}  // namespace sniffer

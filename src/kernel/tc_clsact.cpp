#include "sniffer/tc_clsact.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include <spdlog/spdlog.h>

#include "sniffer/error.hpp"
#include "sniffer/sniffer_users.hpp"
#include "sniffer/tc_hook_lock.hpp"
#include "sniffer/tc_netlink.hpp"

namespace sniffer {

namespace {

// Our cls_bpf filter's identity.
constexpr __u32 kTcHandle = 0x5f1f;
constexpr __u32 kTcPriority = 0xc0de;

const char* direction(bool ingress) { return ingress ? "ingress" : "egress"; }

// The clsact qdisc the daemon created on an interface, shared by the
// attachments there. It is left when the last one goes: RTM_DELQDISC has no
// "only if empty" (sch_api.c: tc_get_qdisc grafts it away with every filter
// on it), so whatever a dump found before, a filter another tool adds between
// that dump and the delete would go with it. The log says what is left.
class CreatedQdisc {
 public:
  CreatedQdisc(std::uint32_t ifindex, std::string ifname) : ifindex_(ifindex), ifname_(std::move(ifname)) {}
  ~CreatedQdisc();
  // The qdisc the daemon created on ifindex, while an attachment there holds it.
  static std::shared_ptr<CreatedQdisc> get(std::uint32_t ifindex, const std::string& ifname, bool created_now) {
    std::erase_if(registry(), [](const auto& e) { return e.second.expired(); });
    if (!created_now) {
      auto it = registry().find(ifindex);
      return it == registry().end() ? nullptr : it->second.lock();
    }
    auto q = std::make_shared<CreatedQdisc>(ifindex, ifname);
    registry()[ifindex] = q;
    return q;
  }

 private:
  // By ifindex. The daemon attaches and detaches from its main thread only.
  static std::map<std::uint32_t, std::weak_ptr<CreatedQdisc>>& registry() {
    static std::map<std::uint32_t, std::weak_ptr<CreatedQdisc>> created;
    return created;
  }
  std::uint32_t ifindex_;
  std::string ifname_;
};

CreatedQdisc::~CreatedQdisc() {
  auto it = registry().find(ifindex_);
  if (it != registry().end() && !it->second.expired()) return;  // re-created since (ours again, someone else's)
  bool present = false;
  int err = has_clsact_qdisc(ifindex_, present);
  if (err == 0 && !present) return;  // deleted by someone (the hook watcher attaches again)
  std::size_t in = 0, eg = 0;
  if (err == 0) err = count_filters(ifindex_, true, in);
  if (err == 0) err = count_filters(ifindex_, false, eg);
  if (err == -EINVAL || err == -ENOENT || err == -ENODEV) return;  // the qdisc or the interface went meanwhile
  if (err) {
    spdlog::info("{}: left the clsact qdisc sniffer created in place: cannot tell whether other filters use it ({})",
                 ifname_, errno_text(err));
  } else if (in + eg > 0) {
    spdlog::info("{}: left the clsact qdisc sniffer created in place: other tc filters use it (ingress {}, egress {})",
                 ifname_, in, eg);
  } else {
    spdlog::info("{}: left the clsact qdisc sniffer created in place, empty: deleting it would also delete a filter "
                 "another tool adds at that moment (tc has no delete-if-empty); `tc qdisc del dev {} clsact` removes "
                 "it once nothing uses it",
                 ifname_, ifname_);
  }
}

// The program id of the filter at our handle and priority; none when the
// filter (or its qdisc, or the interface) is gone, or it is no eBPF filter.
std::optional<std::uint32_t> query_prog_id(std::uint32_t ifindex, bool ingress) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex),
              .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
  if (bpf_tc_query(&hook, &opts) != 0) return std::nullopt;
  return opts.prog_id;
}

class ClsactAttachment : public Attachment {
 public:
  ClsactAttachment(std::uint32_t ifindex, std::string ifname, bool ingress, std::shared_ptr<CreatedQdisc> qdisc,
                   std::uint32_t prog_id, std::unique_ptr<TcHookLock> lock)
      : ifindex_(ifindex),
        ifname_(std::move(ifname)),
        ingress_(ingress),
        qdisc_(std::move(qdisc)),
        prog_id_(prog_id),
        lock_(std::move(lock)) {}

  // Removes the filter only if it still runs our program: another tool may
  // have replaced it at our handle and priority (tc filter replace), and its
  // filter is not ours to delete (a small race remains: tc has no
  // compare-and-delete). The qdisc stays (CreatedQdisc).
  ~ClsactAttachment() override {
    if (query_prog_id(ifindex_, ingress_) != prog_id_) return;
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex_),
                .attach_point = ingress_ ? BPF_TC_INGRESS : BPF_TC_EGRESS);
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
    const int err = bpf_tc_detach(&hook, &opts);
    if (err && err != -ENOENT && err != -ENODEV) {
      spdlog::warn("{}: remove tc {} filter: {}", ifname_, direction(ingress_), errno_text(err));
    }
  }
  // Attached while the filter at our handle and priority runs our program.
  // Asked every second: the lock's pending connections go meanwhile, and a
  // lock a squatter held at the attach is taken once it is free.
  bool still_attached() const override {
    if (!lock_->held() && lock_->take()) {
      spdlog::info("{}: took the lock of the tc {} hook ({}): its squatter let it go", ifname_, direction(ingress_),
                   lock_->describe());
    }
    lock_->drain();
    return query_prog_id(ifindex_, ingress_) == prog_id_;
  }
  std::string describe() const override {
    return std::string("tc ") + direction(ingress_) + " (clsact filter" + (qdisc_ ? ", qdisc created by sniffer" : "") +
           ")";
  }

 private:
  std::uint32_t ifindex_;
  std::string ifname_;
  bool ingress_;
  std::shared_ptr<CreatedQdisc> qdisc_;  // null: someone else's qdisc
  std::uint32_t prog_id_;                // our program, as bpf_tc_attach reported it
  // Released after the filter is removed; not held while a squatter holds
  // the name (taken again from still_attached(), hence mutable).
  mutable std::unique_ptr<TcHookLock> lock_;
};

// A BPF program's name; empty if it cannot be read.
std::string prog_name(int prog_fd) {
  bpf_prog_info info{};
  __u32 len = sizeof info;
  return bpf_obj_get_info_by_fd(prog_fd, &info, &len) == 0 ? std::string(info.name) : std::string();
}

// The first process found holding an fd of the program (/proc/PID/fdinfo
// "prog_id:"), as "pid N (comm)"; empty when none (in this pid namespace).
// Only a sniffer user's processes are looked at: any local user can hold a
// million descriptors, and reading each stretched a restart after a crash
// by ~9 us a descriptor (red team, round 16); theirs cannot hold our program.
std::string process_holding(std::uint32_t prog_id) {
  namespace fs = std::filesystem;
  const std::string wanted = "prog_id:\t" + std::to_string(prog_id);
  std::error_code ec;
  for (fs::directory_iterator p("/proc", ec), end; !ec && p != end; p.increment(ec)) {
    const std::string pid = p->path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    struct stat owner {};
    if (stat(p->path().c_str(), &owner) != 0 || !sniffer_user(owner.st_uid)) continue;
    std::error_code fd_ec;
    for (fs::directory_iterator f(p->path() / "fd", fd_ec); !fd_ec && f != end; f.increment(fd_ec)) {
      std::error_code link_ec;
      if (fs::read_symlink(f->path(), link_ec).string() != "anon_inode:bpf-prog") continue;
      std::ifstream fdinfo(p->path() / "fdinfo" / f->path().filename());
      for (std::string line; std::getline(fdinfo, line);) {
        if (line != wanted) continue;
        std::string comm;
        std::getline(std::ifstream(p->path() / "comm"), comm);
        return "pid " + pid + " (" + comm + ")";
      }
    }
  }
  return {};
}

// The filter at our handle, as an error names it: `BPF program id N "name",
// held by pid P (comm)` (or "held by no process visible here": none in this
// pid namespace that we may look at); `prog` its program's name, `process`
// whether one holds it.
struct Occupant {
  std::string text;
  std::string prog;
  bool process = false;
};

Occupant occupant(std::uint32_t ifindex, bool ingress, const std::string& ifname) {
  const std::optional<std::uint32_t> id = query_prog_id(ifindex, ingress);
  if (!id) {
    return {.text = "a filter that runs no eBPF program (tc filter show dev " + ifname + " " + direction(ingress) + ")",
            .prog = {}, .process = false};
  }
  const int fd = bpf_prog_get_fd_by_id(*id);
  // Without CAP_SYS_ADMIN (the packaged unit) a program cannot be opened by
  // id: its name is read from the filter (TCA_BPF_NAME), or a restart after a
  // crash could never take its own leftover over.
  const std::string name = fd >= 0 ? prog_name(fd) : filter_program_name(ifindex, ingress, kTcHandle, kTcPriority);
  if (fd >= 0) close(fd);
  const std::string process = process_holding(*id);
  return {.text = "BPF program id " + std::to_string(*id) + " \"" + name + "\"" +
                  (process.empty() ? ", held by no process visible here" : ", held by " + process),
          .prog = name, .process = !process.empty()};
}

// What is at our handle, for a refusal: occupant()'s text, or that nothing is.
std::string at_our_handle(std::uint32_t ifindex, bool ingress, const std::string& ifname) {
  return query_prog_id(ifindex, ingress) ? occupant(ifindex, ingress, ifname).text : "no filter at present";
}

// Who is at our handle while a live sniffer (`who`) holds its lock.
std::string locked_out(std::uint32_t ifindex, bool ingress, const std::string& ifname, const TcHookLock& lock,
                       const std::string& who) {
  return at_our_handle(ifindex, ingress, ifname) +
         std::string("; a live sniffer holds the lock of this hook (") + lock.describe() + ", " + who + ")";
}

// A live sniffer that attached beside a squatter marks the hook
// (tc_hook_lock.hpp): its filter is not touched. Both refuse when two marked
// at once.
void refuse_if_marked(const TcHookLock& lock, std::uint32_t ifindex, bool ingress, const std::string& ifname,
                      const std::string& taken, const char* refused) {
  int err = 0;
  const std::string other = lock.other_mark(err);
  if (err) {
    spdlog::warn("{}: cannot look for other sniffers' marks on the tc {} hook (sock_diag): {}", ifname,
                 direction(ingress), errno_text(err));
  }
  if (other.empty()) return;
  throw Error(taken + at_our_handle(ifindex, ingress, ifname) +
              "; a live sniffer that attached beside a squatter of the lock marks this hook (" + other + ")" +
              refused);
}

// Attaches at our handle without replacing what is there (called under the
// hook's lock); a filter of a killed sniffer (our program's name, no process
// holding it, and its lock was free) is taken over.
int attach_filter(bpf_tc_hook& hook, bpf_tc_opts& opts, const std::string& ifname, bool ingress, bool reclaim,
                  std::string& holder) {
  opts.flags = reclaim ? BPF_TC_F_REPLACE : 0;
  int err = bpf_tc_attach(&hook, &opts);
  if (err != -EEXIST) return err;
  const Occupant o = occupant(static_cast<std::uint32_t>(hook.ifindex), ingress, ifname);
  holder = o.text;
  if (o.process || o.prog.empty() || o.prog != prog_name(opts.prog_fd)) return err;
  spdlog::info("{}: taking over the tc {} filter a stopped sniffer left ({})", ifname, direction(ingress), holder);
  opts.flags = BPF_TC_F_REPLACE;
  opts.prog_id = 0;
  return bpf_tc_attach(&hook, &opts);
}

}  // namespace

std::unique_ptr<Attachment> attach_clsact(int prog_fd, std::uint32_t ifindex, const std::string& ifname, bool ingress,
                                          bool reclaim) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex),
              .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
  const std::string what = "interface \"" + ifname + "\": attach tc " + direction(ingress) + " filter: ";
  const std::string taken = "handle 0x5f1f priority " + std::to_string(kTcPriority) + " is taken by ";
  const char* const refused = " (another sniffer on this interface, in this or another pid namespace?); not replaced";
  // A live sniffer holds the lock, whatever its pid namespace: its filter is
  // not touched, nor is a qdisc created.
  auto lock = std::make_unique<TcHookLock>(ifindex, ingress);
  if (!lock->held() && lock->error() == -EADDRINUSE) {
    const TcHookLock::Holder holder = lock->holder();
    if (holder.sniffer) throw Error(what + taken + locked_out(ifindex, ingress, ifname, *lock, holder.who) + refused);
    // A squatter must not keep the sensor off the hook, nor keep it from
    // taking over a killed sniffer's leftover.
    spdlog::warn("{}: the lock of the tc {} hook ({}) is held by {}, not a sniffer: attaching without it (taken "
                 "once it is free)",
                 ifname, direction(ingress), lock->describe(), holder.who);
    if (const int err = lock->mark()) {
      spdlog::warn("{}: cannot mark the tc {} hook as this sniffer's: {}; a sniffer started in another pid namespace "
                   "could take its filter as a stopped one's",
                   ifname, direction(ingress), errno_text(err));
    }
  } else if (!lock->held()) {
    throw Error(what + "cannot take the lock of this hook (" + lock->describe() + "): " + errno_text(lock->error()));
  }
  refuse_if_marked(*lock, ifindex, ingress, ifname, what + taken, refused);
  int err = bpf_tc_hook_create(&hook);
  if (err && err != -EEXIST) throw Error("interface \"" + ifname + "\": create clsact qdisc: " + errno_text(err));
  // Before the attach: a failure then says what it leaves (CreatedQdisc).
  std::shared_ptr<CreatedQdisc> qdisc = CreatedQdisc::get(ifindex, ifname, err == 0);
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .handle = kTcHandle, .priority = kTcPriority);
  std::string holder;
  err = attach_filter(hook, opts, ifname, ingress, reclaim, holder);
  if (err == -EEXIST) throw Error(what + taken + holder + refused);
  if (err) throw Error(what + errno_text(err));
  return std::make_unique<ClsactAttachment>(ifindex, ifname, ingress, std::move(qdisc), opts.prog_id,
                                            std::move(lock));
}

}  // namespace sniffer

// Kernel drop reasons: the packets the kernel frees with a drop reason on a
// monitored interface, counted by the skb:kfree_skb tracepoint program
// (bpf/drops.bpf.h) by interface, reason and protocol class. The reasons'
// names come from the kernel's BTF (enum skb_drop_reason) at start, so a newer
// kernel's reasons appear without a rebuild; a kernel without them, or without
// the tracepoint, turns the feature off (said once in the log).
#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "sniffer/bpf_loader.hpp"
#include "sniffer/config.hpp"
#include "sniffer/counters.hpp"
#include "sniffer/interfaces.hpp"

namespace sniffer {

// The kernel's drop reasons, by value, without the SKB_DROP_REASON_ prefix.
class DropReasons {
 public:
  // From the running kernel's BTF, or `btf_path` when set. Empty, with
  // why_unsupported() set, when the BTF has no enum skb_drop_reason or no
  // skb:kfree_skb tracepoint with a reason field.
  static DropReasons from_kernel(const std::string& btf_path);
  // From a list of (value, name): for tests.
  explicit DropReasons(std::map<std::uint32_t, std::string> names) : names_(std::move(names)) {}

  bool supported() const { return why_unsupported_.empty(); }
  const std::string& why_unsupported() const { return why_unsupported_; }
  // "reason_N" for a value the enum does not name (a subsystem's reason).
  std::string name(std::uint32_t value) const;
  std::optional<std::uint32_t> value(std::string_view name) const;

 private:
  DropReasons() = default;
  std::map<std::uint32_t, std::string> names_;
  std::string why_unsupported_;
};

// drops.* into the load options: on when enabled and supported (when not
// supported, said once in the log), for this process's network namespace,
// with drops.reasons_ignored resolved. Throws Error naming the key for a
// reason this kernel does not have.
void set_drop_options(const DropsConfig& config, const DropReasons& reasons, LoadOptions& load);

// The attached tracepoint, and the reader of its map.
class KernelDrops {
 public:
  // Attaches the loaded program to the raw tracepoint; nullopt, said in the
  // log, when attaching fails.
  static std::optional<KernelDrops> attach(const BpfPrograms& programs, DropReasons reasons);

  // The counts so far, by interface name and reason name.
  KernelDropCounters read(const InterfaceTable& interfaces) const;

 private:
  struct LinkDeleter {
    void operator()(bpf_link* link) const { bpf_link__destroy(link); }
  };
  KernelDrops(int map_fd, int prog_fd, DropReasons reasons, bpf_link* link)
      : map_fd_(map_fd), prog_fd_(prog_fd), reasons_(std::move(reasons)), link_(link) {}
  int map_fd_;
  int prog_fd_;
  DropReasons reasons_;
  std::unique_ptr<bpf_link, LinkDeleter> link_;
};

}  // namespace sniffer

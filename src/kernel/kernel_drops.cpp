#include "sniffer/kernel_drops.hpp"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <sys/stat.h>

#include <cerrno>
#include <vector>

#include <spdlog/spdlog.h>

#include "sniffer/error.hpp"

namespace sniffer {

namespace {

constexpr std::string_view kReasonPrefix = "SKB_DROP_REASON_";

struct BtfDeleter {
  void operator()(btf* b) const { btf__free(b); }
};

bool has_member(const btf* b, const btf_type* type, std::string_view name) {
  const btf_member* m = btf_members(type);
  for (int i = 0; i < btf_vlen(type); ++i, ++m) {
    if (name == btf__name_by_offset(b, m->name_off)) return true;
  }
  return false;
}

std::uint32_t own_network_namespace() {
  struct stat st {};
  // The calling thread's (a namespace is per thread; the daemon's main thread is the process's).
  if (stat("/proc/thread-self/ns/net", &st) != 0) {
    throw Error("kernel drops: stat /proc/thread-self/ns/net: " + errno_text(errno));
  }
  return static_cast<std::uint32_t>(st.st_ino);
}

}  // namespace

DropReasons DropReasons::from_kernel(const std::string& btf_path) {
  DropReasons reasons;
  std::unique_ptr<btf, BtfDeleter> b(btf_path.empty() ? btf__load_vmlinux_btf() : btf__parse(btf_path.c_str(), nullptr));
  if (!b) {
    reasons.why_unsupported_ = "the kernel's BTF could not be read: " + errno_text(errno);
    return reasons;
  }
  const __s32 enum_id = btf__find_by_name_kind(b.get(), "skb_drop_reason", BTF_KIND_ENUM);
  const __s32 tp_id = btf__find_by_name_kind(b.get(), "trace_event_raw_kfree_skb", BTF_KIND_STRUCT);
  if (enum_id < 0) {
    reasons.why_unsupported_ = "this kernel has no drop reasons (no enum skb_drop_reason in its BTF; Linux 5.17+)";
    return reasons;
  }
  if (tp_id < 0 || !has_member(b.get(), btf__type_by_id(b.get(), tp_id), "reason")) {
    reasons.why_unsupported_ = "this kernel has no skb:kfree_skb tracepoint with a reason field";
    return reasons;
  }
  const btf_type* type = btf__type_by_id(b.get(), enum_id);
  const struct btf_enum* e = btf_enum(type);  // "struct": btf_enum is also a function
  for (int i = 0; i < btf_vlen(type); ++i, ++e) {
    std::string_view name = btf__name_by_offset(b.get(), e->name_off);
    if (name.starts_with(kReasonPrefix)) name.remove_prefix(kReasonPrefix.size());
    reasons.names_.emplace(static_cast<std::uint32_t>(e->val), std::string(name));
  }
  return reasons;
}

std::string DropReasons::name(std::uint32_t value) const {
  auto it = names_.find(value);
  return it != names_.end() ? it->second : "reason_" + std::to_string(value);
}

std::optional<std::uint32_t> DropReasons::value(std::string_view name) const {
  for (const auto& [value, n] : names_) {
    if (n == name) return value;
  }
  return std::nullopt;
}

void set_drop_options(const DropsConfig& config, const DropReasons& reasons, LoadOptions& load) {
  load.drops = false;
  if (!config.enabled || !load.load_programs) return;
  if (!reasons.supported()) {
    spdlog::info("kernel drops: off: {}", reasons.why_unsupported());
    return;
  }
  load.drops_ignored.clear();
  for (std::size_t i = 0; i < config.reasons_ignored.size(); ++i) {
    const std::string& name = config.reasons_ignored[i];
    const std::optional<std::uint32_t> value = reasons.value(name);
    const std::string key = "drops.reasons_ignored[" + std::to_string(i) + "]";
    if (!value) {
      throw Error(key + ": \"" + name + "\" is not a drop reason of this kernel (enum skb_drop_reason in its BTF, "
                  "without the SKB_DROP_REASON_ prefix, e.g. \"NOT_SPECIFIED\")");
    }
    if (*value >= SNIFFER_DROP_IGNORABLE_REASONS) {
      throw Error(key + ": \"" + name + "\" (" + std::to_string(*value) + ") cannot be ignored: only reasons below " +
                  std::to_string(SNIFFER_DROP_IGNORABLE_REASONS) + " can");
    }
    load.drops_ignored.push_back(*value);
  }
  load.drops = true;
  load.drops_netns = own_network_namespace();
}

std::optional<KernelDrops> KernelDrops::attach(const BpfPrograms& programs, DropReasons reasons) {
  bpf_program* prog = bpf_object__find_program_by_name(programs.object(), "sniffer_kfree_skb");
  const bpf_map* map = bpf_object__find_map_by_name(programs.object(), SNIFFER_MAP_KERNEL_DROPS);
  if (!prog || !map) throw Error("kernel drops: the programs have no sniffer_kfree_skb or kernel_drops");
  const int map_fd = bpf_map__fd(map);
  // The key that counts what the full map cannot take exists from the start.
  const int ncpu = libbpf_num_possible_cpus();
  std::vector<std::uint64_t> zeros(static_cast<std::size_t>(ncpu > 0 ? ncpu : 1));
  for (std::uint32_t reason : {SNIFFER_DROP_MAP_FULL, SNIFFER_DROP_RING_FULL}) {
    const sniffer_drop_key key{.reason = reason, .stats_slot = 0, .proto_class = SNIFFER_CLASS_OTHER};
    if (bpf_map_update_elem(map_fd, &key, zeros.data(), BPF_ANY) != 0) {
      throw Error("kernel drops: insert the map-full and ring-full keys: " + errno_text(errno));
    }
  }
  bpf_link* link = bpf_program__attach_raw_tracepoint(prog, "kfree_skb");
  if (!link) {
    spdlog::warn("kernel drops: off: attach to the skb:kfree_skb tracepoint: {}", errno_text(errno));
    return std::nullopt;
  }
  spdlog::info("kernel drops: counting the packets the kernel drops on the monitored interfaces (skb:kfree_skb)");
  return KernelDrops(map_fd, bpf_program__fd(prog), std::move(reasons), link);
}

KernelDropCounters KernelDrops::read(const InterfaceTable& interfaces) const {
  std::map<std::uint8_t, const std::string*> by_slot;
  for (const auto& [ifindex, info] : interfaces) by_slot[info.stats_slot] = &info.name;
  KernelDropCounters out;
  out.unattributed = {{"map_full", 0}, {"interface_gone", 0}, {"tracepoint_missed", 0}, {"record_ring_full", 0}};
  const int ncpu = libbpf_num_possible_cpus();
  std::vector<std::uint64_t> values(static_cast<std::size_t>(ncpu > 0 ? ncpu : 1));
  sniffer_drop_key key{}, next{};
  const sniffer_drop_key* previous = nullptr;
  while (bpf_map_get_next_key(map_fd_, previous, &next) == 0) {
    key = next;
    previous = &key;
    if (bpf_map_lookup_elem(map_fd_, &key, values.data()) != 0) continue;
    std::uint64_t n = 0;
    for (std::uint64_t v : values) n += v;
    if (key.reason == SNIFFER_DROP_MAP_FULL || key.reason == SNIFFER_DROP_RING_FULL) {
      out.unattributed[key.reason == SNIFFER_DROP_MAP_FULL ? "map_full" : "record_ring_full"] += n;
      continue;
    }
    auto slot = by_slot.find(key.stats_slot);
    if (slot == by_slot.end()) {
      out.unattributed["interface_gone"] += n;
      continue;
    }
    const std::string reason = key.reason == SNIFFER_DROP_IGNORED ? "ignored" : reasons_.name(key.reason);
    out.interfaces[*slot->second][reason][key.proto_class < SNIFFER_NUM_CLASSES ? key.proto_class
                                                                                 : SNIFFER_CLASS_OTHER] += n;
  }
  bpf_prog_info info{};
  __u32 len = sizeof info;
  if (bpf_obj_get_info_by_fd(prog_fd_, &info, &len) == 0) out.unattributed["tracepoint_missed"] = info.recursion_misses;
  return out;
}

}  // namespace sniffer

#include "sniffer/daemon.hpp"

#include <csignal>
#include <iostream>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <zmq.hpp>

#include "sniffer/attach.hpp"
#include "sniffer/bpf_loader.hpp"
#include "sniffer/event_pipeline.hpp"
#include "sniffer/interfaces.hpp"
#include "sniffer/publisher.hpp"
#include "sniffer/stats.hpp"
#include "sniffer/wall_clock.hpp"

namespace sniffer {

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

void on_stop_signal(int sig) { g_stop_signal = sig; }

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: epoll_wait returns EINTR and the loop sees the flag
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

InterfaceTable resolve_interfaces(const Config& config) {
  InterfaceTable table;
  for (std::size_t i = 0; i < config.interfaces.size(); ++i) {
    const auto& iface = config.interfaces[i];
    std::uint32_t ifindex = resolve_ifindex(iface.name, "interfaces[" + std::to_string(i) + "].name");
    table[ifindex] = InterfaceInfo{iface.name, ifindex, iface.role, iface.mode};
  }
  return table;
}

std::vector<std::unique_ptr<Attachment>> attach_all(const Config& config, const InterfaceTable& table,
                                                    const BpfPrograms& progs) {
  std::vector<std::unique_ptr<Attachment>> attached;
  for (const auto& [ifindex, info] : table) {
    const InterfaceConfig* iface = nullptr;
    for (const auto& c : config.interfaces) {
      if (c.name == info.name) iface = &c;
    }
    for (Hook hook : iface->hooks) {
      std::unique_ptr<Attachment> a;
      switch (hook) {
        case Hook::XdpIngress: a = attach_xdp(progs.xdp_prog_fd(), ifindex, info.name, iface->xdp_mode); break;
        case Hook::TcIngress:
          a = attach_tc(progs.tc_ingress_prog_fd(), ifindex, info.name, true, config.capture.tc_attach);
          break;
        case Hook::TcEgress:
          a = attach_tc(progs.tc_egress_prog_fd(), ifindex, info.name, false, config.capture.tc_attach);
          break;
      }
      spdlog::info("{} (ifindex {}, {}, {}): attached {}", info.name, ifindex, to_string(info.role),
                   to_string(info.mode), a->describe());
      attached.push_back(std::move(a));
    }
  }
  spdlog::info("xdp: attached through the kernel's bpf_link, one program per interface; libxdp's multi-program "
               "dispatcher is not used");
  return attached;
}

}  // namespace

int run_daemon(const Config& config, const RunOptions& options) {
  std::uint64_t start_wall_ns = realtime_now_ns();
  InterfaceTable interfaces = resolve_interfaces(config);

  LoadOptions load;
  load.ring_buffer_bytes = config.capture.ring_buffer_bytes;
  load.payload_bytes = config.capture.payload_bytes;
  load.wakeup_bytes = config.capture.wakeup_bytes;
  load.btf_path = config.btf_path;
  BpfPrograms progs(load);
  spdlog::info("BPF programs loaded (ABI {}, ring buffer {} bytes, payload snippet {} bytes)", SNIFFER_ABI_VERSION,
               load.ring_buffer_bytes, load.payload_bytes);

  for (const auto& [ifindex, info] : interfaces) progs.set_interface(ifindex, info.mode, info.role);
  progs.set_filter(config.filter);

  if (options.dry_run) {
    std::cout << nlohmann::json{{"dry_run", "ok"},
                                {"interfaces", interfaces.size()},
                                {"kernel", kernel_stats_json(progs.read_stats())}}
                     .dump()
              << std::endl;
    spdlog::info("dry run: programs verified and maps filled; nothing attached");
    return 0;
  }

  zmq::context_t zmq_ctx(1);
  Publisher publisher(zmq_ctx, config.publish, config.sensor_id, start_wall_ns);
  EventPipeline pipeline(progs.events_map_fd(), load.payload_bytes, interfaces, publisher);
  install_signal_handlers();
  auto attached = attach_all(config, interfaces, progs);
  spdlog::info("publishing on {} (topic \"{}\"), sensor id \"{}\"", config.publish.endpoint, kTopicPackets,
               config.sensor_id);

  std::uint64_t last_resync = monotonic_now_ns();
  while (!g_stop_signal) {
    int timeout = static_cast<int>(config.capture.poll_interval_ms);
    int due = publisher.ms_until_due(monotonic_now_ns());
    if (due >= 0 && due < timeout) timeout = due;
    pipeline.run_once(timeout);
    std::uint64_t now = monotonic_now_ns();
    if (now - last_resync > 60ull * 1000000000ull) {
      pipeline.clock().resync();
      last_resync = now;
    }
  }
  spdlog::info("signal {} received: detaching", static_cast<int>(g_stop_signal));

  // Detach first, so that nothing arrives after the final drain and the
  // counters below are complete.
  attached.clear();
  pipeline.drain_and_flush();
  KernelStats kernel = progs.read_stats();
  for (const auto& [ifindex, info] : interfaces) progs.remove_interface(ifindex);

  nlohmann::json report{{"kernel", kernel_stats_json(kernel)},
                        {"userspace", userspace_stats_json(pipeline.counters(), publisher.counters())}};
  std::cout << report.dump() << std::endl;
  spdlog::info("stopped: {} records emitted, {} ring-full drops, {} filtered, {} events published, {} dropped at HWM",
               kernel[SNIFFER_STAT_RECORDS], kernel[SNIFFER_STAT_RINGBUF_FULL], kernel[SNIFFER_STAT_FILTERED],
               publisher.counters().events_sent, publisher.counters().events_dropped_hwm);
  return 0;
}

}  // namespace sniffer

#include "sniffer/host_check.hpp"

#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <xdp/libxdp.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "sniffer/attach.hpp"
#include "sniffer/bpf_loader.hpp"
#include "sniffer/bpffs.hpp"
#include "sniffer/capabilities.hpp"
#include "sniffer/error.hpp"
#include "sniffer/load_options.hpp"
#include "sniffer_bpf.skel.h"

namespace sniffer {

namespace {

struct Row {
  std::string item, result;
  bool blocking = false;  // a failure that prevents running
  bool ok = true;
};

std::string read_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// libxdp's multi-program dispatcher: attach our XDP program through libxdp
// and see whether it installed a dispatcher or fell back to one legacy program.
std::string probe_libxdp(std::uint32_t ifindex) {
  // libxdp finds a program it attached by id (BPF_PROG_GET_FD_BY_ID), which
  // needs CAP_SYS_ADMIN: without it the probe could not detach what it attached.
  if (!missing_capabilities({kCapSysAdmin}).empty()) {
    return "not probed: libxdp needs CAP_SYS_ADMIN to detach its probe (sniffer attaches through bpf_link)";
  }
  libxdp_set_print(nullptr);
  std::size_t size = 0;
  const void* elf = sniffer_bpf__elf_bytes(&size);
  bpf_object* obj = bpf_object__open_mem(elf, size, nullptr);
  if (!obj) return "cannot open the embedded object";
  xdp_program* prog = xdp_program__from_bpf_obj(obj, "xdp.frags");
  if (!prog || libxdp_get_error(prog)) {
    bpf_object__close(obj);
    return "libxdp cannot use the program";
  }
  std::string result;
  int err = xdp_program__attach(prog, static_cast<int>(ifindex), XDP_MODE_SKB, 0);
  if (err) {
    result = "no: attach failed (" + errno_text(err) + ")";
  } else {
    xdp_multiprog* mp = xdp_multiprog__get_from_ifindex(static_cast<int>(ifindex));
    bool legacy = !mp || libxdp_get_error(mp) || xdp_multiprog__is_legacy(mp);
    result = legacy ? "no: libxdp fell back to single-program (legacy) mode; sniffer uses a plain bpf_link"
                    : "yes: libxdp installed its dispatcher";
    if (mp && !libxdp_get_error(mp)) xdp_multiprog__close(mp);
    xdp_program__detach(prog, static_cast<int>(ifindex), XDP_MODE_SKB, 0);
  }
  xdp_program__close(prog);
  bpf_object__close(obj);  // libxdp does not own an object it was given (from_bpf_obj)
  return result;
}

}  // namespace

int run_host_check(const Config& config) {
  std::vector<Row> rows;
  utsname u{};
  uname(&u);
  rows.push_back({"kernel", std::string(u.release), false, true});

  const std::string btf = config.btf_path.empty() ? "/sys/kernel/btf/vmlinux" : config.btf_path;
  bool have_btf = access(btf.c_str(), R_OK) == 0;
  rows.push_back({"BTF", have_btf ? btf : btf + ": " + errno_text(errno) + " (CO-RE needs it; set btf_path)", true,
                  have_btf});

  const bool bpffs = bpffs_mounted();
  rows.push_back({"bpffs", bpffs ? "mounted at /sys/fs/bpf" : "not mounted at /sys/fs/bpf (needed only for pinning)",
                  false, bpffs});

  const std::string missing = missing_capabilities({kCapBpf, kCapNetAdmin, kCapPerfmon});
  rows.push_back({"capabilities", missing.empty() ? "CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON" : "missing " + missing, true,
                  missing.empty()});

  std::unique_ptr<BpfPrograms> progs;
  if (have_btf && missing.empty()) {
    try {
      progs = std::make_unique<BpfPrograms>(load_options(config));
      rows.push_back({"programs", "loaded and verified by this kernel", true, true});
    } catch (const std::exception& e) {
      rows.push_back({"programs", e.what(), true, false});
    }
  }

  bool libxdp_probed = false;
  for (const auto& iface : config.interfaces) {
    unsigned idx = if_nametoindex(iface.name.c_str());
    if (idx == 0) {
      rows.push_back({iface.name, "no such interface in this network namespace", true, false});
      continue;
    }
    std::string state = read_line("/sys/class/net/" + iface.name + "/operstate");
    rows.push_back({iface.name, "ifindex " + std::to_string(idx) + ", " + state + ", role " + to_string(iface.role) +
                                    ", mode " + to_string(iface.mode),
                    false, state == "up" || state == "unknown"});
    if (!progs) continue;
    std::string modes;
    for (XdpMode m : {XdpMode::Native, XdpMode::Generic}) {
      try {
        attach_xdp(progs->xdp_prog_fd(), idx, iface.name, m);  // detached again at once
        modes += std::string(modes.empty() ? "" : ", ") + to_string(m);
      } catch (const std::exception&) {
      }
    }
    bool wants_xdp = std::find(iface.hooks.begin(), iface.hooks.end(), Hook::XdpIngress) != iface.hooks.end();
    bool mode_ok = iface.xdp_mode == XdpMode::Auto ? !modes.empty() : modes.find(to_string(iface.xdp_mode)) != std::string::npos;
    rows.push_back({iface.name + " XDP", modes.empty() ? "no mode available" : modes, wants_xdp, !wants_xdp || mode_ok});
    if (!libxdp_probed) {
      rows.push_back({"libxdp dispatcher", probe_libxdp(idx), false, true});
      libxdp_probed = true;
    }
  }

  int exit_code = 0;
  std::printf("%-22s %-6s %s\n", "CHECK", "STATUS", "DETAIL");
  for (const auto& r : rows) {
    const char* status = r.ok ? "ok" : r.blocking ? "FAIL" : "warn";
    if (!r.ok && r.blocking) exit_code = 1;
    std::printf("%-22s %-6s %s\n", r.item.c_str(), status, r.result.c_str());
  }
  std::printf("%s\n", exit_code ? "blocking problems found" : "ready to run");
  return exit_code;
}

}  // namespace sniffer

// The monitored interfaces at run time: their iface_configs entries, their
// counter slots and their attachments, per (interface, hook). Applying a new
// interface list changes only what differs, so interfaces that stay as they
// were keep their attachments and lose no packet (live reload).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sniffer/attach.hpp"
#include "sniffer/bpf_loader.hpp"
#include "sniffer/config.hpp"
#include "sniffer/interfaces.hpp"

namespace sniffer {

class InterfaceManager {
 public:
  InterfaceManager(BpfPrograms& progs, TcAttach tc_attach) : progs_(progs), tc_attach_(tc_attach) {}
  ~InterfaceManager();

  // Resolves every interface (throws Error naming a missing one before
  // changing anything), then fills iface_configs for new and changed ones.
  void configure(const std::vector<InterfaceConfig>& interfaces);
  // Attaches the configured hooks that are not attached yet, and detaches
  // those no longer configured.
  void attach();
  // Detaches every program (iface_configs stays, for the final counters).
  void detach_attachments() { attached_.clear(); }
  // Detaches everything and empties iface_configs.
  void detach_all();

  const InterfaceTable& table() const { return table_; }

 private:
  struct Entry {
    InterfaceConfig config;
    InterfaceInfo info;
  };
  std::uint8_t free_slot() const;

  BpfPrograms& progs_;
  TcAttach tc_attach_;
  std::map<std::string, Entry> entries_;  // by name
  InterfaceTable table_;                  // by ifindex, for the pipeline
  std::map<std::pair<std::string, Hook>, std::pair<XdpMode, std::unique_ptr<Attachment>>> attached_;
};

}  // namespace sniffer

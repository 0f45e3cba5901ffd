// `sniffer capture`: asks a running sensor, through its control socket, for
// a full-packet capture (captures.hpp); the sensor writes the pcapng file.
#pragma once

#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>

#include "sniffer/control_client.hpp"

namespace sniffer {

class CaptureCli {
 public:
  // Adds the "capture" subcommand to `app`.
  explicit CaptureCli(CLI::App& app);
  bool selected() const { return capture_->parsed(); }
  // Sends the command, prints the file's path; returns the exit status.
  int run() const;

 private:
  CLI::App* capture_;
  ControlClientOptions client_;
  std::string filter_, file_;
  std::uint32_t packets_ = 0, seconds_ = 0, snaplen_ = 0;
};

}  // namespace sniffer

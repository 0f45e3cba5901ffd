// `sniffer block add|del|list`: the shell's client of the control socket.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "sniffer/control_client.hpp"

namespace sniffer {

// The options every control-socket client takes: --endpoint, --server-key,
// --key-file, --name (default "TOOL@HOST"), --timeout-ms.
void add_control_client_options(CLI::App* cmd, ControlClientOptions& client, const std::string& tool);

// Sends `request`, prints the reply; returns the exit status (1 when no reply
// came, with "TOOL: why" on stderr).
int run_control_request(const ControlClientOptions& client, const v1::ControlRequest& request,
                        const std::string& tool);

class BlockCli {
 public:
  // Adds the "block" subcommand and its own subcommands to `app`.
  explicit BlockCli(CLI::App& app);
  bool selected() const { return block_->parsed(); }
  // Sends the command, prints the reply; returns the exit status.
  int run() const;

 private:
  CLI::App* block_;
  CLI::App* add_;
  CLI::App* del_;
  CLI::App* list_;
  ControlClientOptions client_;
  std::string prefix_, reason_, action_ = "drop", direction_ = "src";
  std::uint32_t duration_s_ = 0;
};

}  // namespace sniffer

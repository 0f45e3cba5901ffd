#include "sniffer/block_cli.hpp"

#include <unistd.h>

#include <iostream>

#include "sniffer/error.hpp"

namespace sniffer {

void add_control_client_options(CLI::App* cmd, ControlClientOptions& client, const std::string& tool) {
  cmd->add_option("--endpoint", client.endpoint, "the sensor's control.endpoint")->required();
  cmd->add_option("--server-key", client.server_key, "the sensor's public key: Z85 text or its .pub file")
      ->required();
  cmd->add_option("--key-file", client.key_file, "this client's secret key file (sniffer keygen; mode 0600)")
      ->required();
  char host[256] = "localhost";
  gethostname(host, sizeof(host) - 1);
  client.requester = tool + "@" + host;
  cmd->add_option("--name", client.requester, "a name for the sensor's log, next to this client's key")
      ->capture_default_str();
  cmd->add_option("--timeout-ms", client.timeout_ms, "how long to wait for the reply")
      ->check(CLI::Range(100, 600000))
      ->capture_default_str();
}

BlockCli::BlockCli(CLI::App& app) {
  block_ = app.add_subcommand("block", "add, remove or list blocklist entries through a sensor's control socket");
  add_control_client_options(block_, client_, "sniffer block");
  block_->require_subcommand(1);

  auto direction = [this](CLI::App* cmd) {
    cmd->add_option("--direction", direction_, "src: packets from the prefix; dst: packets to it")
        ->check(CLI::IsMember({"src", "dst"}))
        ->capture_default_str();
  };
  add_ = block_->add_subcommand("add", "block a prefix for a duration");
  add_->add_option("prefix", prefix_, "203.0.113.7, 203.0.113.0/24, 2001:db8::/48")->required();
  add_->add_option("--duration", duration_s_, "seconds (0: the sensor's blocklist.default_duration_s)")
      ->capture_default_str();
  add_->add_option("--reason", reason_, "why, for the log and the list");
  add_->add_option("--action", action_, "drop, or count: only count and mark the packets")
      ->check(CLI::IsMember({"drop", "count"}))
      ->capture_default_str();
  direction(add_);
  del_ = block_->add_subcommand("del", "remove a blocklist entry");
  del_->add_option("prefix", prefix_, "the prefix, as it was added")->required();
  direction(del_);
  list_ = block_->add_subcommand("list", "list the entries with their hit counters");
  for (CLI::App* cmd : {add_, del_, list_}) cmd->fallthrough();  // --endpoint etc. may follow the verb
}

int BlockCli::run() const {
  v1::ControlRequest request;
  const v1::BlockDirection dir = direction_ == "dst" ? v1::BLOCK_DIRECTION_DST : v1::BLOCK_DIRECTION_SRC;
  if (add_->parsed()) {
    v1::BlockCommand* cmd = request.mutable_block();
    cmd->set_prefix(prefix_);
    cmd->set_duration_s(duration_s_);
    cmd->set_reason(reason_);
    cmd->set_action(action_ == "count" ? v1::BLOCK_ACTION_COUNT : v1::BLOCK_ACTION_DROP);
    cmd->set_direction(dir);
  } else if (del_->parsed()) {
    request.mutable_unblock()->set_prefix(prefix_);
    request.mutable_unblock()->set_direction(dir);
  } else {
    request.mutable_list();
  }
  return run_control_request(client_, request, "sniffer block");
}

int run_control_request(const ControlClientOptions& client, const v1::ControlRequest& request,
                        const std::string& tool) {
  try {
    return print_control_reply(send_control_request(client, request), std::cout, std::cerr);
  } catch (const std::exception& e) {
    std::cerr << tool << ": " << e.what() << "\n";
    return 1;  // a runtime error (no reply, a key file): 2 is for usage errors
  }
}

}  // namespace sniffer

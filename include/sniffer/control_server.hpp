// The control socket: a ZeroMQ REP socket, CURVE-authenticated (ZAP domain
// "control", its own allowed keys), on which detectors send ControlRequest
// messages to block, unblock and list prefixes, and to start full-packet
// captures (captures.hpp). Each client key is
// rate-limited; every change is logged with who asked and why. Polled from the
// daemon's loop (never blocks), so the blocklist is only touched by one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "sniffer.pb.h"
#include "sniffer/accepted_connections.hpp"
#include "sniffer/blocklist.hpp"
#include "sniffer/endpoint_bind.hpp"
#include "sniffer/captures.hpp"
#include "sniffer/config.hpp"
#include "sniffer/counters.hpp"
#include "sniffer/curve_auth.hpp"
#include "sniffer/ipc_socket_file.hpp"
#include "sniffer/log_throttle.hpp"
#include "sniffer/rate_limiter.hpp"

namespace sniffer {

inline constexpr const char* kZapDomainControl = "control";
// Control connections accepted at once, at most (fewer under a low descriptor limit).
inline constexpr std::size_t kMaxControlConnections = 64;

class ControlServer {
 public:
  // Binds control.endpoint in `ctx` as a CURVE server whose clients `auth`
  // admits (domain "control"; keys read now: Error names the file).
  // `blocklist`, `ctx`, `auth` and `captures` (null: capture refused) must
  // outlive the server.
  ControlServer(const ControlConfig& control, const BlocklistConfig& limits, Blocklist& blocklist,
                zmq::context_t& ctx, ZapAuthenticator& auth, Captures* captures = nullptr);

  // Answers every request waiting; returns how many.
  int poll(std::uint64_t now_mono_ns, std::uint64_t now_wall_ns);
  // Applies a reloaded blocklist section (durations; monitor_only for replies).
  void set_limits(const BlocklistConfig& limits) { limits_ = limits; }
  // Reads the authorized-keys file's comments again (SIGHUP): the names the
  // log and the origins of new blocks give each key. A file that cannot be
  // read keeps the names of before (logged).
  void reload_key_comments();
  // Called after every block and unblock that changed the blocklist: keeps
  // it (blocklist.state_file); returns why it could not ("" when it did),
  // which the reply carries as its warning.
  void set_persist(std::function<std::string()> persist) { persist_ = std::move(persist); }

  // Replies by command, then status: {"block": {"ok": n, "invalid": n, ...}, ...}
  const std::map<std::string, NamedCounts>& counters() const { return counters_; }
  // Why its endpoint is not bound (empty once it is): the report's "endpoints".
  const std::string& refused() const { return bind_.refused(); }

  // One request, as the socket's loop runs it (public for tests). `client`
  // is the ZAP user id (the client's public key); `peer_address` the
  // connection's source address ("Peer-Address": empty for ipc://). That
  // address is remembered: no block may ever cover it (BlockGuard).
  v1::ControlReply handle(const v1::ControlRequest& request, const std::string& client,
                          const std::string& peer_address, std::uint64_t now_mono_ns, std::uint64_t now_wall_ns);

 private:
  // Reads and answers one request; false when none was waiting.
  bool answer_one(std::uint64_t now_mono_ns, std::uint64_t now_wall_ns);
  // Logs a warning of a kind about `client`: at most one a minute each.
  void warn(const char* kind, const std::string& client, std::uint64_t now_mono_ns, const std::string& text);
  // "COMMENT" (key Z85), or key Z85 without a comment: a client, as the guard names it.
  std::string key_name(const std::string& client) const;
  // "REQUESTER (key Z85 "COMMENT", from ADDRESS)": who asked, for logs and origins.
  std::string describe(const v1::ControlRequest& request, const std::string& client,
                       const std::string& peer_address) const;
  v1::ControlReply block(const v1::BlockCommand& cmd, const std::string& who, const std::string& peer_address,
                         std::uint64_t now_mono_ns, std::uint64_t now_wall_ns);
  v1::ControlReply unblock(const v1::UnblockCommand& cmd, const std::string& who);
  v1::ControlReply list() const;
  // persist_, its failure as the reply's warning (the change stays applied).
  void persist(v1::ControlReply& reply);

  BlocklistConfig limits_;
  Blocklist& blocklist_;
  Captures* captures_;
  const ZapAuthenticator& auth_;  // asked at each request: a key removed at a reload stops at once
  std::map<std::string, std::string> key_comments_;  // Z85 key -> its comment in authorized_keys_file
  std::string authorized_keys_file_;  // restart only: its comments are read again at a reload
  EndpointBind bind_;       // the endpoint as bound; a taken tcp port is bound later (poll())
  IpcSocketFile ipc_file_;  // before the socket: checked before the bind, removed after the close
  zmq::socket_t socket_;
  AcceptedConnections connections_;  // after the socket: monitors it
  std::size_t max_connections_ = 0;
  RateLimiter limiter_;
  double rate_per_s_;
  std::uint32_t rate_burst_;
  std::map<std::string, NamedCounts> counters_;  // command -> status -> n
  std::function<std::string()> persist_;
  LogThrottle warnings_;  // malformed and rate-limited requests: one line a minute per client
};

// The comment after each key of an authorized-keys file ("KEY # ops laptop"
// -> {KEY: "ops laptop"}): the name `sniffer block list` and the log show for
// the key. Keys without a comment are absent. Lines that are not keys are
// skipped (load_authorized_keys has validated the file).
std::map<std::string, std::string> authorized_key_comments(const std::string& text);

// A BlockRule as the protocol shows it.
void rule_to_proto(const BlockRule& rule, v1::BlockEntry& out);

}  // namespace sniffer

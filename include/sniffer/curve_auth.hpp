// Authenticated, encrypted ZeroMQ transport: CURVE server and client sockets,
// and a ZAP handler (RFC 27) that admits a client only when its public key is
// in the allowed set of the server socket's ZAP domain. The keys and their
// files are in curve_keys.hpp.
//
// Use, for any server socket (the publisher, a control socket):
//   ZapAuthenticator& auth = ...;            // one per zmq context, created first
//   auth.allow("control", load_authorized_keys(path));
//   make_curve_server(socket, load_secret_key_file(key_path), "control");
//   socket.bind(...);
// The ZAP reply's user id is the client's public key (Z85): a server reads it
// from each received message with zmq_msg_gets(&msg, "User-Id").
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <zmq.hpp>

#include "sniffer/counters.hpp"  // AuthCounters
#include "sniffer/curve_keys.hpp"
#include "sniffer/log_throttle.hpp"

namespace sniffer {

inline constexpr const char* kZapDomainPublish = "publish";

// Makes `socket` a CURVE server with `keys` that asks the ZAP handler about
// every client under `zap_domain`. Call before bind. Fails closed: without a
// ZAP handler in the context, every handshake fails.
void make_curve_server(zmq::socket_t& socket, const CurveKeyPair& keys, const std::string& zap_domain);

// Makes `socket` a CURVE client that talks to the server with public key
// `server_public_z85`. Call before connect.
void make_curve_client(zmq::socket_t& socket, const CurveKeyPair& own, const std::string& server_public_z85);

// The keys of an authorized-keys file, read for a ZAP domain.
struct AuthorizedKeys {
  std::string domain;
  std::string file;
  std::set<std::string> keys;  // Z85
};

// The ZAP handler of one zmq context: binds inproc://zeromq.zap.01 (only one
// handler per context can) and answers requests on its own thread until
// destroyed. Create it before any CURVE server socket of the context, and
// destroy it after them (a member declared after the context, before the
// sockets). Thread-safe: allow() and the counters may be called from any
// thread while it runs.
class ZapAuthenticator {
 public:
  explicit ZapAuthenticator(zmq::context_t& ctx);
  ~ZapAuthenticator();
  ZapAuthenticator(const ZapAuthenticator&) = delete;
  ZapAuthenticator& operator=(const ZapAuthenticator&) = delete;

  // Sets (replaces) the public keys (Z85) allowed in `domain`, at once for
  // the next handshake (SIGHUP re-reads the files). A domain never set
  // refuses every client. Returns how many keys allowed until now no longer are.
  std::size_t allow(const std::string& domain, std::set<std::string> public_keys_z85);

  // SIGHUP: allow(list.domain, list.keys), logged with the file. Returns how many keys were removed.
  std::size_t replace(AuthorizedKeys list);
  // Whether the Z85 public key `key_z85` is allowed in `domain` now: a
  // connection admitted before a reload removed its key asks at each request.
  bool allows(const std::string& domain, const std::string& key_z85) const;

  AuthCounters counters(const std::string& domain) const;
  // By domain: every domain allowed or asked about.
  std::map<std::string, AuthCounters> counters_by_domain() const;

 private:
  void run();
  void handle_request();
  void log_refusal(const std::string& domain, const std::string& key, const std::string& address,
                   const std::string& reason);

  zmq::socket_t handler_;  // REP on inproc://zeromq.zap.01 (used by the thread only once started)
  zmq::socket_t wake_rx_;  // PAIR: a message here stops the thread
  zmq::socket_t wake_tx_;  // PAIR: the destructor's end
  std::thread thread_;

  mutable std::mutex mutex_;
  std::map<std::string, std::set<std::string>> allowed_;  // domain -> binary keys (32 bytes)
  std::map<std::string, AuthCounters> counters_;

  // Refused keys are logged once, then at most once a minute each, and at
  // most 10 lines a minute in all (the handler thread only).
  LogThrottle refusal_log_{LogThrottle::Limits{.max_lines = 10}};
};

}  // namespace sniffer

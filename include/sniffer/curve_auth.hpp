// Authenticated, encrypted ZeroMQ transport: CURVE keys (Z85 text files) and
// a ZAP handler (RFC 27) that admits a client only when its public key is in
// the allowed set of the server socket's ZAP domain.
//
// Use, for any server socket (the publisher, a control socket):
//   ZapAuthenticator& auth = ...;            // one per zmq context, created first
//   auth.allow("control", load_authorized_keys(path));
//   make_curve_server(socket, load_secret_key_file(key_path), "control");
//   socket.bind(...);
// The ZAP reply's user id is the client's public key (Z85): a server reads it
// from each received message with zmq_msg_gets(&msg, "User-Id").
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "sniffer/counters.hpp"  // AuthCounters

namespace sniffer {

inline constexpr std::size_t kZ85KeyLength = 40;  // 32 bytes as Z85 text
inline constexpr const char* kZapDomainPublish = "publish";

// A CURVE key pair as Z85 text.
struct CurveKeyPair {
  std::string public_z85;
  std::string secret_z85;
};

// True when `text` is 40 Z85 characters encoding 32 bytes.
bool is_z85_key(std::string_view text);

// The keys of a key file's text, in order. Each line is blank, a comment
// (starts with '#'), or a key optionally followed by blanks and a '#' comment.
// (Z85 has a '#' character, but no 32-byte key's text begins with it.)
// A malformed line throws Error "FILE:LINE: ..." (the line is not echoed).
std::vector<std::string> parse_key_lines(const std::string& text, const std::string& file);

// Reads the one secret key of a key file and derives its public key. Refuses
// (Error naming the file and its mode) a file that group or other may read or
// write, and a file that is not a regular file.
CurveKeyPair load_secret_key_file(const std::string& path);

// The allowed client public keys of an authorized-keys file (any number of
// keys, one a line). Throws Error naming FILE:LINE for a malformed line.
std::set<std::string> load_authorized_keys(const std::string& path);

// A server's public key given as Z85 text, or as the path of a file that
// holds exactly one key (a .pub file).
std::string load_public_key(const std::string& z85_or_path);

// A new key pair (zmq_curve_keypair).
CurveKeyPair generate_keypair();

// Writes PREFIX.key (the secret, mode 0600) and PREFIX.pub (the public key).
// Refuses to overwrite either file (O_EXCL). Returns the two paths.
std::pair<std::string, std::string> write_keypair_files(const std::string& prefix, const CurveKeyPair& keys);

// Makes `socket` a CURVE server with `keys` that asks the ZAP handler about
// every client under `zap_domain`. Call before bind. Fails closed: without a
// ZAP handler in the context, every handshake fails.
void make_curve_server(zmq::socket_t& socket, const CurveKeyPair& keys, const std::string& zap_domain);

// Makes `socket` a CURVE client that talks to the server with public key
// `server_public_z85`. Call before connect.
void make_curve_client(zmq::socket_t& socket, const CurveKeyPair& own, const std::string& server_public_z85);

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

  // Sets (replaces) the public keys (Z85) allowed in `domain`. A domain never
  // set refuses every client.
  void allow(const std::string& domain, std::set<std::string> public_keys_z85);

  AuthCounters counters(const std::string& domain) const;
  // By domain: every domain allowed or asked about.
  std::map<std::string, AuthCounters> counters_by_domain() const;

 private:
  struct RefusalLog {
    std::uint64_t last_ns = 0;
    std::uint64_t suppressed = 0;
  };

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
  // most kMaxLogLinesPerMinute lines in all (the handler thread only).
  std::map<std::string, RefusalLog> refusal_log_;
  std::uint64_t window_start_ns_ = 0;
  std::uint32_t window_lines_ = 0;
  std::uint64_t window_suppressed_ = 0;
};

}  // namespace sniffer

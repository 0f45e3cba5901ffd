#include "sniffer/curve_auth.hpp"

#include <pthread.h>
#include <signal.h>

#include <cerrno>

#include <spdlog/spdlog.h>

#include "sniffer/error.hpp"
#include "sniffer/wall_clock.hpp"

#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93  // draft in libzmq 4.3's header, implemented by the library
#endif

namespace sniffer {

namespace {

constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";

std::string frame_text(const zmq::message_t& m) { return std::string(static_cast<const char*>(m.data()), m.size()); }

}  // namespace

void make_curve_server(zmq::socket_t& socket, const CurveKeyPair& keys, const std::string& zap_domain) {
  socket.set(zmq::sockopt::zap_domain, zap_domain);
  socket.set(zmq::sockopt::curve_server, 1);
  socket.set(zmq::sockopt::curve_secretkey, keys.secret_z85);
  // Without this, libzmq 4.3 admits every client when no ZAP handler is bound.
  int enforce = 1;
  if (zmq_setsockopt(socket.handle(), ZMQ_ZAP_ENFORCE_DOMAIN, &enforce, sizeof(enforce)) != 0) {
    spdlog::debug("auth: this libzmq has no ZMQ_ZAP_ENFORCE_DOMAIN ({}): the ZAP handler must be running",
                  zmq_strerror(zmq_errno()));
  }
}

void make_curve_client(zmq::socket_t& socket, const CurveKeyPair& own, const std::string& server_public_z85) {
  socket.set(zmq::sockopt::curve_serverkey, server_public_z85);
  socket.set(zmq::sockopt::curve_publickey, own.public_z85);
  socket.set(zmq::sockopt::curve_secretkey, own.secret_z85);
}

ZapAuthenticator::ZapAuthenticator(zmq::context_t& ctx)
    : handler_(ctx, zmq::socket_type::rep),
      wake_rx_(ctx, zmq::socket_type::pair),
      wake_tx_(ctx, zmq::socket_type::pair) {
  for (auto* s : {&handler_, &wake_rx_, &wake_tx_}) s->set(zmq::sockopt::linger, 0);
  try {
    handler_.bind(kZapEndpoint);
  } catch (const zmq::error_t& e) {
    throw Error(std::string("ZAP handler: cannot bind ") + kZapEndpoint + ": " + e.what() +
                " (one handler per ZeroMQ context)");
  }
  const std::string wake = "inproc://sniffer-zap-wake-" + std::to_string(reinterpret_cast<std::uintptr_t>(this));
  wake_rx_.bind(wake);
  wake_tx_.connect(wake);
  // The daemon's signals go to its main thread, never to this one.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &previous);
  thread_ = std::thread([this] { run(); });
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

ZapAuthenticator::~ZapAuthenticator() {
  try {
    wake_tx_.send(zmq::str_buffer("stop"), zmq::send_flags::dontwait);
  } catch (const zmq::error_t& e) {
    spdlog::error("auth: cannot stop the ZAP handler: {}", e.what());
  }
  if (thread_.joinable()) thread_.join();
  // Free the endpoint now (closing frees it later, on libzmq's reaper thread).
  try {
    handler_.unbind(kZapEndpoint);
  } catch (const zmq::error_t&) {
  }
}

std::size_t ZapAuthenticator::allow(const std::string& domain, std::set<std::string> public_keys_z85) {
  std::set<std::string> binary;
  for (const auto& key : public_keys_z85) {
    if (!is_z85_key(key)) throw Error("auth: \"" + domain + "\": not a Z85 public key");
    binary.insert(z85_decode_key(key));
  }
  std::lock_guard<std::mutex> lock(mutex_);  // the handler thread reads the set under it
  std::set<std::string>& allowed = allowed_[domain];
  std::size_t removed = 0;
  for (const auto& key : allowed) removed += binary.count(key) == 0 ? 1 : 0;
  allowed = std::move(binary);
  counters_[domain];  // shown as 0/0 until a client comes
  return removed;
}

std::size_t ZapAuthenticator::replace(AuthorizedKeys list) {
  const std::size_t count = list.keys.size();
  const std::size_t removed = allow(list.domain, std::move(list.keys));
  spdlog::log(count == 0 ? spdlog::level::warn : spdlog::level::info,
              "reload: \"{}\": {} authorized key(s) from \"{}\" ({} removed); new handshakes see them{}", list.domain,
              count, list.file, removed, count == 0 ? ": nobody is admitted" : "");
  return removed;
}

bool ZapAuthenticator::allows(const std::string& domain, const std::string& key_z85) const {
  if (!is_z85_key(key_z85)) return false;
  const std::string key = z85_decode_key(key_z85);
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = allowed_.find(domain);
  return it != allowed_.end() && it->second.count(key) != 0;
}

AuthCounters ZapAuthenticator::counters(const std::string& domain) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = counters_.find(domain);
  return it == counters_.end() ? AuthCounters{} : it->second;
}

std::map<std::string, AuthCounters> ZapAuthenticator::counters_by_domain() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {counters_.begin(), counters_.end()};
}

void ZapAuthenticator::run() {
  zmq::pollitem_t items[] = {{handler_.handle(), 0, ZMQ_POLLIN, 0}, {wake_rx_.handle(), 0, ZMQ_POLLIN, 0}};
  for (;;) {
    try {
      zmq::poll(items, 2, std::chrono::milliseconds(-1));
      if (items[1].revents & ZMQ_POLLIN) return;
      if (items[0].revents & ZMQ_POLLIN) handle_request();
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      if (e.num() == ETERM) return;
      spdlog::error("auth: ZAP handler: {}", e.what());  // a REP socket must answer: keep serving
    }
  }
}

void ZapAuthenticator::handle_request() {
  // RFC 27: version, request id, domain, address, identity, mechanism,
  // credentials (CURVE: the client's 32-byte long-term public key).
  std::vector<zmq::message_t> frames;
  do {
    zmq::message_t m;
    if (!handler_.recv(m, zmq::recv_flags::dontwait)) break;
    frames.push_back(std::move(m));
  } while (frames.back().more());

  auto reply = [this](const std::string& request_id, const char* code, const char* text, const std::string& user) {
    handler_.send(zmq::str_buffer("1.0"), zmq::send_flags::sndmore);
    handler_.send(zmq::buffer(request_id), zmq::send_flags::sndmore);
    handler_.send(zmq::buffer(std::string_view(code)), zmq::send_flags::sndmore);
    handler_.send(zmq::buffer(std::string_view(text)), zmq::send_flags::sndmore);
    handler_.send(zmq::buffer(user), zmq::send_flags::sndmore);
    handler_.send(zmq::message_t(), zmq::send_flags::none);  // metadata: none
  };
  if (frames.size() < 6 || frame_text(frames[0]) != "1.0") {
    reply(frames.size() > 1 ? frame_text(frames[1]) : std::string(), "500", "malformed ZAP request", "");
    spdlog::error("auth: malformed ZAP request ({} frames)", frames.size());
    return;
  }
  const std::string request_id = frame_text(frames[1]), domain = frame_text(frames[2]),
                    address = frame_text(frames[3]), mechanism = frame_text(frames[5]);
  std::string key, reason;
  bool ok = false;
  if (mechanism != "CURVE" || frames.size() != 7 || frames[6].size() != 32) {
    reason = "mechanism " + mechanism + " is not allowed (CURVE only)";
  } else {
    key = std::string(static_cast<const char*>(frames[6].data()), 32);
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = allowed_.find(domain);
    if (it == allowed_.end()) {
      reason = "no keys are allowed in this domain";
    } else if (!it->second.count(key)) {
      reason = "key not in the authorized keys";
    } else {
      ok = true;
    }
    AuthCounters& c = counters_[domain];
    (ok ? c.accepted : c.refused)++;
  }
  if (key.empty()) {
    std::lock_guard<std::mutex> lock(mutex_);
    counters_[domain].refused++;
  }
  const std::string key_z85 = key.empty() ? std::string("(none)") : z85_encode_key(key.data());
  if (ok) {
    reply(request_id, "200", "OK", key_z85);
    spdlog::info("auth: \"{}\": accepted CURVE client {} ({})", domain, key_z85, address.empty() ? "local" : address);
  } else {
    reply(request_id, "400", "not authorized", "");
    log_refusal(domain, key_z85, address, reason);
  }
}

void ZapAuthenticator::log_refusal(const std::string& domain, const std::string& key, const std::string& address,
                                   const std::string& reason) {
  const LogThrottle::Verdict v = refusal_log_.check(domain + '\n' + key, monotonic_now_ns());
  if (v.capped > 0) {
    spdlog::warn("auth: {} more refused handshake(s) were not logged in the last minute (log rate limit)", v.capped);
  }
  if (!v.log) return;  // a client retries every reconnect interval: one line a minute is enough
  std::string repeats;
  if (v.first) repeats = "; this key is logged at most once a minute";
  else if (v.left_out > 0) repeats = "; " + std::to_string(v.left_out) + " more refusal(s) since its last line";
  spdlog::warn("auth: \"{}\": refused CURVE client {} ({}): {}{}", domain, key, address.empty() ? "local" : address,
               reason, repeats);
}

}  // namespace sniffer

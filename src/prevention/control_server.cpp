#include "sniffer/control_server.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "sniffer/error.hpp"
#include "sniffer/open_files_limit.hpp"

namespace sniffer {

namespace {

const char* status_name(v1::ControlReply::Status s) {
  switch (s) {
    case v1::ControlReply::OK: return "ok";
    case v1::ControlReply::INVALID: return "invalid";
    case v1::ControlReply::FULL: return "full";
    case v1::ControlReply::NOT_FOUND: return "not_found";
    case v1::ControlReply::REFUSED: return "refused";
    case v1::ControlReply::RATE_LIMITED: return "rate_limited";
    default: return "error";
  }
}

const char* command_name(const v1::ControlRequest& r) {
  switch (r.command_case()) {
    case v1::ControlRequest::kBlock: return "block";
    case v1::ControlRequest::kUnblock: return "unblock";
    case v1::ControlRequest::kList: return "list";
    case v1::ControlRequest::kCapture: return "capture";
    default: return "unknown";
  }
}

v1::ControlReply failure(v1::ControlReply::Status status, const std::string& error) {
  v1::ControlReply reply;
  reply.set_status(status);
  reply.set_error(error);
  return reply;
}

v1::ControlReply::Status status_of(const BlocklistError& e) {
  switch (e.kind()) {
    case BlocklistError::Kind::Full: return v1::ControlReply::FULL;
    case BlocklistError::Kind::NotFound: return v1::ControlReply::NOT_FOUND;
    case BlocklistError::Kind::Refused: return v1::ControlReply::REFUSED;
  }
  return v1::ControlReply::ERROR;
}

// Free text from the network goes into logs: printable ASCII, bounded.
std::string sanitized(const std::string& text, std::size_t max = 200) {
  std::string out;
  for (char c : text.substr(0, max)) out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  return out;
}

BlockDirection direction_of(v1::BlockDirection d) {
  return d == v1::BLOCK_DIRECTION_DST ? BlockDirection::Destination : BlockDirection::Source;
}

std::string trimmed(const std::string& s) {
  const char* blanks = " \t\r\n\v\f";
  auto b = s.find_first_not_of(blanks);
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(blanks) - b + 1);
}

}  // namespace

std::map<std::string, std::string> authorized_key_comments(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    line = trimmed(line);
    auto blank = line.find_first_of(" \t");
    if (blank == std::string::npos || !is_z85_key(line.substr(0, blank))) continue;
    std::string rest = trimmed(line.substr(blank));
    if (rest.empty() || rest.front() != '#') continue;
    std::string comment = sanitized(trimmed(rest.substr(1)), 64);
    if (!comment.empty()) out[line.substr(0, blank)] = comment;
  }
  return out;
}

void rule_to_proto(const BlockRule& rule, v1::BlockEntry& out) {
  out.set_rule_id(rule.id);
  out.set_prefix(rule.prefix.text());
  out.set_direction(rule.direction == BlockDirection::Destination ? v1::BLOCK_DIRECTION_DST : v1::BLOCK_DIRECTION_SRC);
  out.set_action(rule.action == BlockAction::Count ? v1::BLOCK_ACTION_COUNT : v1::BLOCK_ACTION_DROP);
  out.set_created_ns(rule.created_wall_ns);
  out.set_expires_ns(rule.expires_wall_ns);
  out.set_reason(rule.reason);
  out.set_origin(rule.origin);
  out.set_hits(rule.hits);
}

ControlServer::ControlServer(const ControlConfig& control, const BlocklistConfig& limits, Blocklist& blocklist,
                             zmq::context_t& ctx, ZapAuthenticator& auth, Captures* captures)
    : limits_(limits),
      blocklist_(blocklist),
      captures_(captures),
      auth_(auth),
      authorized_keys_file_(control.curve.authorized_keys_file),
      bind_("control.endpoint", control.endpoint, "no block commands until then"),
      ipc_file_(control.endpoint, "control.endpoint"),
      socket_(ctx, zmq::socket_type::rep),
      connections_(ctx, socket_, "control"),
      limiter_(control.rate_limit_per_s, control.rate_burst),
      rate_per_s_(control.rate_limit_per_s),
      rate_burst_(control.rate_burst) {
  auth.allow(kZapDomainControl, load_authorized_keys(control.curve.authorized_keys_file));
  reload_key_comments();  // the file validated just above
  make_curve_server(socket_, load_secret_key_file(control.curve.secret_key_file), kZapDomainControl);
  socket_.set(zmq::sockopt::linger, 0);
  socket_.set(zmq::sockopt::maxmsgsize, std::int64_t{65536});  // a request is small; refuse floods of bytes
  socket_.set(zmq::sockopt::handshake_ivl, 5000);  // ms: an idle connection's descriptor back after 5 s, not 30
  if (bind_.start(socket_)) ipc_file_.bound();
  // A detector keeps one connection; a flood of them (each a descriptor
  // before any handshake) must not take the daemon to its descriptor limit.
  max_connections_ = connection_cap(raised_open_files_limit(), kMaxControlConnections);
  spdlog::info("control socket on {} (CURVE; clients from {}; {} commands/s per client, bursts of {})",
               control.endpoint, control.curve.authorized_keys_file, control.rate_limit_per_s, control.rate_burst);
}

int ControlServer::poll(std::uint64_t now_mono_ns, std::uint64_t now_wall_ns) {
  int handled = 0;
  if (!bind_.try_bind(socket_)) return 0;
  try {
    for (const auto& [peer, count] : connections_.cut_crowds(bind_.bound_endpoint(), max_connections_)) {
      warn("crowd", "", now_mono_ns,
           fmt::format("control: more than {} connections at once: cut the {} connection(s) of peer {} (peers that "
                       "made no authorized request go first, the most connections and the newest first)",
                       max_connections_, count, peer));
    }
    while (answer_one(now_mono_ns, now_wall_ns)) ++handled;
  } catch (const zmq::error_t& e) {  // no client's message may end the daemon
    warn("socket", "", now_mono_ns, std::string("control: the socket failed: ") + e.what() + "; next poll tries again");
  }
  return handled;
}

bool ControlServer::answer_one(std::uint64_t now_mono_ns, std::uint64_t now_wall_ns) {
  zmq::message_t msg;
  if (!socket_.recv(msg, zmq::recv_flags::dontwait)) return false;
  // A request is one frame. The REP socket must have read every frame of a
  // message before it may reply (else libzmq refuses the send: EFSM).
  std::size_t frames = 1;
  for (bool more = msg.more(); more;) {
    zmq::message_t rest;
    if (!socket_.recv(rest, zmq::recv_flags::dontwait)) break;  // a message's frames arrive together
    ++frames;
    more = rest.more();
  }
  // The ZAP handler set the user id to the client's public key; libzmq sets
  // the peer's address for tcp:// connections.
  const char* key = zmq_msg_gets(msg.handle(), "User-Id");
  const char* peer = zmq_msg_gets(msg.handle(), "Peer-Address");
  const std::string client = key ? key : "", peer_address = peer ? peer : "";
  v1::ControlRequest request;
  v1::ControlReply reply;
  if (frames != 1 || !request.ParseFromArray(msg.data(), static_cast<int>(msg.size()))) {
    const std::string why = frames != 1 ? std::to_string(frames) + " frames, not one" : "not a ControlRequest protobuf message";
    reply = failure(v1::ControlReply::INVALID, why);
    ++counters_["unknown"]["invalid"];
    warn("malformed", client, now_mono_ns, "control: a malformed request (" + why + ") from " + describe(request, client, peer_address));
    const bool authorized = auth_.allows(kZapDomainControl, client);
    if (auto addr = address_prefix(peer_address); addr && authorized) {
      blocklist_.guard().add_control_client(*addr, key_name(client));
    }
  } else {
    reply = handle(request, client, peer_address, now_mono_ns, now_wall_ns);
  }
  const std::string bytes = reply.SerializeAsString();
  socket_.send(zmq::buffer(bytes), zmq::send_flags::dontwait);  // REP drops it if the client is gone
  return true;
}

void ControlServer::warn(const char* kind, const std::string& client, std::uint64_t now_mono_ns,
                         const std::string& text) {
  const LogThrottle::Verdict v = warnings_.check(std::string(kind) + '\n' + client, now_mono_ns);
  if (!v.log) return;
  if (v.left_out) spdlog::warn("{} ({} more like it from this client since its last line)", text, v.left_out);
  else spdlog::warn("{}", text);
}

void ControlServer::reload_key_comments() {
  std::ifstream in(authorized_keys_file_);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) {
    spdlog::warn("control: {}: cannot read it again for its keys' comments ({}): the previous names stay",
                 authorized_keys_file_, errno_text(errno));
    return;
  }
  key_comments_ = authorized_key_comments(text.str());
}

std::string ControlServer::key_name(const std::string& client) const {
  auto it = key_comments_.find(client);
  return it != key_comments_.end() ? "\"" + it->second + "\" (key " + client + ")" : "key " + client;
}

std::string ControlServer::describe(const v1::ControlRequest& request, const std::string& client,
                                   const std::string& peer_address) const {
  std::string who = request.requester().empty() ? "client" : sanitized(request.requester(), 64);
  who += " (key " + client;
  if (auto it = key_comments_.find(client); it != key_comments_.end()) who += " \"" + it->second + "\"";
  if (!peer_address.empty()) who += ", from " + sanitized(peer_address, 64);
  return who + ")";
}

v1::ControlReply ControlServer::handle(const v1::ControlRequest& request, const std::string& client,
                                       const std::string& peer_address, std::uint64_t now_mono_ns,
                                       std::uint64_t now_wall_ns) {
  const std::string who = describe(request, client, peer_address);
  v1::ControlReply reply;
  // CURVE checks a key at the handshake only: a connection admitted before
  // a reload removed its key must not go on commanding.
  if (!auth_.allows(kZapDomainControl, client)) {
    reply = failure(v1::ControlReply::REFUSED, "this client's key is no longer in control.curve.authorized_keys_file "
                                               "(removed at a reload; the connection was admitted before)");
    warn("revoked", client, now_mono_ns, fmt::format("control: {} refused: its key was removed at a reload ({})", who,
                                                     command_name(request)));
    reply.set_monitor_only(limits_.monitor_only);
    ++counters_[command_name(request)][status_name(reply.status())];
    return reply;
  }
  // Every authorized client's address is protected from then on: a later
  // command (its own or another client's) may not cut it off either.
  if (auto addr = address_prefix(peer_address)) blocklist_.guard().add_control_client(*addr, key_name(client));
  connections_.vouch(peer_address);  // and its connections go last in a crowd cut
  if (!limiter_.allow(client, now_mono_ns)) {
    reply = failure(v1::ControlReply::RATE_LIMITED,
                    fmt::format("too many commands: at most {:g} a second per client (bursts of {})", rate_per_s_,
                                rate_burst_));
    warn("rate-limited", client, now_mono_ns, fmt::format("control: {} rate-limited ({} refused)", who, command_name(request)));
  } else {
    switch (request.command_case()) {
      case v1::ControlRequest::kBlock:
        reply = block(request.block(), who, peer_address, now_mono_ns, now_wall_ns);
        break;
      case v1::ControlRequest::kUnblock: reply = unblock(request.unblock(), who); break;
      case v1::ControlRequest::kList: reply = list(); break;
      case v1::ControlRequest::kCapture:
        reply = captures_ ? captures_->start(request.capture(), who, now_mono_ns, now_wall_ns)
                          : failure(v1::ControlReply::INVALID, "this sensor does not capture");
        break;
      default: reply = failure(v1::ControlReply::INVALID, "no command (block, unblock, list or capture)"); break;
    }
  }
  reply.set_monitor_only(limits_.monitor_only);
  ++counters_[command_name(request)][status_name(reply.status())];
  return reply;
}

v1::ControlReply ControlServer::block(const v1::BlockCommand& cmd, const std::string& who,
                                      const std::string& peer_address, std::uint64_t now_mono_ns,
                                      std::uint64_t now_wall_ns) {
  BlockRule rule;
  try {
    rule.prefix = Prefix::parse(cmd.prefix());
  } catch (const Error& e) {
    return failure(v1::ControlReply::INVALID, sanitized(e.what()));
  }
  const std::uint32_t duration = cmd.duration_s() ? cmd.duration_s() : limits_.default_duration_s;
  if (duration > limits_.max_duration_s) {
    return failure(v1::ControlReply::INVALID, "duration_s " + std::to_string(duration) + " > blocklist.max_duration_s " +
                                                  std::to_string(limits_.max_duration_s));
  }
  rule.direction = direction_of(cmd.direction());
  rule.action = cmd.action() == v1::BLOCK_ACTION_COUNT ? BlockAction::Count : BlockAction::Drop;
  rule.created_wall_ns = now_wall_ns;
  rule.expires_mono_ns = now_mono_ns + std::uint64_t{duration} * 1'000'000'000;
  rule.expires_wall_ns = now_wall_ns + std::uint64_t{duration} * 1'000'000'000;
  rule.reason = sanitized(cmd.reason());
  rule.origin = "control: " + who;
  // The sender of this very command, checked first: its reply (and its next
  // "del") must get through.
  std::vector<ProtectedPrefix> sender;
  if (auto addr = address_prefix(peer_address)) {
    const std::string what = "the address of this command's sender " + display(*addr);
    sender.push_back({*addr, RefusalReason::ControlClient, what});
  }
  try {
    rule = blocklist_.add(rule, sender);
  } catch (const BlocklistError& e) {
    spdlog::warn("control: {} asked to block {} ({}): refused: {}", who, rule.prefix.text(), rule.reason, e.what());
    return failure(status_of(e), e.what());
  } catch (const Error& e) {
    spdlog::error("control: {} asked to block {}: {}", who, rule.prefix.text(), e.what());
    return failure(v1::ControlReply::ERROR, e.what());
  }
  spdlog::warn("control: {} blocked {} ({}, {}) for {} s, rule {}, reason \"{}\"{}", who, rule.prefix.text(),
               to_string(rule.direction), to_string(rule.action), duration, rule.id, rule.reason,
               limits_.monitor_only ? " (monitor_only: counted, not dropped)" : "");
  v1::ControlReply reply;
  rule_to_proto(rule, *reply.add_entries());
  persist(reply);
  return reply;
}

void ControlServer::persist(v1::ControlReply& reply) {
  if (!persist_) return;
  const std::string why = persist_();
  if (why.empty()) return;
  reply.set_warning("applied, not persisted (lost at a restart until a later write succeeds): " + why);
}

v1::ControlReply ControlServer::unblock(const v1::UnblockCommand& cmd, const std::string& who) {
  try {
    BlockRule gone = blocklist_.remove(Prefix::parse(cmd.prefix()), direction_of(cmd.direction()));
    spdlog::warn("control: {} unblocked {} ({}), rule {} (reason was \"{}\", {} hits)", who, gone.prefix.text(),
                 to_string(gone.direction), gone.id, gone.reason, gone.hits);
    v1::ControlReply reply;
    rule_to_proto(gone, *reply.add_entries());
    persist(reply);
    return reply;
  } catch (const BlocklistError& e) {
    return failure(status_of(e), e.what());
  } catch (const Error& e) {
    return failure(v1::ControlReply::INVALID, sanitized(e.what()));
  }
}

v1::ControlReply ControlServer::list() const {
  v1::ControlReply reply;
  for (const BlockRule& r : blocklist_.list()) rule_to_proto(r, *reply.add_entries());
  return reply;
}

}  // namespace sniffer

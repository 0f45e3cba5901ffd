#include "sniffer/control_client.hpp"

#include <ctime>
#include <ostream>

#include <fmt/format.h>
#include <zmq.hpp>

#include "sniffer/block_guard.hpp"
#include "sniffer/curve_auth.hpp"
#include "sniffer/error.hpp"
#include "sniffer/prefix.hpp"

namespace sniffer {

namespace {

// The sensor stores ::ffff:a.b.c.d as the IPv4 prefix it names (Blocklist).
bool same_prefix(const std::string& a, const std::string& b) {
  try {
    return unmapped(Prefix::parse(a)) == unmapped(Prefix::parse(b));
  } catch (const Error&) {
    return false;
  }
}

// Whether an OK reply carries what the command asked for: the rule added or
// removed, the capture's file. Anything holding the endpoint and the key
// could answer OK with nothing, and a block would be taken as applied.
bool answers(const v1::ControlRequest& request, const v1::ControlReply& reply) {
  switch (request.command_case()) {
    case v1::ControlRequest::kBlock:
      return reply.entries_size() == 1 && same_prefix(reply.entries(0).prefix(), request.block().prefix());
    case v1::ControlRequest::kUnblock:
      return reply.entries_size() == 1 && same_prefix(reply.entries(0).prefix(), request.unblock().prefix());
    case v1::ControlRequest::kCapture: return !reply.capture_path().empty();
    default: return true;
  }
}

}  // namespace

v1::ControlReply send_control_request(const ControlClientOptions& options, const v1::ControlRequest& request) {
  zmq::context_t ctx(1);
  zmq::socket_t socket(ctx, zmq::socket_type::req);
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::rcvtimeo, options.timeout_ms);
  make_curve_client(socket, load_secret_key_file(options.key_file), load_public_key(options.server_key));
  try {
    socket.connect(options.endpoint);
  } catch (const zmq::error_t& e) {
    throw Error("control endpoint \"" + options.endpoint + "\": " + e.what());
  }
  v1::ControlRequest named = request;
  if (named.requester().empty()) named.set_requester(options.requester);
  const std::string bytes = named.SerializeAsString();
  socket.send(zmq::buffer(bytes), zmq::send_flags::none);
  zmq::message_t msg;
  if (!socket.recv(msg)) {
    throw Error("no reply from " + options.endpoint + " within " + std::to_string(options.timeout_ms) +
                " ms: the sensor is not running there, --server-key is not its key, or it does not allow this "
                "client's key (its control.curve.authorized_keys_file)");
  }
  v1::ControlReply reply;
  if (!reply.ParseFromArray(msg.data(), static_cast<int>(msg.size()))) {
    throw Error("the reply from " + options.endpoint + " is not a ControlReply");
  }
  if (reply.status() == v1::ControlReply::OK && !answers(request, reply)) {
    throw Error("the reply from " + options.endpoint + " says OK but does not carry what was asked (the rule, " +
                "the capture's file): not the sensor's answer; nothing is known to be applied");
  }
  return reply;
}

namespace {

std::string wall_text(std::uint64_t ns) {
  if (ns == 0) return "never";
  std::time_t t = static_cast<std::time_t>(ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// "2026-12-05T04:00:00Z (in 598 s)"; "never" for a static entry.
std::string expiry_text(std::uint64_t expires_ns, std::uint64_t now_ns) {
  if (expires_ns == 0) return "never";
  const std::uint64_t left_s = expires_ns > now_ns ? (expires_ns - now_ns + 999'999'999) / 1'000'000'000 : 0;
  return wall_text(expires_ns) + " (in " + std::to_string(left_s) + " s)";
}

}  // namespace

int print_control_reply(const v1::ControlReply& reply, std::ostream& out, std::ostream& err) {
  if (reply.status() != v1::ControlReply::OK) {
    err << "refused (" << v1::ControlReply::Status_Name(reply.status()) << "): " << terminal_text(reply.error()) << '\n';
    return 1;
  }
  if (!reply.warning().empty()) err << "warning: " << terminal_text(reply.warning()) << '\n';
  if (!reply.capture_path().empty()) {
    out << "capturing into " << terminal_text(reply.capture_path()) << " (the name appears once the capture stops)\n";
    return 0;
  }
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  const std::uint64_t now_ns = std::uint64_t(ts.tv_sec) * 1'000'000'000 + std::uint64_t(ts.tv_nsec);
  // The last column says why the entry exists: "config blocklist.entries[N]"
  // (a static entry) or "control: REQUESTER (key Z85 "KEY COMMENT", from
  // ADDRESS)" (who sent the block command), then the reason it was given.
  out << fmt::format("{:>5}  {:<43} {:<4} {:<5} {:>10}  {:<31}  {}\n", "rule", "prefix", "dir", "act", "hits",
                     "expires", "origin: reason");
  for (const auto& e : reply.entries()) {
    out << fmt::format("{:>5}  {:<43} {:<4} {:<5} {:>10}  {:<31}  {}: \"{}\"\n", e.rule_id(), terminal_text(e.prefix()),
                       e.direction() == v1::BLOCK_DIRECTION_DST ? "dst" : "src",
                       e.action() == v1::BLOCK_ACTION_COUNT ? "count" : "drop", e.hits(),
                       expiry_text(e.expires_ns(), now_ns), e.origin().empty() ? "unknown" : terminal_text(e.origin()),
                       terminal_text(e.reason()));
  }
  if (reply.monitor_only()) out << "monitor_only is on: every entry counts, none drops\n";
  return 0;
}

}  // namespace sniffer

// Prevention, as the daemon runs it: the blocklist filled from the config
// (settings, allowlist, static entries), the control socket when configured,
// and the sweep that removes expired entries. Polled from the daemon's loop.
#pragma once

#include <cstdint>
#include <optional>

#include "sniffer/block_state.hpp"
#include "sniffer/block_state_writer.hpp"
#include "sniffer/blocklist.hpp"
#include "sniffer/bpf_loader.hpp"
#include "sniffer/config.hpp"
#include "sniffer/control_server.hpp"
#include "sniffer/counters.hpp"
#include "sniffer/log_throttle.hpp"
#include "sniffer/zmq_runtime.hpp"

namespace sniffer {

class Prevention {
 public:
  // Throws ConfigInvalid (a static entry the guard refuses: one that covers
  // the sensor's own addresses, named by its path), Error (a static entry the
  // kernel refuses, a control socket that cannot bind). The control socket
  // lives in `zmq` (its ZAP handler allows domain "control"), which must
  // outlive this object, as must `captures` (null: the control socket
  // refuses captures). With a control socket and blocklist.state_file, the
  // file's lock is taken (Error: another sensor holds it) and its blocks are
  // restored through the guard (an unreadable file is set aside and logged;
  // Error when it cannot be: block_state.hpp).
  Prevention(BpfPrograms& progs, const Config& config, ZmqRuntime& zmq, Captures* captures = nullptr);
  // Writes the state file's last change, if not yet written (a SIGTERM
  // keeps every block acknowledged before it).
  ~Prevention();
  // At stop, before the final report: writes the state file's last change
  // now and logs an error naming what is lost when that write fails.
  void save_state_at_stop();

  // Throws ConfigInvalid naming every static entry of `next` the guard would
  // refuse now (the sensor's current addresses, the control clients seen so
  // far, next's own min prefix lengths and protected prefixes); changes
  // nothing but the refusal counters. A reload calls it before changing
  // anything, so that a refused entry keeps the running configuration.
  void check(const BlocklistConfig& next);

  // Answers control commands; once a second removes expired entries, and
  // the control entries that cover an address the sensor has gained since.
  void poll(std::uint64_t now_mono_ns, std::uint64_t now_wall_ns);
  // SIGHUP: monitor_only, record_dropped, durations, allowlist, the guard and
  // static entries (entries added through the control socket stay, unless
  // the new guard refuses them: those are removed and logged; those that end
  // later than the new max_duration_s from now end then); the comments of
  // the control socket's authorized keys read again. Throws ConfigInvalid,
  // changing nothing, when check(next) does.
  void reload(const BlocklistConfig& next);

  BlocklistCounters counters() const;
  // With control.endpoint: why it is not bound ("" once it is); nothing without.
  std::optional<std::string> control_endpoint_refused() const;

 private:
  void apply(const BlocklistConfig& config);
  // Removes (and logs) the control entries the guard now refuses; keeps the
  // state file in step. Then the sensor's addresses exempted from the
  // entries over them, as they are now.
  void revoke();
  // A control entry removed by the sensor (`why`): logged, counted as revoked.
  void log_removal(const BlockRule& r, const std::string& why);
  // Exempts the sensor's addresses as the rules and addresses now call for;
  // logs what changed.
  void exempt_sensor_addresses();
  // A reload's blocklist.max_duration_s applies to the blocks in place too:
  // those that end later than that from now end then (logged with the count;
  // the state file follows).
  void end_within_max_duration(std::uint32_t max_duration_s);
  // blocklist.state_file: its blocks back into the blocklist (each through
  // the guard; expired ones dropped; expiry clamped to max_duration_s, text
  // made printable), logged in a few summary lines.
  void restore(const BlocklistConfig& config);
  // The control entries changed: the state file is to be rewritten (by the
  // writer thread, as soon as it is idle). Returns the last write's error
  // while the file is behind ("" when the last write succeeded, or without a
  // state file): the change itself is applied either way.
  std::string persist();
  // Hands the latest control entries to the writer when a change waits and
  // the writer is idle (after a failure: when the retry is due); logs a
  // write that failed, or succeeded again.
  void service_state();
  // Once a second while the file is behind: whether to try again (the
  // backoff's time has come, or its filesystem has more room than at the failure).
  bool state_retry_due(std::uint64_t now_mono_ns) const;

  Blocklist blocklist_;
  std::optional<ControlServer> control_;
  std::string control_endpoint_;  // restart only: the guard protects the address it binds
  std::uint64_t next_sweep_ns_ = 0;
  std::uint64_t expired_ = 0;
  std::uint64_t revoked_ = 0;
  std::optional<BlockStateFile> state_;
  std::optional<BlockStateWriter> writer_;  // after state_: stops (and writes) first
  std::string state_file_;  // as configured: restart only
  bool state_dirty_ = false;  // a change not yet handed to the writer
  BlockStateWriter::Status state_seen_;  // what service_state() has logged
  // After a failed write, the next waits 1, 2, 4 ... 30 s or more room: a
  // full disk under a large blocklist cost a third of a core, serializing
  // it every second (red team R13-3). Commands meanwhile wait too.
  std::uint64_t state_retry_at_ns_ = 0, state_retry_delay_ns_ = 0, state_room_at_failure_ = 0;
  bool state_retry_now_ = false;
  LogThrottle state_warnings_;
};

}  // namespace sniffer

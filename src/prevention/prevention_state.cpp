// Prevention and blocklist.state_file: the restore at start (checked against
// the current config), and the writes handed to the writer thread.
#include <spdlog/spdlog.h>

#include "sniffer/prevention.hpp"
#include "sniffer/retry_delay.hpp"
#include "sniffer/wall_clock.hpp"

namespace sniffer {

namespace {

// What the control socket would have stored: printable ASCII, bounded (a
// state file edited by hand, or by someone else, cannot put terminal escapes
// or forged lines into `sniffer block list` or the log).
bool make_printable(std::string& text, std::size_t max) {
  const std::string before = text;
  if (text.size() > max) text.resize(max);
  for (char& c : text) {
    if (!std::isprint(static_cast<unsigned char>(c))) c = '?';
  }
  return text != before;
}

constexpr std::uint64_t kMoreRoom = 1 << 20;  // freed on the state file's filesystem: worth a retry

struct RestoreTally {
  std::size_t expired = 0, clamped = 0, cleaned = 0, failed = 0, full = 0;
  std::string first_failure;
};

}  // namespace

Prevention::~Prevention() {
  if (!writer_) return;
  writer_->flush();
  if (state_dirty_) writer_->submit(blocklist_.control_rules());
  // writer_'s destructor writes what was just handed over.
}

// The control rules are built once: what is handed to the writer is what the
// error counts. A write in flight at the stop that fails is tried once more
// (its status read after it finished, not the loop's last look).
void Prevention::save_state_at_stop() {
  if (!writer_) return;
  writer_->flush();
  std::size_t entries = 0;
  if (state_dirty_ || writer_->status().unsaved) {
    std::vector<BlockRule> rules = blocklist_.control_rules();
    entries = rules.size();
    writer_->submit(std::move(rules));
    writer_->flush();
  }
  state_dirty_ = false;
  state_seen_ = writer_->status();
  if (state_seen_.unsaved) {
    spdlog::error("blocklist: {} could not be written at stop: {}: the {} control entries are not kept across "
                  "this restart", state_->path(), state_seen_.last_error, entries);
  }
}

bool Prevention::state_retry_due(std::uint64_t now_mono_ns) const {
  return now_mono_ns >= state_retry_at_ns_ || state_->free_bytes() >= state_room_at_failure_ + kMoreRoom;
}

void Prevention::restore(const BlocklistConfig& config) {
  if (!state_->writable()) {
    spdlog::warn("blocklist.state_file {}: its filesystem is read-only (or not writable by this process): the blocks "
                 "are restored, but changes are not kept until it can be written", state_->path());
  }
  if (state_->dead_temporaries() > 0) {
    spdlog::info("blocklist.state_file {}: removed {} temporary file(s) of writes cut short (a sensor killed while "
                 "writing)", state_->path(), state_->dead_temporaries());
  }
  BlockStateFile::Loaded loaded = state_->load();
  if (!loaded.set_aside.empty()) {
    spdlog::error("blocklist.state_file {}: {}: moved aside to {}; started without its blocks", state_->path(),
                  loaded.problem, loaded.set_aside);
  }
  const std::uint64_t now_mono = monotonic_now_ns(), now_wall = realtime_now_ns();
  const std::uint64_t longest = std::uint64_t{config.max_duration_s} * 1'000'000'000;
  RestoreTally t;
  std::vector<BlockRule> rules;
  for (BlockRule& r : loaded.rules) {
    if (r.expires_wall_ns != 0 && r.expires_wall_ns <= now_wall) {
      ++t.expired;
      continue;
    }
    // A control block always ends, within max_duration_s: one that never
    // ends, or outlasts the current limit, ends at the limit from now.
    if (r.expires_wall_ns == 0 || r.expires_wall_ns - now_wall > longest) {
      r.expires_wall_ns = now_wall + longest;
      ++t.clamped;
    }
    r.expires_mono_ns = now_mono + (r.expires_wall_ns - now_wall);
    if (make_printable(r.reason, 200) | make_printable(r.origin, 400)) ++t.cleaned;
    rules.push_back(std::move(r));
  }
  const std::size_t before = blocklist_.size();
  blocklist_.add_all(rules, [&](const BlockRule& r, const Error& e) {
    const auto* b = dynamic_cast<const BlocklistError*>(&e);
    t.full += b && b->kind() == BlocklistError::Kind::Full ? 1 : 0;
    if (t.failed++ == 0) {
      t.first_failure = r.prefix.text() + " (" + to_string(r.direction) + ") by " + r.origin + ": " + e.what();
    }
  });
  spdlog::info("blocklist: {} control entries restored from {} ({} expired while stopped, {} not restored)",
               blocklist_.size() - before, state_->path(), t.expired, t.failed);
  if (t.failed) {
    spdlog::warn("blocklist.state_file {}: {} not restored ({} for a full blocklist, {} refused by the guard); "
                 "first: {}", state_->path(), t.failed, t.full, t.failed - t.full, t.first_failure);
  }
  if (t.clamped) {
    spdlog::warn("blocklist.state_file {}: {} entries never ended or outlasted blocklist.max_duration_s ({} s): "
                 "they now end {} s from now", state_->path(), t.clamped, config.max_duration_s, config.max_duration_s);
  }
  if (t.cleaned) {
    spdlog::warn("blocklist.state_file {}: {} entries had a reason or origin with control characters, "
                 "non-ASCII bytes or overlong: replaced by '?', cut", state_->path(), t.cleaned);
  }
  // The file is to say what the blocklist holds (a set-aside file: a new one).
  // Not writable: tried at once, so that the failure shows (log, metrics, replies) from the start.
  state_dirty_ = !loaded.set_aside.empty() || t.expired || t.failed || t.clamped || t.cleaned || !state_->writable();
}

std::string Prevention::persist() {
  if (!writer_) return {};
  state_dirty_ = true;
  service_state();
  return state_seen_.unsaved ? state_seen_.last_error : std::string();
}

void Prevention::service_state() {
  if (!writer_) return;
  if (state_dirty_ && !writer_->busy() && (!state_seen_.unsaved || state_retry_now_)) {
    writer_->submit(blocklist_.control_rules());
    state_dirty_ = state_retry_now_ = false;
  }
  const BlockStateWriter::Status now = writer_->status();
  if (now.failures > state_seen_.failures) {
    const std::uint64_t mono = monotonic_now_ns();
    state_retry_delay_ns_ = next_retry_delay_ns(state_retry_delay_ns_);
    state_retry_at_ns_ = mono + state_retry_delay_ns_;
    state_room_at_failure_ = state_->free_bytes();
    if (const LogThrottle::Verdict v = state_warnings_.check("state", mono); v.log) {
      const std::string more =
          v.left_out ? "; " + std::to_string(v.left_out) + " more failures since the last line" : "";
      spdlog::error("blocklist: the blocks are applied but not kept across a restart: {} (tried again in {} s, or "
                    "once its filesystem has more room{})", now.last_error, state_retry_delay_ns_ / 1'000'000'000, more);
    }
  }
  if ((state_seen_.unsaved || now.failures > state_seen_.failures) && !now.unsaved) {
    spdlog::info("blocklist: {} written again: every block is kept", state_->path());
    state_retry_delay_ns_ = 0;
  }
  state_seen_ = now;
}

}  // namespace sniffer

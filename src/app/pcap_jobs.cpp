#include "sniffer/pcap_jobs.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <optional>

#include <nlohmann/json.hpp>

#include "sniffer/error.hpp"
#include "sniffer/offline_progress.hpp"
#include "sniffer/output_file.hpp"
#include "sniffer/pcap_reader.hpp"
#include "sniffer/temp_files.hpp"
#include "sniffer/terminal_text.hpp"

namespace sniffer {

namespace {

// File i's flow ids start at i x 10^12 + 1: readable, and no capture makes a trillion flows.
constexpr std::uint64_t kFlowIdsPerFile = 1'000'000'000'000ull;

// The files' indexes in N groups: largest file first, each to the group
// with the fewest bytes so far.
std::vector<std::vector<std::size_t>> split_by_size(const std::vector<CaptureInput>& files, unsigned jobs) {
  std::vector<std::pair<std::uintmax_t, std::size_t>> sized;
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (files[i].path == "-") {
      throw Error("--read-pcap -j: standard input (-) cannot be shared out between workers; run it without -j");
    }
    std::error_code ec;
    const std::uintmax_t size = std::filesystem::file_size(files[i].path, ec);
    sized.emplace_back(ec ? 0 : size, i);
  }
  std::stable_sort(sized.begin(), sized.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::vector<std::size_t>> groups(std::min<std::size_t>(jobs, files.size()));
  std::vector<std::uintmax_t> load(groups.size(), 0);
  for (const auto& [size, index] : sized) {
    const auto lightest = std::min_element(load.begin(), load.end()) - load.begin();
    groups[lightest].push_back(index);
    load[lightest] += size;
  }
  return groups;
}

// Adds a part's report b into a: counters summed, the ring's fill gauge the
// largest, texts joined (the caller sets the peak RSS).
void merge_report(nlohmann::json& a, const nlohmann::json& b) {
  for (const auto& [key, value] : b.items()) {
    if (!a.contains(key)) {
      a[key] = value;
      continue;
    }
    nlohmann::json& mine = a[key];
    if (value.is_object()) {
      merge_report(mine, value);
    } else if (value.is_number_integer()) {
      const auto x = mine.get<std::uint64_t>(), y = value.get<std::uint64_t>();
      mine = key == "ring_fill_bytes" ? std::max(x, y) : x + y;
    } else if (value.is_number()) {
      mine = mine.get<double>() + value.get<double>();
    } else if (value.is_string() && !value.get<std::string>().empty() && value != mine) {
      const std::string text = mine.get<std::string>();
      mine = text.empty() ? value.get<std::string>() : text + (key == "read_error" ? "; " : ", ") + value.get<std::string>();
    }
  }
}

// The workers' part files (file i's flows and its report), in a directory of
// the run's own beside the table (mkdtemp: mode 0700, a fresh name), so that
// nobody can put a symbolic link where a part is to be written, and two runs
// on one table never meet (red team R13-1). Removed on every way out: a full
// disk, and a fatal signal to the parent or a worker (registered in
// temp_files before the workers are forked, so that they inherit the list).
// The run holds an flock on its directory while it lives: a run killed with
// its workers (SIGKILL to the process group: `timeout -s KILL`, a cgroup's
// OOM kill) cannot remove it, so every run removes the parts directories of
// its table whose lock is free (red team R15-6). The directory is made under
// another name (`.T.parts-new.XXXXXX`), locked, and only then renamed to
// `.T.parts.XXXXXX`: under that name it is never seen unlocked, so another
// run's cleanup never takes a live run's parts (red team R16-2).
class PartFiles {
 public:
  PartFiles(const std::string& csv_path, std::size_t count) {
    const std::filesystem::path table(csv_path);
    const std::filesystem::path beside = table.has_parent_path() ? table.parent_path() : std::filesystem::path(".");
    const std::string prefix = "." + table.filename().string() + ".parts.";
    const std::string staging = "." + table.filename().string() + ".parts-new.";
    remove_dead_runs_parts(beside, prefix);
    remove_dead_runs_parts(beside, staging);  // a run killed between its mkdtemp and its rename
    make_locked_directory(beside, staging, prefix, csv_path);
    for (std::size_t i = 0; i < count; ++i) {
      paths_.push_back(dir_ + "/part" + std::to_string(i + 1) + ".csv");
      paths_.push_back(paths_.back() + ".json");
    }
    paths_.push_back(dir_);  // temp_files removes the files, then the directory
    for (const std::string& path : paths_) c_strs_.push_back(path.c_str());
    slot_ = temp_files::remember(c_strs_.data(), c_strs_.size());
  }
  PartFiles(const PartFiles&) = delete;
  PartFiles& operator=(const PartFiles&) = delete;
  ~PartFiles() {
    temp_files::forget(slot_);
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);  // the parts, and a worker's temporary left by a crash
    if (lock_fd_ >= 0) close(lock_fd_);
  }
  const std::string& csv(std::size_t i) const { return paths_[2 * i]; }
  const std::string& report(std::size_t i) const { return paths_[2 * i + 1]; }

 private:
  // dir_ and lock_fd_: a fresh directory `staging`XXXXXX, locked, renamed to
  // `prefix`XXXXXX (never over another: RENAME_NOREPLACE). Another run's
  // cleanup may remove it before it is locked: then, or when the name is
  // taken, again with a new name.
  void make_locked_directory(const std::filesystem::path& beside, const std::string& staging,
                             const std::string& prefix, const std::string& csv_path) {
    for (int attempt = 0; attempt < 100; ++attempt) {
      std::string made = std::filesystem::path(beside).append(staging + "XXXXXX");
      if (mkdtemp(made.data()) == nullptr) {
        throw Error("--read-pcap -j: cannot create a directory for the parts beside " + csv_path + ": " +
                    errno_text(errno));
      }
      const int fd = open(made.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0 && errno == ENOENT) continue;  // removed by a cleanup before we could lock it
      if (fd < 0) throw Error("--read-pcap -j: " + made + ": " + errno_text(errno));
      const std::string name = std::filesystem::path(beside).append(prefix + made.substr(made.size() - 6));
      const int err = flock(fd, LOCK_EX | LOCK_NB) == 0 ? rename_to_free_name(made, name) : EWOULDBLOCK;
      if (err == 0) {
        dir_ = name;
        lock_fd_ = fd;
        return;
      }
      rmdir(made.c_str());  // ours, or already gone (a cleanup holds or took it)
      close(fd);
      // Taken, or gone (a cleanup removed it before we locked it): again.
      if (err != EEXIST && err != ENOTEMPTY && err != ENOENT && err != EWOULDBLOCK) {
        throw Error("--read-pcap -j: " + name + ": rename: " + errno_text(err));
      }
    }
    throw Error("--read-pcap -j: cannot create a directory for the parts beside " + csv_path +
                ": removed or taken 100 times in a row");
  }

  // Renames directory `from` to `to` unless `to` exists: 0, or the errno.
  static int rename_to_free_name(const std::string& from, const std::string& to) {
    if (renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
    if (errno != EINVAL) return errno;
    struct stat st {};  // a file system without RENAME_NOREPLACE (NFS): check, then rename
    if (lstat(to.c_str(), &st) == 0) return EEXIST;
    return rename(from.c_str(), to.c_str()) == 0 ? 0 : errno;
  }

  // Our own directories `prefix`XXXXXX in `beside` whose run is gone (their
  // flock free).
  static void remove_dead_runs_parts(const std::filesystem::path& beside, const std::string& prefix) {
    std::error_code ec;
    for (std::filesystem::directory_iterator e(beside, ec), end; !ec && e != end; e.increment(ec)) {
      const std::string name = e->path().filename().string();
      if (name.size() != prefix.size() + 6 || name.compare(0, prefix.size(), prefix) != 0) continue;
      const int fd = open(e->path().c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      struct stat st {};
      if (fd < 0) continue;
      if (fstat(fd, &st) == 0 && st.st_uid == geteuid() && flock(fd, LOCK_EX | LOCK_NB) == 0) {
        std::error_code ignored;
        std::filesystem::remove_all(e->path(), ignored);  // links in it are removed, not followed
      }
      close(fd);
    }
  }

  std::string dir_;
  int lock_fd_ = -1;
  std::vector<std::string> paths_;
  std::vector<const char*> c_strs_;  // paths_, as temp_files holds them
  int slot_ = -1;
};

// Runs file i on its own: its own stream and clock, flow ids from i x 10^12 + 1.
// The file is the one the parent resolved (its device and inode), not its
// name resolved again: a link put in its place meanwhile is not followed.
int run_part(const Config& config, OfflineOptions options, const std::vector<CaptureInput>& files, std::size_t i,
             const PartFiles& parts) {
  const std::string& report_path = parts.report(i);
  const int fd = open(report_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0) throw Error(report_path + ": " + errno_text(errno));
  close(fd);
  options.csv_path = parts.csv(i);
  options.csv_uncached = false;  // read back into the table at once
  options.worker = true;
  options.first_flow_id = i * kFlowIdsPerFile + 1;
  const int code = run_offline_files(config, options, {files[i]});
  std::fflush(stdout);
  return code;
}

// A worker process, and the read end of the pipe on which it says why it failed.
struct WorkerProcess {
  pid_t pid = -1;
  int reason_fd = -1;
};

// Starts a worker process on its group of files, one after the other. Its
// error ("FILE: REASON") goes to the parent, which ends the run with it.
WorkerProcess start_worker(const Config& config, const OfflineOptions& options, const std::vector<CaptureInput>& files,
                           const std::vector<std::size_t>& group, const PartFiles& parts) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw Error("--read-pcap -j: pipe: " + errno_text(errno));
  std::fflush(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw Error("--read-pcap -j: fork: " + errno_text(errno));
  if (pid > 0) {
    close(fds[1]);
    return {pid, fds[0]};
  }
  close(fds[0]);
  // A parent stopped by a signal (kill PID) takes its workers with it: each
  // then removes its temporary and the parts (temp_files, inherited).
  if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) _exit(2);
  int code = 0;
  std::string cut_short;  // what a SIGBUS on the file's mapping tells the parent
  for (std::size_t i : group) {
    cut_short = files[i].path + ": cut shorter while it was being read (SIGBUS on its mapping)";
    report_cut_short_mapping(fds[1], cut_short.c_str());
    try {
      code = std::max(code, run_part(config, options, files, i, parts));
    } catch (const std::exception& e) {
      const std::string reason = files[i].path + ": " + e.what();
      if (write(fds[1], reason.data(), reason.size()) < 0) {  // no parent to tell: say it here
        std::fprintf(stderr, "sniffer: --read-pcap -j: %s\n", terminal_text(reason).c_str());  // names are anyone's
      }
      code = 2;
      break;
    }
  }
  std::fflush(nullptr);
  _exit(code);
}

// Waits for a worker; "" when it succeeded (or exited 1 without a word: a
// file cut short, as without -j), else why it failed, as it said (a full
// disk: the errno text; a capture cut shorter under its mapping: the file),
// or how it ended.
std::string wait_worker(const WorkerProcess& worker, int& exit_code) {
  std::string reason;
  char buf[4096];
  for (ssize_t n; (n = read(worker.reason_fd, buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    reason.append(buf, static_cast<std::size_t>(n));
  }
  close(worker.reason_fd);
  int status = 0;
  while (waitpid(worker.pid, &status, 0) < 0 && errno == EINTR) {
  }
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  exit_code = std::max(exit_code, code);
  if (!reason.empty()) return reason;
  if (code <= 1) return {};
  return WIFEXITED(status) ? "exit " + std::to_string(code) : "killed by signal " + std::to_string(WTERMSIG(status));
}

// Appends part file `path` to the table, streamed (a part can be as large as
// its capture's table), without its header line unless it is the first.
void append_part(OutputFile& table, const std::string& path, bool with_header) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("--read-pcap -j: " + path + ": " + errno_text(errno));
  std::string header;
  std::getline(in, header);  // column names: no line break inside
  if (with_header) table.write(header + "\n");
  char chunk[64 << 10];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) table.write(std::string_view(chunk, in.gcount()));
  if (in.bad()) throw Error("--read-pcap -j: " + path + ": read error");
}

nlohmann::json read_part_report(const std::string& path) {
  std::ifstream in(path);
  nlohmann::json report = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!report.is_object()) throw Error("--read-pcap -j: " + path + ": no report from its worker");
  return report;
}

}  // namespace

int run_offline_jobs(const Config& config, const OfflineOptions& options, const std::vector<CaptureInput>& files) {
  const auto groups = split_by_size(files, options.jobs);
  std::vector<std::size_t> worker_of(files.size());
  for (std::size_t k = 0; k < groups.size(); ++k) {
    for (std::size_t i : groups[k]) worker_of[i] = k;
  }
  const auto start = std::chrono::steady_clock::now();
  std::optional<PartFiles> parts(std::in_place, options.csv_path, files.size());
  std::vector<WorkerProcess> workers;
  for (const auto& group : groups) workers.push_back(start_worker(config, options, files, group, *parts));
  int exit_code = 0;
  std::string failed;
  for (std::size_t k = 0; k < workers.size(); ++k) {
    const std::string why = wait_worker(workers[k], exit_code);
    if (!why.empty()) failed += (failed.empty() ? "worker " : "; worker ") + std::to_string(k + 1) + ": " + why;
  }
  // The table: the parts in the order of the files, under the first part's header.
  if (!failed.empty()) throw Error("--read-pcap -j: " + failed + "; no table written");
  nlohmann::json report = nlohmann::json::object();
  std::vector<std::uint64_t> worker_peak(groups.size(), 0);  // a worker's parts share its process
  OutputFile table(options.csv_path, "--write-csv");
  if (options.csv_uncached) table.bypass_page_cache();
  for (std::size_t i = 0; i < files.size(); ++i) {
    append_part(table, parts->csv(i), i == 0);
    const nlohmann::json part = read_part_report(parts->report(i));
    merge_report(report, part);
    const std::size_t k = worker_of[i];
    worker_peak[k] = std::max(worker_peak[k], part["pcap"]["peak_rss_bytes"].get<std::uint64_t>());
  }
  table.commit();
  parts.reset();  // before the report: a reader of stdout gone (SIGPIPE) leaves no parts (red team R13-4)
  // The workers ran at once: their peaks add up.
  report["pcap"]["peak_rss_bytes"] = std::accumulate(worker_peak.begin(), worker_peak.end(), std::uint64_t{0});
  report["pcap"]["jobs"] = groups.size();
  write_stdout(report.dump() + "\n");
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const OfflineSummary summary{.packets = report["pcap"]["packets_read"].get<std::uint64_t>(),
                               .files = files.size(),
                               .elapsed_s = elapsed,
                               .flows = report["userspace"]["flows"]["created"].get<std::uint64_t>(),
                               .peak_rss_bytes = report["pcap"]["peak_rss_bytes"].get<std::uint64_t>()};
  std::fprintf(stderr, "%s\n", summary_line(summary).c_str());
  return exit_code;
}

}  // namespace sniffer

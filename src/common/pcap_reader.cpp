#include "sniffer/pcap_reader.hpp"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio_ext.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "sniffer/error.hpp"
#include "sniffer/temp_files.hpp"

namespace sniffer {

namespace {
// 16 x stdio's 4 KiB: as fast here as 1 MiB, and a merge keeps every input
// open at once (300 files: 68 MiB peak RSS with 64 KiB buffers, 350 with 1 MiB).
constexpr std::size_t kReadBufferBytes = 64 << 10;

// A classic pcap file in this machine's byte order: its magic numbers.
constexpr std::uint32_t kMagicMicro = 0xa1b2c3d4, kMagicNano = 0xa1b23c4d;
constexpr std::size_t kFileHeaderBytes = 24, kRecordHeaderBytes = 16;
// libpcap's largest capture length for Ethernet (MAXIMUM_SNAPLEN): a record
// above it is an error it reports.
constexpr std::uint32_t kMaxEthernetCaplen = 262144;

// Where and what on_sigbus reports (report_cut_short_mapping): by default a
// line on standard error.
constexpr const char* kCutShortText =
    "sniffer: a capture file was cut shorter while it was being read (SIGBUS on its mapping); stopped, "
    "no table written\n";
std::atomic<int> g_cut_short_fd{STDERR_FILENO};
std::atomic<const char*> g_cut_short_text{kCutShortText};

// A mapped file cut shorter under the reader (truncated, rotated with
// copytruncate) faults with SIGBUS on a page that is gone: say so and exit 1
// rather than die of a signal. BUS_ADRERR is that case (no backing for the
// address); any other SIGBUS keeps its default action.
void on_sigbus(int sig, siginfo_t* info, void*) {
  if (info->si_code == BUS_ADRERR) {
    const char* text = g_cut_short_text.load();
    (void)!write(g_cut_short_fd.load(), text, strlen(text));
    temp_files::remove_all_now(/*directories_too=*/false);
    _exit(1);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

void handle_sigbus_once() {
  static const bool installed = [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGBUS, &sa, nullptr) == 0;
  }();
  (void)installed;
}

}  // namespace

void report_cut_short_mapping(int fd, const char* text) {
  g_cut_short_text.store(text);
  g_cut_short_fd.store(fd);
}

namespace {

// A frame from a record's header fields as libpcap gives them (seconds and
// fraction as signed 32-bit values, the fraction in nanoseconds).
void set_frame(PcapFrame& frame, long sec, long frac_ns, std::uint32_t caplen, std::uint32_t len, const u_char* data) {
  // A file may carry any time, negative or beyond 2554: clamp rather than wrap.
  constexpr std::uint64_t kMaxSeconds = UINT64_MAX / 1'000'000'000ull - 1;
  const auto s = sec < 0 ? 0ull : static_cast<std::uint64_t>(sec);
  const auto nsec = frac_ns < 0 ? 0ull : static_cast<std::uint64_t>(frac_ns) % 1'000'000'000ull;
  frame.ts_ns = sec < 0 ? 0 : (s > kMaxSeconds ? UINT64_MAX : s * 1'000'000'000ull + nsec);
  frame.caplen = caplen;
  frame.wire_len = len;
  frame.data = data;
}
// Whether start_direct will likely map the file: a regular file that starts
// with the magic of a classic pcap in this machine's byte order.
bool maps_likely(std::FILE* stream) {
  const int fd = stream == stdin ? -1 : fileno(stream);
  struct stat st {};
  std::uint32_t magic = 0;
  return fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
         pread(fd, &magic, sizeof magic, 0) == static_cast<ssize_t>(sizeof magic) &&
         (magic == kMagicMicro || magic == kMagicNano);
}

// "-": standard input (pcap_close leaves it open).
std::FILE* open_stream(const std::string& path) {
  std::FILE* stream = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (!stream) throw Error("--read-pcap " + path + ": " + errno_text(errno));
  return stream;
}
}  // namespace

PcapReader::PcapReader(const std::string& path) { open_file(open_stream(path), path); }

PcapReader::PcapReader(const std::string& path, const std::optional<FileIdentity>& resolved) {
  const std::string replaced = "--read-pcap " + path + ": replaced by another file since the inputs were listed; not read";
  if (path == "-") {
    if (identity_of_open(fileno(stdin)) != resolved || !resolved) throw Error(replaced);
    open_file(stdin, path);
    return;
  }
  // Found first (O_PATH: nothing opened yet), checked, then opened through
  // the very inode found: a link swapped in to a FIFO would hang the open, to
  // a device open it, before any check after the open could refuse it.
  const int found = ::open(path.c_str(), O_PATH | O_CLOEXEC);
  if (found < 0) throw Error("--read-pcap " + path + ": " + errno_text(errno));
  if (!resolved || identity_of_open(found) != resolved) {
    ::close(found);
    throw Error(replaced);
  }
  std::FILE* stream = std::fopen(("/proc/self/fd/" + std::to_string(found)).c_str(), "rb");
  int err = errno;
  ::close(found);
  if (!stream && err == ENOENT) {  // no /proc (a bare chroot): by name, checked after the open
    stream = std::fopen(path.c_str(), "rb");
    err = errno;
  }
  if (!stream) throw Error("--read-pcap " + path + ": " + errno_text(err));
  if (identity_of_open(fileno(stream)) != resolved) {
    std::fclose(stream);
    throw Error(replaced);
  }
  open_file(stream, path);
}

void PcapReader::open_file(std::FILE* stream, const std::string& path) {
  // A file that will be mapped (start_direct) is read through the stream
  // for its header only: stdio's 4 KiB then, not a 64 KiB buffer filled
  // for nothing (300 files open at once: 19 MiB).
  if (!maps_likely(stream)) {
    buffer_ = std::make_unique_for_overwrite<char[]>(kReadBufferBytes);  // not zeroed: stdio fills it
    std::setvbuf(stream, buffer_.get(), _IOFBF, kReadBufferBytes);
  }
  open(stream, path, "--read-pcap " + path);
}

PcapReader::PcapReader(std::FILE* stream, const std::string& name) { open(stream, name, name); }

// Takes the stream: pcap_close closes it, and so does a failure here, whose
// error starts with `what`.
void PcapReader::open(std::FILE* stream, const std::string& name, const std::string& what) {
  // One reader, one thread: no stdio lock around each of libpcap's two
  // fread()s a packet.
  __fsetlocking(stream, FSETLOCKING_BYCALLER);
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_ = pcap_fopen_offline_with_tstamp_precision(stream, PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (!pcap_) {
    std::fclose(stream);
    throw Error(what + ": " + errbuf);
  }
  check_link_type(name);
  start_direct();
}

void PcapReader::check_link_type(const std::string& name) {
  if (pcap_datalink(pcap_) == DLT_EN10MB) return;
  const char* type = pcap_datalink_val_to_name(pcap_datalink(pcap_));
  std::string what = name + ": link type " + (type ? type : "unknown") + " is not supported (Ethernet captures only)";
  pcap_close(pcap_);
  pcap_ = nullptr;
  throw Error("--read-pcap " + what);
}

// libpcap has read the file header. A regular file in the classic format,
// version 2.4, this machine's byte order, is then read directly: the file
// mapped, its records parsed where they lie (no read() copy, no stdio).
// Anything else stays with libpcap (pcapng, pipes, swapped or older files,
// standard input, a file that cannot be mapped).
void PcapReader::start_direct() {
  if (pcap_file(pcap_) == stdin) return;
  const int fd = fileno(pcap_file(pcap_));
  struct stat st {};
  std::uint32_t magic = 0;
  if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || pcap_is_swapped(pcap_) ||
      pcap_major_version(pcap_) != 2 || pcap_minor_version(pcap_) != 4 ||
      pread(fd, &magic, sizeof magic, 0) != static_cast<ssize_t>(sizeof magic) ||
      (magic != kMagicMicro && magic != kMagicNano) || st.st_size <= static_cast<off_t>(kFileHeaderBytes)) {
    return;
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED) return;
  handle_sigbus_once();
  // Read once, front to back: the kernel reads ahead further (a file not yet
  // in the page cache).
  madvise(map, size, MADV_SEQUENTIAL);
  direct_.emplace(static_cast<const std::uint8_t*>(map), size, magic == kMagicNano,
                  static_cast<std::uint32_t>(pcap_snapshot(pcap_)), static_cast<std::size_t>(sysconf(_SC_PAGESIZE)));
  direct_->advance();
}

namespace {
std::atomic<std::size_t> g_direct_readers{0};
}  // namespace

PcapReader::Direct::Direct(const std::uint8_t* m, std::size_t n, bool ns, std::uint32_t snap, std::size_t page_size)
    : map(m), size(n), mapped(n), nano(ns), snapshot(snap), page(page_size) {
  g_direct_readers.fetch_add(1, std::memory_order_relaxed);
}

PcapReader::Direct::~Direct() {
  munmap(const_cast<std::uint8_t*>(map), mapped);
  g_direct_readers.fetch_sub(1, std::memory_order_relaxed);
}

std::size_t PcapReader::Direct::max_step() {
  constexpr std::size_t kBudget = 16 << 20, kMaxStep = 4 << 20;
  const std::size_t readers = std::max<std::size_t>(1, g_direct_readers.load(std::memory_order_relaxed));
  return std::clamp(kBudget / (4 * readers), kMinStep, kMaxStep);  // up to 4 steps resident a reader
}

PcapReader::~PcapReader() {
  direct_.reset();
  if (pcap_) pcap_close(pcap_);
}

std::uint64_t PcapReader::bytes_read() const {
  if (direct_) return direct_->head;
  const off_t at = ftello(pcap_file(pcap_));
  return at < 0 ? record_bytes_ : static_cast<std::uint64_t>(at);
}

// The mapping is made resident ahead of the reader, a step at a time (one
// call maps a step's pages: no fault a page, and no copy as read() makes),
// and released a step behind it (the pages stay in the page cache): the RSS
// stays flat over any file size. The step grows with what the file has had
// read, from 16 KiB to 4 MiB, and the readers open at once (a merge's
// inputs, read in turn or together) share 16 MiB: up to four steps are
// resident a reader (one read through since the last step, the one behind,
// two ahead), 64 KiB a reader beyond 256 of them. A file cut shorter than it was when mapped: the reader
// stops where populating fails, and libpcap reads on from there through the
// stream (and reports the record cut short).
void PcapReader::Direct::advance() {
  const std::size_t step = std::clamp(head, kMinStep, max_step());
  auto* const base = const_cast<std::uint8_t*>(map);
  const std::size_t behind = head > step ? (head - step) & ~(page - 1) : 0;
  const std::size_t released_before = released;
  if (behind > released) {
    madvise(base + released, behind - released, MADV_DONTNEED);
    released = behind;
  }
  const std::size_t target = std::min(size, (head + 2 * step + page - 1) & ~(page - 1));
  if (target > populated) {
    // EINVAL: a kernel before 5.14 (the pages then come in by faults).
    if (madvise(base + populated, target - populated, MADV_POPULATE_READ) != 0 && errno != EINVAL) {
      size = populated;
    }
    populated = std::min(size, target);
  }
  // A page populated maps the whole page-cache folio it is in (up to 2 MiB,
  // within its page table), pages released before included: released again
  // from that page table's start (2 MiB of addresses), or they would stay to
  // the end (300 files read in turn in 16 KiB steps kept 80 % of their pages).
  if (behind > released_before) {
    constexpr std::uintptr_t kPageTableSpan = 2 << 20;
    const auto start = reinterpret_cast<std::uintptr_t>(base);
    const std::size_t from = std::max(start, (start + released_before) & ~(kPageTableSpan - 1)) - start;
    madvise(base + from, behind - from, MADV_DONTNEED);
  }
  next_advance = head + step;
}

bool PcapReader::next_direct(PcapFrame& frame) {
  Direct& d = *direct_;
  // The end, a record cut short or beyond the size the file had when it was
  // mapped (a file still growing): libpcap reads from here on and says which
  // (at the end, nothing and no error).
  if (d.size - d.head < kRecordHeaderBytes) return hand_over(frame);
  const std::uint8_t* at = d.map + d.head;
  std::int32_t sec, frac;
  std::uint32_t caplen, len;
  std::memcpy(&sec, at, 4);
  std::memcpy(&frac, at + 4, 4);
  std::memcpy(&caplen, at + 8, 4);
  std::memcpy(&len, at + 12, 4);
  // libpcap's checks: larger than the file's snapshot length or than it ever
  // accepts is its to report (or to cut, as it does).
  if (caplen > d.snapshot || caplen > kMaxEthernetCaplen || d.size - d.head - kRecordHeaderBytes < caplen) {
    return hand_over(frame);
  }
  const long frac_ns = d.nano ? long{frac} : long{frac} * 1000;
  set_frame(frame, sec, frac_ns, caplen, len, at + kRecordHeaderBytes);
  d.last = d.head;
  d.head += kRecordHeaderBytes + caplen;
  // The lines kAhead bytes on, fetched while this record is run: the
  // hardware's stream prefetch stops at every 4 KiB page, and the first read
  // of a record's header waited for memory (most of this function's time).
  // Only hints, within the pages made resident.
  constexpr std::size_t kAhead = 2048, kLine = 64;
  const std::size_t ahead_end = std::min(d.head + kAhead, d.populated);
  for (std::size_t p = (d.last + kAhead) & ~(kLine - 1); p < ahead_end; p += kLine) __builtin_prefetch(d.map + p);
  record_bytes_ += kRecordHeaderBytes + caplen;
  if (d.head >= d.next_advance) d.advance();  // releases nothing of this frame
  return true;
}

std::optional<std::uint64_t> PcapReader::last_frame_offset() const {
  if (!direct_ || direct_->last == 0) return std::nullopt;
  return direct_->last;
}

// The pages before the offset are never made resident: the mapping starts
// there, as if read through to it.
bool PcapReader::resume_at(std::uint64_t offset) {
  if (!direct_ || offset < kFileHeaderBytes || offset >= direct_->size) return false;
  Direct& d = *direct_;
  d.head = offset;
  d.released = d.populated = offset & ~(d.page - 1);
  d.advance();
  return true;
}

// A record the direct reader does not take: libpcap goes on from it, through
// the stream, to the end of the file.
bool PcapReader::hand_over(PcapFrame& frame) {
  const std::uint64_t at = bytes_read();
  direct_.reset();
  if (fseeko(pcap_file(pcap_), static_cast<off_t>(at), SEEK_SET) != 0) {
    error_ = "seek: " + errno_text(errno);
    return false;
  }
  return next(frame);
}

bool PcapReader::next(PcapFrame& frame) {
  if (direct_) return next_direct(frame);
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  const int rc = pcap_next_ex(pcap_, &hdr, &data);
  if (rc != 1) {
    if (rc == PCAP_ERROR) error_ = pcap_geterr(pcap_);
    return false;
  }
  set_frame(frame, hdr->ts.tv_sec, hdr->ts.tv_usec, hdr->caplen, hdr->len, data);
  record_bytes_ += kRecordHeaderBytes + hdr->caplen;
  return true;
}

}  // namespace sniffer

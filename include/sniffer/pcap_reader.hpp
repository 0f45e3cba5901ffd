// Reads Ethernet frames from a capture file (pcap or pcapng) with their
// timestamps in nanoseconds; the offline path and the fuzzer share it.
// libpcap opens every file; a regular classic pcap file is then mapped and its
// records parsed in place (libpcap takes over at the first record it must judge:
// cut, too long, truncated), everything else is read through libpcap.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "sniffer/file_identity.hpp"

struct pcap;

namespace sniffer {

struct PcapFrame {
  std::uint64_t ts_ns = 0;    // capture time, ns since the epoch (0 for a time before it)
  std::uint32_t caplen = 0;   // bytes in data
  std::uint32_t wire_len = 0; // bytes on the wire (>= caplen unless the file lies)
  const std::uint8_t* data = nullptr;
};

// Where a capture cut shorter while it is mapped (its SIGBUS, after which the
// process exits 1) is reported, and with what text, instead of a line on
// standard error: a -j worker tells its parent which file it was. `text` is
// kept by the caller until the next call.
void report_cut_short_mapping(int fd, const char* text);

class PcapReader {
 public:
  // Opens `path`; throws Error naming it (unreadable, not a capture, a link
  // type other than Ethernet).
  explicit PcapReader(const std::string& path);
  // Opens `path` only when it is the file `resolved` (what the name led to
  // when --read-pcap's inputs were listed; none: nothing then), else throws
  // Error naming it before reading anything: a link may have been put in its
  // place since.
  PcapReader(const std::string& path, const std::optional<FileIdentity>& resolved);
  // Reads from an open stream (taken over, closed with the reader); `name`
  // is used in errors.
  PcapReader(std::FILE* stream, const std::string& name);
  ~PcapReader();
  PcapReader(const PcapReader&) = delete;
  PcapReader& operator=(const PcapReader&) = delete;

  // The next frame; false at the end of the file or on a read error (see
  // error()). The frame's data stays valid until the next call.
  bool next(PcapFrame& frame);
  // Empty, or why reading stopped early.
  const std::string& error() const { return error_; }
  // Bytes of the file read so far (for the progress bar): its position, or
  // on a stream without one (a pipe) the size of the headers and records
  // read as a classic pcap file lays them out.
  std::uint64_t bytes_read() const;
  // Where the frame last returned starts, when the file is read directly (a
  // classic pcap file): a reader of it opened again goes on from there with
  // resume_at (false: not read directly, or beyond its end).
  std::optional<std::uint64_t> last_frame_offset() const;
  bool resume_at(std::uint64_t offset);

 private:
  void check_link_type(const std::string& name);

  void open_file(std::FILE* stream, const std::string& path);
  void open(std::FILE* stream, const std::string& name, const std::string& what);
  void start_direct();
  bool next_direct(PcapFrame& frame);
  bool hand_over(PcapFrame& frame);

  // A classic pcap file read without libpcap (pcap_reader.cpp): mapped, its
  // records parsed in place from head on.
  struct Direct {
    static constexpr std::size_t kMinStep = 16 << 10;  // the first step (see advance)
    Direct(const std::uint8_t* m, std::size_t n, bool ns, std::uint32_t snap, std::size_t page_size);
    Direct(const Direct&) = delete;
    Direct& operator=(const Direct&) = delete;
    ~Direct();
    void advance();  // the pages ahead made resident, those behind released
    static std::size_t max_step();  // the largest step, shared among the readers open
    const std::uint8_t* map;
    std::size_t size;            // the file's size when mapped (or where it was found cut short)
    std::size_t mapped;          // the mapping's length
    bool nano;                   // nanosecond timestamps (else microseconds)
    std::uint32_t snapshot;      // libpcap's snapshot length of the file
    std::size_t head = 24;       // the offset of the next record (after the file header)
    std::size_t last = 0;        // the offset of the record last returned
    std::size_t page;            // the page size
    std::size_t released = 0;    // the pages before this offset are out of memory
    std::size_t populated = 0;   // those from released to here are resident
    std::size_t next_advance = 0;  // advance() when head reaches this
  };
  std::optional<Direct> direct_;

  // A file's stdio buffer, larger than stdio's 4 KiB: a capture is read
  // through in one pass, and each refill is a read() syscall.
  std::unique_ptr<char[]> buffer_;
  pcap* pcap_ = nullptr;
  std::string error_;
  std::uint64_t record_bytes_ = 24;  // the file header, then 16 bytes and caplen per record
};

}  // namespace sniffer

#include "sniffer/output_file.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>  // renameat2
#include <cstdlib>
#include <cstring>
#include <condition_variable>
#include <functional>
#include <iostream>
#include <mutex>
#include <thread>
#include <utility>
#include <new>
#include <random>

#include "sniffer/error.hpp"
#include "sniffer/output_target.hpp"
#include "sniffer/temp_files.hpp"

namespace sniffer {

namespace {

constexpr std::size_t kBufferBytes = 64 * 1024;
// A file past its first write-back range (a bulk output: the offline CSV, a
// long capture) gets this buffer: 1 MiB writes let the page cache take large
// folios, ~20 % less kernel time writing a 128 MB CSV than 64 KiB ones
// (bench/README.md, r10-offline). Small files keep the small buffer.
constexpr std::size_t kLargeBufferBytes = 1024 * 1024;
// A regular file's write-back is started every this many bytes (see
// flush_buffer).
constexpr std::uint64_t kWriteBackBytes = 8 << 20;
// O_DIRECT's unit: file offsets, buffer addresses and lengths in whole blocks
// (4096 covers disks of 512 and 4096-byte sectors).
constexpr std::size_t kBlockBytes = 4096;

// Writes n bytes, again after a short write or EINTR. Returns how many were
// written; `err` is 0, or why it stopped (ENOSPC for a write of nothing: no room).
std::size_t write_all(int fd, const char* data, std::size_t n, int& err) {
  std::size_t done = 0;
  err = 0;
  while (done < n) {
    const ssize_t w = ::write(fd, data + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      err = w < 0 ? errno : ENOSPC;
      break;
    }
    done += static_cast<std::size_t>(w);
  }
  return done;
}

}  // namespace

void write_stdout(std::string_view text) {
  std::cout.flush();
  int err = 0;
  write_all(STDOUT_FILENO, text.data(), text.size(), err);
  if (err != 0) throw Error("standard output: write: " + errno_text(err));
}

void open_closed_standard_descriptors() {
  for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; ++fd) {
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    // The lowest free number: `fd` itself, those below it being open by now.
    const int null_fd = open("/dev/null", O_RDWR);
    if (null_fd > fd) {
      dup2(null_fd, fd);
      close(null_fd);
    }
  }
}

OutputFile::OutputFile(std::string path, std::string what, Mode mode)
    : path_(std::move(path)),
      what_(std::move(what)),
      mode_(mode) {
  resize_buffer(kBufferBytes);
  struct stat st {};
  if (mode_ == Mode::NewOnly && lstat(path_.c_str(), &st) == 0) fail("create", EEXIST);
  if (const int inherited = mode_ == Mode::Replace ? descriptor_named(path_) : -1; inherited >= 0) {
    fd_ = fcntl(inherited, F_DUPFD_CLOEXEC, 3);  // its offset and flags shared: written in place
    if (fd_ < 0) fail("dup", errno);
    return;
  }
  const WriteTarget how = mode_ == Mode::NewOnly ? WriteTarget{path_} : write_target(path_, what_);
  const std::string& target = how.rename_over;
  if (target.empty()) {
    fd_ = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | how.open_flags, 0666);
    if (fd_ < 0) fail("cannot open for writing", errno);
    return;
  }
  target_ = target;
  dir_fd_ = open_output_directory(target_, what_, mode_ == Mode::Replace);
  if (dir_fd_ < 0) fail("cannot create a temporary file beside it", errno);
  // Unnamed until commit (O_TMPFILE): a run killed by SIGKILL or the OOM
  // killer leaves nothing behind (red team R14-7: each such kill left a
  // `.NAME.XXXXXX` of up to a whole table, for good). A file system without
  // it gets a named temporary file, removed at exit and at fatal signals.
  fd_ = openat(dir_fd_, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
  if (fd_ >= 0) return;
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) fail("cannot create a temporary file beside it", errno);
  const int err = make_temp_name([this](const std::string& name) {
    fd_ = openat(dir_fd_, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    return fd_ >= 0 ? 0 : errno;
  });
  if (err != 0) fail("cannot create a temporary file beside it", err);
  const mode_t mask = umask(0);  // made 0600, as mkstemp does; the result gets the usual 0666 & ~umask
  umask(mask);
  if (fchmod(fd_, 0666 & ~mask) != 0) fail("chmod", errno);
}

std::string OutputFile::random_temp_name() const {
  constexpr std::string_view kLetters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device random;
  std::string name = "." + file_name_of(target_) + ".XXXXXX";
  for (std::size_t i = name.size() - 6; i < name.size(); ++i) name[i] = kLetters[random() % kLetters.size()];
  return name;
}

int OutputFile::make_temp_name(const std::function<int(const std::string&)>& make) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    const std::string name = random_temp_name();
    const int err = make(name);
    if (err == EEXIST) continue;
    if (err == 0) remember_temp(name);
    return err;
  }
  return EEXIST;
}

void OutputFile::remember_temp(const std::string& name) {
  temp_name_ = name;
  temp_path_ = directory_of(target_) + "/" + name;  // for a fatal signal's unlink(), which has no directory
  temp_c_str_ = temp_path_.c_str();
  temp_slot_ = temp_files::remember(&temp_c_str_, 1);
}

// The unnamed file gets a name at commit: the target itself when nothing may
// be replaced (NewOnly: fails on a name that exists), else a temporary name
// that the rename then moves over the target (a kill between the two leaves
// it, a window of two system calls).
bool OutputFile::name_unnamed_file() {
  const auto link_to = [this](const std::string& name) {
    if (linkat(fd_, "", dir_fd_, name.c_str(), AT_EMPTY_PATH) == 0) return 0;
    if (errno != EPERM && errno != ENOENT) return errno;  // AT_EMPTY_PATH wants CAP_DAC_READ_SEARCH
    const std::string self = "/proc/self/fd/" + std::to_string(fd_);
    return linkat(AT_FDCWD, self.c_str(), dir_fd_, name.c_str(), AT_SYMLINK_FOLLOW) == 0 ? 0 : errno;
  };
  if (mode_ == Mode::NewOnly) {
    if (const int err = link_to(file_name_of(target_)); err != 0) {
      fail("link into place (never over an existing name)", err);
    }
    return true;
  }
  if (const int err = make_temp_name(link_to); err != 0) fail("name the temporary file", err);
  return false;
}

OutputFile::~OutputFile() {
  writer_.reset();  // its write done, before the file is closed
  if (fd_ >= 0) close(fd_);
  temp_files::forget(temp_slot_);
  if (!temp_name_.empty()) unlinkat(dir_fd_, temp_name_.c_str(), 0);
  if (dir_fd_ >= 0) close(dir_fd_);
}

void OutputFile::Free::operator()(char* p) const { std::free(p); }

std::unique_ptr<char[], OutputFile::Free> OutputFile::aligned_buffer(std::size_t bytes) {
  auto* p = static_cast<char*>(std::aligned_alloc(kBlockBytes, bytes));
  if (!p) throw std::bad_alloc();
  return std::unique_ptr<char[], Free>(p);
}

void OutputFile::resize_buffer(std::size_t bytes) {
  bytes = (bytes + kBlockBytes - 1) / kBlockBytes * kBlockBytes;  // aligned_alloc wants a multiple
  auto fresh = aligned_buffer(bytes);
  if (used_) std::memcpy(fresh.get(), buffer_.get(), used_);
  buffer_ = std::move(fresh);
  capacity_ = bytes;
}

bool OutputFile::set_uncached(bool on) {
  const int flags = fcntl(fd_, F_GETFL);
  if (flags < 0 || fcntl(fd_, F_SETFL, on ? flags | O_DIRECT : flags & ~O_DIRECT) != 0) return false;
  direct_io_ = on;
  return true;
}

void OutputFile::fail(const char* step, int err) const {
  throw Error(what_ + " " + path_ + ": " + step + ": " + errno_text(err));
}

void OutputFile::write(std::string_view data) {
  char* at = room(data.size());
  std::memcpy(at, data.data(), data.size());
  wrote(data.size());
}

char* OutputFile::room(std::size_t bytes) {
  if (fd_ < 0) throw Error(what_ + " " + path_ + ": written after it was closed");
  if (used_ + bytes > capacity_) {
    flush_buffer();
    if (used_ + bytes > capacity_) resize_buffer(used_ + bytes);  // uncached: a tail may stay
  }
  return buffer_.get() + used_;
}

void OutputFile::wrote(std::size_t bytes) {
  used_ += bytes;
  if (used_ >= flush_at_) flush_buffer();
}

void OutputFile::write_out(const char* data, std::size_t n) {
  std::size_t done = 0;
  for (int err = 0;;) {
    done += write_all(fd_, data + done, n - done, err);
    if (err == 0) break;
    // O_DIRECT refused (a file system's stricter alignment, or a short write
    // left the offset off a block): the page cache from now on.
    if (err != EINVAL || !direct_io_) fail("write", err);
    if (!set_uncached(false)) fail("write", EINVAL);
    uncached_ = false;
  }
  written_ += done;
}

// The O_DIRECT writer: one write at a time, of the buffer the file is not filling.
struct OutputFile::Writer {
  int fd;
  std::mutex mutex;
  std::condition_variable wake;
  const char* data = nullptr;
  std::size_t size = 0, done = 0;
  int err = 0;
  bool busy = false, quit = false;
  std::thread thread;

  // The thread blocks every signal (it inherits the mask set around its
  // start): they reach the thread that handles them, as before it existed.
  explicit Writer(int f) : fd(f) {
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous);
    thread = std::thread([this] { run(); });
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  }
  void run() {
    std::unique_lock lock(mutex);
    for (;;) {
      wake.wait(lock, [this] { return busy || quit; });
      if (!busy) return;
      lock.unlock();
      int e = 0;
      const std::size_t n = write_all(fd, data, size, e);
      lock.lock();
      done = n;
      err = e;
      busy = false;
      wake.notify_all();
    }
  }
  void submit(const char* d, std::size_t n) {
    std::lock_guard lock(mutex);
    data = d;
    size = n;
    busy = true;
    wake.notify_all();
  }
  void wait() {
    std::unique_lock lock(mutex);
    wake.wait(lock, [this] { return !busy; });
  }
};

void OutputFile::WriterStop::operator()(Writer* w) const {
  {
    std::lock_guard lock(w->mutex);
    w->quit = true;
    w->wake.notify_all();
  }
  w->thread.join();  // after its write, if one runs
  delete w;
}

void OutputFile::finish_pending() {
  if (!writer_ || writer_->size == 0) return;
  writer_->wait();
  const std::size_t size = std::exchange(writer_->size, 0), done = writer_->done;
  written_ += done;
  if (writer_->err == EINVAL) {
    write_out(spare_.get() + done, size - done);  // O_DIRECT refused: the rest through the page cache
  } else if (writer_->err != 0) {
    fail("write", writer_->err);
  }
}

void OutputFile::flush_uncached() {
  finish_pending();
  const std::size_t blocks = used_ / kBlockBytes * kBlockBytes;
  if (!direct_io_ || blocks == 0) return;  // refused meanwhile; or nothing whole yet
  if (spare_capacity_ < capacity_) {
    spare_ = aligned_buffer(capacity_);
    spare_capacity_ = capacity_;
  }
  std::swap(spare_, buffer_);
  std::swap(spare_capacity_, capacity_);
  used_ -= blocks;  // the tail, under a block, waits in the other buffer for the next flush
  std::memcpy(buffer_.get(), spare_.get() + blocks, used_);
  if (!writer_) writer_.reset(new Writer(fd_));
  writer_->submit(spare_.get(), blocks);
}

void OutputFile::flush_buffer() {
  if (uncached_ && !direct_io_ && flush_at_ == kLargeBufferBytes) {
    // Through the page cache up to a block boundary; the rest moved to the
    // buffer's (aligned) start, then O_DIRECT.
    const std::size_t gap = std::min<std::size_t>(used_, (kBlockBytes - written_ % kBlockBytes) % kBlockBytes);
    write_out(buffer_.get(), gap);
    used_ -= gap;
    std::memmove(buffer_.get(), buffer_.get() + gap, used_);
    if (written_ % kBlockBytes == 0 && !set_uncached(true)) uncached_ = false;
  }
  if (direct_io_) flush_uncached();
  if (direct_io_) return;
  finish_pending();  // a write refused meanwhile: it comes before these bytes
  write_out(buffer_.get(), used_);
  used_ = 0;
  // commit() syncs the file before renaming it: writing it back all then
  // waited ~80 ms for a 128 MB CSV. Started as it is written, the disk works
  // while the run goes on and the sync finds little left. Only a hint: an
  // error here shows again at the sync.
  if (!direct() && written_ - write_back_from_ >= kWriteBackBytes) {
    sync_file_range(fd_, static_cast<off_t>(write_back_from_), static_cast<off_t>(written_ - write_back_from_),
                    SYNC_FILE_RANGE_WRITE);
    write_back_from_ = written_;
    if (flush_at_ < kLargeBufferBytes) {
      flush_at_ = kLargeBufferBytes;
      if (capacity_ < kLargeBufferBytes) resize_buffer(kLargeBufferBytes);  // empty now: nothing to copy
    }
  }
}

void OutputFile::commit() {
  if (fd_ < 0) return;
  finish_pending();
  uncached_ = false;  // the last bytes, under a block, through the page cache
  if (direct_io_ && !set_uncached(false)) fail("fcntl", errno);
  flush_buffer();
  // fsync before the rename, or a crash could leave the new name on an empty
  // file; devices and pipes may not support it (EINVAL), which is no error.
  if (!direct() && fsync(fd_) != 0) fail("fsync", errno);
  const bool in_place = !direct() && temp_path_.empty() && name_unnamed_file();
  const int fd = fd_;
  fd_ = -1;
  if (close(fd) != 0) fail("close", errno);  // NFS reports write errors here
  if (direct()) return;
  if (!in_place) rename_into_place();
  temp_files::forget(temp_slot_);  // after the rename: a signal before it removes the file
  temp_slot_ = -1;
  temp_path_.clear();
  temp_name_.clear();
  // The new name itself survives a crash of the machine once its directory
  // is synced (best effort: a directory may not be readable to open).
  const int dir = openat(dir_fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    const int err = fsync(dir) != 0 ? errno : 0;
    close(dir);
    if (err && err != EINVAL) fail("fsync its directory", err);
  }
}

void OutputFile::rename_into_place() {
  const std::string name = file_name_of(target_);
  if (mode_ == Mode::Replace) {
    if (renameat(dir_fd_, temp_name_.c_str(), dir_fd_, name.c_str()) != 0) fail("rename into place", errno);
    return;
  }
  // rename(2) would replace a name that appeared meanwhile (a symbolic link
  // planted there included). RENAME_NOREPLACE fails instead; a file system
  // without it gets link(2), which never replaces nor follows, then unlink.
  if (renameat2(dir_fd_, temp_name_.c_str(), dir_fd_, name.c_str(), RENAME_NOREPLACE) == 0) return;
  if (errno != EINVAL && errno != ENOSYS) fail("rename into place (never over an existing name)", errno);
  if (linkat(dir_fd_, temp_name_.c_str(), dir_fd_, name.c_str(), 0) != 0) {
    fail("link into place (never over an existing name)", errno);
  }
  unlinkat(dir_fd_, temp_name_.c_str(), 0);
}

}  // namespace sniffer

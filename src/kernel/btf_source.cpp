#include "sniffer/btf_source.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include <spdlog/spdlog.h>

#include "sniffer/bpf_loader.hpp"
#include "sniffer/error.hpp"
#include "sniffer_bpf.skel.h"

namespace sniffer {

namespace {

constexpr const char* kKernelBtf = "/sys/kernel/btf/vmlinux";

// Path of the BTF libbpf will use, with a clear error when absent.
std::string require_btf(const std::string& custom_path) {
  const std::string path = custom_path.empty() ? kKernelBtf : custom_path;
  if (access(path.c_str(), R_OK) != 0) {
    if (custom_path.empty()) {
      throw Error(std::string("kernel BTF not found at ") + kKernelBtf + " (" + errno_text(errno) +
                  "): this kernel was built without CONFIG_DEBUG_INFO_BTF, so CO-RE programs cannot be "
                  "relocated; set btf_path to a BTF file for this kernel");
    }
    throw Error("btf_path \"" + path + "\": " + errno_text(errno));
  }
  return path;
}

// The skeleton's embedded object as a file (a memfd): its .BTF section holds
// the programs' own types. -1 (errno set) when it cannot be made.
int embedded_object_file() {
  std::size_t size = 0;
  const auto* bytes = static_cast<const char*>(sniffer_bpf__elf_bytes(&size));
  const int fd = memfd_create("sniffer_bpf.o", MFD_CLOEXEC);
  for (std::size_t done = 0; fd >= 0 && done < size;) {
    const ssize_t n = write(fd, bytes + done, size - done);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
    } else if (n == 0 || errno != EINTR) {
      const int err = n == 0 ? EIO : errno;
      close(fd);
      errno = err;
      return -1;
    }
  }
  return fd;
}

}  // namespace

BtfSource::BtfSource(const LoadOptions& options) {
  // With no program to load nothing is relocated, but an object with CO-RE
  // relocations makes libbpf parse the kernel's BTF (~6 MB, most of a short
  // offline run's start-up) unless it is given another: the object's own.
  if (!options.load_programs && options.btf_path.empty()) {
    object_fd_ = embedded_object_file();
    if (object_fd_ >= 0) {
      path_ = "/proc/self/fd/" + std::to_string(object_fd_);
      if (access(path_.c_str(), R_OK) == 0) return;
      path_.clear();
    }
    spdlog::debug("the embedded BPF object as a file: {}; the kernel's BTF serves instead", errno_text(errno));
  }
  const std::string btf = require_btf(options.btf_path);
  if (!options.btf_path.empty()) path_ = btf;
}

BtfSource::~BtfSource() {
  if (object_fd_ >= 0) close(object_fd_);
}

}  // namespace sniffer

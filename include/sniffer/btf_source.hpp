// Where libbpf finds the BTF it relocates the programs' CO-RE reads against:
// the running kernel's (/sys/kernel/btf/vmlinux), the config's btf_path, or,
// when no program is loaded (the user engine: maps only), the object's own.
#pragma once

#include <string>

namespace sniffer {

struct LoadOptions;

class BtfSource {
 public:
  // Throws Error when the BTF named (btf_path, or the kernel's) is missing.
  explicit BtfSource(const LoadOptions& options);
  ~BtfSource();
  BtfSource(const BtfSource&) = delete;
  BtfSource& operator=(const BtfSource&) = delete;
  // For bpf_object_open_opts.btf_custom_path: nullptr for the kernel's own.
  // Valid while this lives: libbpf reads it when the object is loaded.
  const char* custom_path() const { return path_.empty() ? nullptr : path_.c_str(); }

 private:
  int object_fd_ = -1;  // the embedded object in a memfd, when it is its own BTF
  std::string path_;
};

}  // namespace sniffer

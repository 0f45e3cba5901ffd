// BtfSource: which BTF libbpf gets. Maps only (the user engine): the embedded
// object itself, so the kernel's BTF is never parsed; otherwise btf_path or
// the kernel's.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <string>

#include "sniffer/bpf_loader.hpp"
#include "sniffer/btf_source.hpp"

namespace sniffer {
namespace {

std::string file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(BtfSource, MapsOnlyUseTheEmbeddedObjectsOwnBtf) {
  const BtfSource source(LoadOptions{.load_programs = false});
  ASSERT_NE(source.custom_path(), nullptr);
  const std::string path = source.custom_path();
  EXPECT_EQ(path.rfind("/proc/self/fd/", 0), 0u) << path;
  const std::string object = file_text(path);
  EXPECT_EQ(object.substr(0, 4), "\x7f" "ELF");
  EXPECT_NE(object.find(".BTF"), std::string::npos);  // the section name, in the section header strings
}

TEST(BtfSource, TheObjectFileClosesWithTheSource) {
  std::string path;
  {
    const BtfSource source(LoadOptions{.load_programs = false});
    path = source.custom_path();
    EXPECT_EQ(access(path.c_str(), R_OK), 0);
  }
  EXPECT_NE(file_text(path).substr(0, 4), "\x7f" "ELF");
}

TEST(BtfSource, AConfiguredBtfPathWinsWithOrWithoutPrograms) {
  const std::string btf = std::string(SNIFFER_SOURCE_DIR) + "/README.md";  // any readable file
  for (const bool programs : {false, true}) {
    const BtfSource source(LoadOptions{.btf_path = btf, .load_programs = programs});
    ASSERT_NE(source.custom_path(), nullptr);
    EXPECT_EQ(std::string(source.custom_path()), btf);
  }
}

TEST(BtfSource, ProgramsUseTheKernelsBtf) {
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) GTEST_SKIP() << "no kernel BTF here";
  const BtfSource source(LoadOptions{});
  EXPECT_EQ(source.custom_path(), nullptr);  // libbpf's default: the running kernel's
}

TEST(BtfSource, AMissingBtfPathIsAClearError) {
  try {
    const BtfSource source(LoadOptions{.btf_path = "/nonexistent/vmlinux.btf", .load_programs = false});
    FAIL() << "accepted a missing btf_path";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/vmlinux.btf"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sniffer

#include "sniffer/file_trust.hpp"

#include <cstdio>
#include <filesystem>

#include "sniffer/error.hpp"

namespace sniffer {

std::string mode_text(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

void refuse_if_writable(const std::string& name, const std::string& path, const struct stat& st, Writers writers,
                        const std::string& change) {
  const bool group_too = writers == Writers::kGroupOrOther;
  const mode_t bits = group_too ? (S_IWGRP | S_IWOTH) : S_IWOTH;
  const char* who = group_too ? "group or other" : "any local user";
  const char* chmod = group_too ? "go-w" : "o-w";
  if ((st.st_mode & bits) != 0) {
    throw Error(name + ": mode " + mode_text(st.st_mode) + " lets " + who + " " + change + "; refusing it (chmod " +
                chmod + " \"" + path + "\")");
  }
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::string dir = parent.empty() ? std::string(".") : parent.string();
  struct stat d {};
  if (::stat(dir.c_str(), &d) == 0 && (d.st_mode & bits) != 0 && (d.st_mode & S_ISVTX) == 0) {
    throw Error(name + ": its directory \"" + dir + "\" (mode " + mode_text(d.st_mode) + ") lets " + who +
                " replace it; refusing it (chmod " + chmod + " \"" + dir + "\")");
  }
}

}  // namespace sniffer

#include "sniffer/curve_keys.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include <zmq.h>

#include "sniffer/error.hpp"
#include "sniffer/file_trust.hpp"

namespace sniffer {

namespace {

constexpr std::size_t kMaxKeyFileBytes = 1u << 20;

constexpr std::string_view kZ85Alphabet =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

std::string_view trim(std::string_view s) {
  const char* blanks = " \t\r\n\v\f";
  auto b = s.find_first_not_of(blanks);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(blanks) - b + 1);
}

// A file that grants access (authorized keys: who may subscribe, who may
// block and capture) must be changeable by root and by us alone, as sshd's
// StrictModes asks of authorized_keys: owned by root or by us, not writable
// by group or other, and so every directory on its way (those were checked
// as it was opened). Else any local user who could write to it added a key
// of their own, effective at the next reload (red team, round 16), and one
// who owned a directory on its way re-pointed it by a link at another key
// list, such as the subscribers' (round 17).
void refuse_unless_trusted(const std::string& name, const std::string& path, const struct stat& st) {
  if (!root_or_us(st.st_uid)) {
    throw Error(name + ": owned by uid " + std::to_string(st.st_uid) +
                ", who could add a key of their own; refusing it (chown root \"" + path + "\")");
  }
  refuse_if_file_writable(name, path, st, Writers::kGroupOrOther, "add a key");
}

// The contents of a key file (a regular file, at most 1 MiB; anything else
// is refused, named, without waiting for a FIFO's writer). `what` names the
// file in errors ("secret key file"); a secret must not be readable or
// writable by group or other, and is reached through trusted directories as
// a file that `grants` access is (see above).
std::string read_key_file(const std::string& path, const char* what, bool secret, bool grants = false) {
  const std::string name = std::string(what) + " \"" + path + "\"";
  // A secret's path goes through the walk too: a user owning a directory on
  // it could swap in a FIFO, whose blocking open hung the start for good (red
  // team R18-12). O_NONBLOCK on every path: a public key needs no trusted way.
  int fd = grants || secret ? open_through_trusted_directories(name, path)
                            : ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) throw Error(name + ": cannot open: " + errno_text(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw Error(name + ": cannot stat: " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) throw Error(name + ": " + file_type_text(st.st_mode) + ", not a regular file; refusing it");
  if (secret && (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) != 0) {
    throw Error(name + ": mode " + mode_text(st.st_mode) +
                " lets group or other read or write the secret key; refusing it (chmod 600 \"" + path + "\")");
  }
  // Its owner can read it, and then answer as the sensor: on an endpoint the
  // sensor waits for, a squatter with the key was the sensor to its
  // detectors (red team, round 17).
  if (secret && !root_or_us(st.st_uid)) {
    throw Error(name + ": owned by uid " + std::to_string(st.st_uid) +
                ", who can read the key and answer as its owner; refusing it (chown root \"" + path + "\")");
  }
  if (st.st_size > static_cast<off_t>(kMaxKeyFileBytes)) {
    throw Error(name + ": " + std::to_string(st.st_size) + " bytes, more than a key file holds (1 MiB at most)");
  }
  if (grants) refuse_unless_trusted(name, path, st);
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(name + ": cannot read: " + errno_text(errno));
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > kMaxKeyFileBytes) throw Error(name + ": more than a key file holds (1 MiB at most)");
  }
  return text;
}

void write_all(int fd, const std::string& text, const std::string& path) {
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error("\"" + path + "\": cannot write: " + errno_text(errno));
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) throw Error("\"" + path + "\": cannot sync: " + errno_text(errno));
}

// Creates `path` (never an existing file) with `mode` exactly, writes `text`.
void create_file(const std::string& path, mode_t mode, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) {
    if (errno == EEXIST) throw Error("\"" + path + "\" already exists: refusing to overwrite a key (remove it first)");
    throw Error("\"" + path + "\": cannot create: " + errno_text(errno));
  }
  try {
    if (::fchmod(fd, mode) != 0) throw Error("\"" + path + "\": cannot chmod: " + errno_text(errno));  // despite umask
    write_all(fd, text, path);
  } catch (...) {
    ::close(fd);
    ::unlink(path.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    ::unlink(path.c_str());
    throw Error("\"" + path + "\": cannot close: " + errno_text(errno));
  }
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The first line of a PREFIX.key that write_keypair_files writes.
constexpr std::string_view kSecretKeyHeader = "# CURVE secret key";

}  // namespace

std::string z85_decode_key(const std::string& z85) {
  std::string bin(32, '\0');
  if (zmq_z85_decode(reinterpret_cast<std::uint8_t*>(bin.data()), z85.c_str()) == nullptr) {
    throw Error("invalid Z85 key");
  }
  return bin;
}

std::string z85_encode_key(const void* data) {
  char buf[kZ85KeyLength + 1] = {};
  if (zmq_z85_encode(buf, static_cast<const std::uint8_t*>(data), 32) == nullptr) throw Error("cannot encode a key as Z85");
  return std::string(buf, kZ85KeyLength);
}

bool is_z85_key(std::string_view text) {
  if (text.size() != kZ85KeyLength) return false;
  for (std::size_t group = 0; group < kZ85KeyLength; group += 5) {
    std::uint64_t value = 0;
    for (std::size_t i = group; i < group + 5; ++i) {
      auto digit = kZ85Alphabet.find(text[i]);
      if (digit == std::string_view::npos) return false;
      value = value * 85 + digit;
    }
    if (value > 0xffffffffull) return false;  // 5 characters encode 4 bytes
  }
  return true;
}

std::vector<std::string> parse_key_lines(const std::string& text, const std::string& file) {
  std::vector<std::string> keys;
  std::size_t line_no = 0, start = 0;
  while (start <= text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line = trim(std::string_view(text).substr(start, end - start));
    ++line_no;
    start = end + 1;
    if (line.empty()) continue;
    auto blank = line.find_first_of(" \t");
    std::string_view word = line.substr(0, blank);
    std::string_view rest = blank == std::string_view::npos ? std::string_view{} : trim(line.substr(blank));
    const std::string where = file + ":" + std::to_string(line_no) + ": ";
    if (is_z85_key(word)) {
      if (!rest.empty() && rest.front() != '#') {
        throw Error(where + "unexpected text after the key (a comment after a key starts with '#')");
      }
      keys.emplace_back(word);
      continue;
    }
    if (line.front() == '#') continue;
    // The line is not echoed: it may be (part of) a secret key.
    throw Error(where + "not a CURVE key (expected 40 characters of Z85 text, got a word of " +
                std::to_string(word.size()) + " characters)");
  }
  return keys;
}

CurveKeyPair load_secret_key_file(const std::string& path) {
  // Before the mode check: a PREFIX.pub is mode 0644, and "chmod 600" would
  // be the wrong advice (its key would then serve as a secret key that no
  // client knows the public key of).
  if (ends_with(path, ".pub")) {
    throw Error("\"" + path + "\" is a public key file (sniffer keygen's PREFIX.pub); give the secret key file \"" +
                path.substr(0, path.size() - 4) + ".key\"");
  }
  std::vector<std::string> keys = parse_key_lines(read_key_file(path, "secret key file", true), path);
  if (keys.empty()) throw Error("secret key file \"" + path + "\": no key (expected one Z85 secret key)");
  if (keys.size() > 1) throw Error("secret key file \"" + path + "\": " + std::to_string(keys.size()) +
                                   " keys; a secret key file holds one");
  CurveKeyPair pair;
  pair.secret_z85 = keys.front();
  char pub[kZ85KeyLength + 1] = {};
  if (zmq_curve_public(pub, pair.secret_z85.c_str()) != 0) {
    throw Error("secret key file \"" + path + "\": cannot derive the public key: " + zmq_strerror(zmq_errno()) +
                (zmq_has("curve") ? "" : " (this libzmq has no CURVE support)"));
  }
  pair.public_z85.assign(pub, kZ85KeyLength);
  return pair;
}

std::set<std::string> load_authorized_keys(const std::string& path) {
  const std::string text = read_key_file(path, "authorized keys file", false, true);
  // An empty file is more often one being rewritten (truncated, not yet
  // written) than a decision to admit nobody: that must be said.
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    throw Error("authorized keys file \"" + path + "\": empty (a file being rewritten?); it would admit nobody: to "
                "mean that, write a comment line such as \"# nobody\"");
  }
  std::vector<std::string> keys = parse_key_lines(text, path);
  return std::set<std::string>(keys.begin(), keys.end());
}

std::string load_public_key(const std::string& z85_or_path) {
  if (is_z85_key(z85_or_path)) return z85_or_path;
  const std::string text = read_key_file(z85_or_path, "public key file", false);
  if (text.rfind(kSecretKeyHeader, 0) == 0) {
    const std::string prefix = ends_with(z85_or_path, ".key") ? z85_or_path.substr(0, z85_or_path.size() - 4) : "PREFIX";
    throw Error("\"" + z85_or_path + "\" is a secret key file (sniffer keygen's PREFIX.key); give the public key \"" +
                prefix + ".pub\"");
  }
  std::vector<std::string> keys = parse_key_lines(text, z85_or_path);
  if (keys.size() != 1) {
    throw Error("public key file \"" + z85_or_path + "\": " + std::to_string(keys.size()) +
                " keys; expected exactly one Z85 public key");
  }
  return keys.front();
}

CurveKeyPair generate_keypair() {
  char pub[kZ85KeyLength + 1] = {}, sec[kZ85KeyLength + 1] = {};
  if (zmq_curve_keypair(pub, sec) != 0) {
    throw Error(std::string("cannot generate a CURVE key pair: ") + zmq_strerror(zmq_errno()));
  }
  return {std::string(pub, kZ85KeyLength), std::string(sec, kZ85KeyLength)};
}

std::pair<std::string, std::string> write_keypair_files(const std::string& prefix, const CurveKeyPair& keys) {
  const std::string key_path = prefix + ".key", pub_path = prefix + ".pub";
  if (::access(pub_path.c_str(), F_OK) == 0) {
    throw Error("\"" + pub_path + "\" already exists: refusing to overwrite a key (remove it first)");
  }
  create_file(key_path, 0600,
              std::string(kSecretKeyHeader) + " (Z85), written by sniffer keygen. Keep it private (mode 0600).\n"
              "# Its public key: " + keys.public_z85 + "\n" + keys.secret_z85 + "\n");
  try {
    create_file(pub_path, 0644, keys.public_z85 + "\n");
  } catch (...) {
    ::unlink(key_path.c_str());
    throw;
  }
  return {key_path, pub_path};
}

}  // namespace sniffer

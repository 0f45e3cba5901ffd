// CURVE keys as Z85 text and their files: a secret key file (mode 0600, one
// key), an authorized-keys file (any number of keys), a public key given as
// text or as a PREFIX.pub file; `sniffer keygen`'s key pairs. The sockets that
// use them and the ZAP handler are in curve_auth.hpp.
#pragma once

#include <cstddef>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sniffer {

inline constexpr std::size_t kZ85KeyLength = 40;  // 32 bytes as Z85 text

// A CURVE key pair as Z85 text.
struct CurveKeyPair {
  std::string public_z85;
  std::string secret_z85;
};

// True when `text` is 40 Z85 characters encoding 32 bytes.
bool is_z85_key(std::string_view text);

// The 32 bytes of a Z85 key (is_z85_key must hold; throws Error otherwise).
std::string z85_decode_key(const std::string& z85);

// The Z85 text of a 32-byte key at `data`.
std::string z85_encode_key(const void* data);

// The keys of a key file's text, in order. Each line is blank, a comment
// (starts with '#'), or a key optionally followed by blanks and a '#' comment.
// (Z85 has a '#' character, but no 32-byte key's text begins with it.)
// A malformed line throws Error "FILE:LINE: ..." (the line is not echoed).
std::vector<std::string> parse_key_lines(const std::string& text, const std::string& file);

// Reads the one secret key of a key file and derives its public key. Refuses
// (Error naming the file and its mode) a file that group or other may read or
// write, a file that is not a regular file (naming what it is: a FIFO is not
// waited on), and one whose way from "/" another user could change
// (open_through_trusted_directories).
CurveKeyPair load_secret_key_file(const std::string& path);

// The allowed client public keys of an authorized-keys file (any number of
// keys, one a line). Throws Error naming FILE:LINE for a malformed line.
std::set<std::string> load_authorized_keys(const std::string& path);

// A server's public key given as Z85 text, or as the path of a file that
// holds exactly one key (a .pub file).
std::string load_public_key(const std::string& z85_or_path);

// A new key pair (zmq_curve_keypair).
CurveKeyPair generate_keypair();

// Writes PREFIX.key (the secret, mode 0600) and PREFIX.pub (the public key).
// Refuses to overwrite either file (O_EXCL). Returns the two paths.
std::pair<std::string, std::string> write_keypair_files(const std::string& prefix, const CurveKeyPair& keys);

}  // namespace sniffer

// CURVE keys and the ZAP handler: key file grammar and permission checks,
// keygen files, and real CURVE sockets over tcp://127.0.0.1 judged by the
// ZapAuthenticator (allowed, unlisted key, wrong server key, no handler).
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <thread>

#include <gtest/gtest.h>
#include <zmq.hpp>

#include "sniffer/curve_auth.hpp"
#include "sniffer/error.hpp"
#include "sniffer/metrics.hpp"

namespace sniffer {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "sniffer-curve-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  // Writes `text` to NAME with `mode`; returns the path.
  std::string write(const std::string& name, const std::string& text, mode_t mode = 0600) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p) << text;
    chmod(p.c_str(), mode);
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The message of the Error `f` throws ("" when it does not).
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(CurveKeys, Z85KeysAreRecognised) {
  CurveKeyPair k = generate_keypair();
  EXPECT_TRUE(is_z85_key(k.public_z85));
  EXPECT_TRUE(is_z85_key(k.secret_z85));
  EXPECT_FALSE(is_z85_key(k.public_z85.substr(1)));        // 39 characters
  EXPECT_FALSE(is_z85_key(k.public_z85 + "0"));            // 41
  EXPECT_FALSE(is_z85_key(std::string(39, 'a') + "~"));    // not in the alphabet
  EXPECT_FALSE(is_z85_key(std::string(40, '#')));          // 5 characters beyond 2^32
  // '#' is a Z85 character, but worth 84 at the head of a 5-character group:
  // beyond 2^32, so no key begins with it and a '#' line is always a comment.
  EXPECT_FALSE(is_z85_key("#" + std::string(39, '0')));
  EXPECT_TRUE(is_z85_key("%" + std::string(39, '0')));     // 82: the largest head
  EXPECT_TRUE(is_z85_key("0000#" + std::string(35, '0')));
}

TEST(CurveKeys, KeyLinesAllowCommentsBlanksAndTrailingComments) {
  CurveKeyPair a = generate_keypair(), b = generate_keypair();
  const std::string odd_key = "0000#" + std::string(35, '0');  // '#' inside a key
  auto keys = parse_key_lines("# the lab's subscribers\n\n   \n" + a.public_z85 + "\n  " + b.public_z85 +
                                  "   # bob's laptop\r\n#" + a.public_z85 + "\n" + odd_key + "\t#a comment\n# end",
                              "f");
  EXPECT_EQ(keys, (std::vector<std::string>{a.public_z85, b.public_z85, odd_key}));
  EXPECT_TRUE(parse_key_lines("", "f").empty());
}

TEST(CurveKeys, MalformedLinesNameFileAndLine) {
  CurveKeyPair a = generate_keypair();
  std::string e = error_of([&] { parse_key_lines("# ok\n" + a.public_z85 + "\nnot-a-key\n", "/etc/keys"); });
  EXPECT_TRUE(contains(e, "/etc/keys:3: not a CURVE key")) << e;
  EXPECT_FALSE(contains(e, "not-a-key")) << "the line is not echoed (it may be a secret): " << e;
  e = error_of([&] { parse_key_lines(a.public_z85 + " " + a.public_z85 + "\n", "k"); });
  EXPECT_TRUE(contains(e, "k:1: unexpected text after the key")) << e;
  e = error_of([&] { parse_key_lines(a.public_z85 + "#no blank before the comment\n", "k"); });
  EXPECT_TRUE(contains(e, "k:1: not a CURVE key")) << e;
  e = error_of([&] { parse_key_lines("\n\n" + a.public_z85.substr(0, 39) + "\n", "k"); });
  EXPECT_TRUE(contains(e, "k:3: not a CURVE key")) << e;
}

TEST(CurveKeys, SecretKeyFileGivesThePairAndItsPublicKey) {
  TempDir dir;
  CurveKeyPair k = generate_keypair();
  CurveKeyPair loaded = load_secret_key_file(dir.write("s.key", "# sensor\n" + k.secret_z85 + "\n", 0600));
  EXPECT_EQ(loaded.secret_z85, k.secret_z85);
  EXPECT_EQ(loaded.public_z85, k.public_z85);
  EXPECT_NO_THROW(load_secret_key_file(dir.write("r.key", k.secret_z85, 0400)));
}

TEST(CurveKeys, SecretKeyFileOpenToGroupOrOtherIsRefused) {
  TempDir dir;
  CurveKeyPair k = generate_keypair();
  for (mode_t mode : {0640, 0620, 0604, 0602, 0644}) {
    std::string path = dir.write("s" + std::to_string(mode) + ".key", k.secret_z85 + "\n", mode);
    std::string e = error_of([&] { load_secret_key_file(path); });
    char mode_text[8];
    std::snprintf(mode_text, sizeof(mode_text), "%04o", static_cast<unsigned>(mode));
    EXPECT_TRUE(contains(e, "secret key file \"" + path + "\": mode " + mode_text)) << e;
    EXPECT_TRUE(contains(e, "chmod 600")) << e;
  }
}

TEST(CurveKeys, SecretKeyFileOfAnotherUserIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "giving a file to another user needs root";
  TempDir dir;
  CurveKeyPair k = generate_keypair();
  std::string path = dir.write("theirs.key", k.secret_z85 + "\n", 0600);
  ASSERT_EQ(chown(path.c_str(), 65534, 65534), 0);
  std::string e = error_of([&] { load_secret_key_file(path); });
  EXPECT_TRUE(contains(e, "secret key file \"" + path + "\": owned by uid 65534, who can read the key and answer as "
                          "its owner; refusing it (chown root")) << e;
  ASSERT_EQ(chown(path.c_str(), 0, 0), 0);
  EXPECT_NO_THROW(load_secret_key_file(path));
}

TEST(CurveKeys, SecretKeyFileProblemsAreNamed) {
  TempDir dir;
  CurveKeyPair a = generate_keypair(), b = generate_keypair();
  std::string e = error_of([&] { load_secret_key_file(dir.path() + "/missing.key"); });
  EXPECT_TRUE(contains(e, "missing.key\": cannot open: No such file")) << e;
  e = error_of([&] { load_secret_key_file(dir.write("empty.key", "# nothing\n")); });
  EXPECT_TRUE(contains(e, "empty.key\": no key")) << e;
  e = error_of([&] { load_secret_key_file(dir.write("two.key", a.secret_z85 + "\n" + b.secret_z85 + "\n")); });
  EXPECT_TRUE(contains(e, "two.key\": 2 keys")) << e;
  e = error_of([&] { load_secret_key_file(dir.write("bad.key", "\nsecret!\n")); });
  EXPECT_TRUE(contains(e, "bad.key:2: not a CURVE key")) << e;
  e = error_of([&] { load_secret_key_file(dir.path()); });
  EXPECT_TRUE(contains(e, "not a regular file")) << e;
}

// The error `load` throws, or "hung" when it still waits after 5 s: then a
// writer opened on `fifo` lets the open go, so that the test ends.
std::string error_without_waiting(const std::function<void()>& load, const std::string& fifo) {
  auto loading = std::async(std::launch::async, [&] { return error_of(load); });
  if (loading.wait_for(std::chrono::seconds(5)) == std::future_status::ready) return loading.get();
  const int writer = open(fifo.c_str(), O_WRONLY);
  loading.wait();
  close(writer);
  return "hung";
}

// Red team R18-12: a secret key file was opened by name, blocking: a FIFO
// swapped in (by a user owning a directory on its way) hung the start in
// open() for good, before any check. Refused now, naming what it is.
TEST(CurveKeys, AKeyFileThatIsAFifoIsRefusedWithoutWaiting) {
  TempDir dir;
  const std::string fifo = dir.path() + "/sensor.key", link = dir.path() + "/link.key";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  ASSERT_EQ(symlink("sensor.key", link.c_str()), 0);
  for (const std::string& path : {fifo, link}) {
    std::string e = error_without_waiting([&] { load_secret_key_file(path); }, fifo);
    EXPECT_EQ(e, "secret key file \"" + path + "\": a FIFO, not a regular file; refusing it");
    e = error_without_waiting([&] { load_public_key(path); }, fifo);
    EXPECT_EQ(e, "public key file \"" + path + "\": a FIFO, not a regular file; refusing it");
    e = error_without_waiting([&] { load_authorized_keys(path); }, fifo);
    EXPECT_EQ(e, "authorized keys file \"" + path + "\": a FIFO, not a regular file; refusing it");
  }
}

TEST(CurveKeys, AuthorizedKeysFile) {
  TempDir dir;
  CurveKeyPair a = generate_keypair(), b = generate_keypair();
  // Public keys need no secrecy: any mode.
  auto keys = load_authorized_keys(dir.write("auth", "# ops\n" + a.public_z85 + "\n\n" + b.public_z85 + " # b\n", 0644));
  EXPECT_EQ(keys, (std::set<std::string>{a.public_z85, b.public_z85}));
  std::string path = dir.write("bad", a.public_z85 + "\n" + b.public_z85 + "x\n");
  std::string e = error_of([&] { load_authorized_keys(path); });
  EXPECT_TRUE(contains(e, path + ":2: not a CURVE key")) << e;
  e = error_of([&] { load_authorized_keys(dir.path() + "/none"); });
  EXPECT_TRUE(contains(e, "authorized keys file \"" + dir.path() + "/none\": cannot open")) << e;
}

// Who may subscribe, block and capture must be changeable by root and by us
// alone (sshd's StrictModes): a file or directory others could write let
// any local user add a key of their own at the next reload (red team, round 16).
TEST(CurveKeys, AnAuthorizedKeysFileOthersCouldChangeIsRefused) {
  TempDir dir;
  const std::string key = generate_keypair().public_z85 + "\n";
  std::string path = dir.write("writable", key, 0666);
  chmod(path.c_str(), 0666);  // whatever the umask
  std::string e = error_of([&] { load_authorized_keys(path); });
  EXPECT_TRUE(contains(e, "mode 0666 lets group or other add a key; refusing it (chmod go-w")) << e;
  path = dir.write("group", key, 0620);
  chmod(path.c_str(), 0620);
  EXPECT_TRUE(contains(error_of([&] { load_authorized_keys(path); }), "mode 0620 lets group or other add a key"));
  const std::string open_dir = dir.path() + "/open";
  ASSERT_EQ(mkdir(open_dir.c_str(), 0777), 0);
  ASSERT_EQ(chmod(open_dir.c_str(), 0777), 0);
  path = open_dir + "/auth";
  { std::ofstream(path) << key; }
  e = error_of([&] { load_authorized_keys(path); });
  EXPECT_TRUE(contains(e, "its directory \"" + open_dir + "\" (mode 0777) lets group or other replace it")) << e;
  ASSERT_EQ(chmod(open_dir.c_str(), 01777), 0);  // sticky, as /tmp: others cannot replace our file
  EXPECT_EQ(load_authorized_keys(path).size(), 1U);
  if (geteuid() == 0) {
    ASSERT_EQ(chown(path.c_str(), 65534, 65534), 0);
    e = error_of([&] { load_authorized_keys(path); });
    EXPECT_TRUE(contains(e, "owned by uid 65534, who could add a key of their own")) << e;
  }
}

// Red team R17-4: only the file's immediate directory's mode was looked at,
// and the file was opened following links. A user owning a directory on the
// way (mode 0755) replaced the root-owned file by a link to another root-owned
// key list, the subscribers', whose keys became control clients at a reload.
// As sshd's StrictModes: every directory a name is looked up in, from "/",
// links followed by hand, must be root's or ours and writable by group or
// other only if sticky.
class TrustedWay : public ::testing::Test {
 protected:
  // DIR/NAME made with `mode` exactly; returns its path.
  std::string make_dir(const std::string& name, mode_t mode) const {
    const std::string p = dir_.path() + "/" + name;
    EXPECT_EQ(mkdir(p.c_str(), 0700), 0) << p;
    EXPECT_EQ(chmod(p.c_str(), mode), 0) << p;
    return p;
  }
  std::string write_keys(const std::string& path) const {
    std::ofstream(path) << key_;
    chmod(path.c_str(), 0644);
    return path;
  }
  // Gives `path` (not what a link points to) to uid 65534; root alone may.
  static void give_away(const std::string& path) { ASSERT_EQ(lchown(path.c_str(), 65534, 65534), 0) << path; }
  static bool root() { return geteuid() == 0; }

  TempDir dir_;
  const std::string key_ = generate_keypair().public_z85 + "\n";
};

TEST_F(TrustedWay, AnAncestorDirectoryOthersMayWriteIsRefused) {
  const std::string open = make_dir("open", 0777);
  const std::string inner = open + "/inner";
  ASSERT_EQ(mkdir(inner.c_str(), 0700), 0);
  const std::string path = write_keys(inner + "/auth");
  const std::string e = error_of([&] { load_authorized_keys(path); });
  EXPECT_TRUE(contains(e, "authorized keys file \"" + path + "\": the directory \"" + open +
                              "\" on its path (mode 0777) lets group or other replace it; refusing it (chmod go-w \"" +
                              open + "\")"))
      << e;
  ASSERT_EQ(chmod(open.c_str(), 0755), 0);
  EXPECT_EQ(load_authorized_keys(path).size(), 1U);
}

TEST_F(TrustedWay, AStickyDirectoryHoldingOurOwnFileIsAccepted) {
  const std::string sticky = make_dir("sticky", 01777);  // as /tmp
  EXPECT_EQ(load_authorized_keys(write_keys(sticky + "/auth")).size(), 1U);
  const std::string inner = sticky + "/ours";
  ASSERT_EQ(mkdir(inner.c_str(), 0700), 0);
  EXPECT_EQ(load_authorized_keys(write_keys(inner + "/auth")).size(), 1U);
}

TEST_F(TrustedWay, ALinkFromATrustedDirectoryToATrustedFileIsAccepted) {
  const std::string keys = make_dir("keys", 0755), links = make_dir("links", 0755);
  const std::string target = write_keys(keys + "/auth");
  ASSERT_EQ(symlink(target.c_str(), (links + "/absolute").c_str()), 0);
  ASSERT_EQ(symlink("../keys/auth", (links + "/relative").c_str()), 0);
  ASSERT_EQ(symlink(keys.c_str(), (links + "/dir").c_str()), 0);  // a directory on the way is a link
  for (const char* name : {"absolute", "relative", "dir/auth"}) {
    EXPECT_EQ(load_authorized_keys(links + "/" + name).size(), 1U) << name;
  }
  // A relative path: from the working directory's real location.
  const std::string cwd = fs::current_path().string();
  ASSERT_EQ(chdir(links.c_str()), 0);
  std::string e = error_of([&] { load_authorized_keys("relative"); });
  ASSERT_EQ(chdir(cwd.c_str()), 0);
  EXPECT_EQ(e, "");
  // A link whose target is missing says so, as a missing file does.
  ASSERT_EQ(symlink("../keys/none", (links + "/dangling").c_str()), 0);
  e = error_of([&] { load_authorized_keys(links + "/dangling"); });
  EXPECT_TRUE(contains(e, "authorized keys file \"" + links + "/dangling\": cannot open: No such file")) << e;
  ASSERT_EQ(symlink("loop", (links + "/loop").c_str()), 0);
  e = error_of([&] { load_authorized_keys(links + "/loop"); });
  EXPECT_TRUE(contains(e, "cannot open: Too many levels of symbolic links")) << e;
}

TEST_F(TrustedWay, ALinkToAFileInAnOpenDirectoryIsRefusedNamingThatDirectory) {
  const std::string open = make_dir("open", 0777), links = make_dir("links", 0755);
  write_keys(open + "/auth");
  ASSERT_EQ(symlink("../open/auth", (links + "/auth").c_str()), 0);
  const std::string e = error_of([&] { load_authorized_keys(links + "/auth"); });
  EXPECT_TRUE(contains(e, "authorized keys file \"" + links + "/auth\": its directory \"" + open +
                              "\" (mode 0777) lets group or other replace it"))
      << e;
}

TEST_F(TrustedWay, ADirectoryAnotherUserOwnsIsRefused) {
  if (!root()) GTEST_SKIP() << "giving a directory to another user needs root";
  const std::string theirs = make_dir("theirs", 0755);
  const std::string path = write_keys(theirs + "/auth");  // root's file, 0644
  give_away(theirs);
  std::string e = error_of([&] { load_authorized_keys(path); });
  EXPECT_EQ(e, "authorized keys file \"" + path + "\": its directory \"" + theirs +
                   "\" is owned by uid 65534, who could replace it; refusing it (chown root \"" + theirs + "\")");
  // So is one further up.
  const std::string inner = theirs + "/inner";
  ASSERT_EQ(mkdir(inner.c_str(), 0755), 0);
  const std::string deeper = write_keys(inner + "/auth");
  e = error_of([&] { load_authorized_keys(deeper); });
  EXPECT_TRUE(contains(e, "the directory \"" + theirs + "\" on its path is owned by uid 65534")) << e;
}

TEST_F(TrustedWay, ALinkInADirectoryAnotherUserOwnsIsRefused) {
  if (!root()) GTEST_SKIP() << "giving a directory to another user needs root";
  // The red team's case: the link points at a trusted, root-owned key list.
  const std::string keys = make_dir("keys", 0755), theirs = make_dir("theirs", 0755);
  const std::string trusted = write_keys(keys + "/subscribers");
  ASSERT_EQ(symlink(trusted.c_str(), (theirs + "/auth").c_str()), 0);
  give_away(theirs);
  std::string e = error_of([&] { load_authorized_keys(theirs + "/auth"); });
  EXPECT_TRUE(contains(e, "its directory \"" + theirs + "\" is owned by uid 65534, who could replace it")) << e;
  // A link from a trusted directory through a link in theirs: that hop is refused too.
  const std::string links = make_dir("links", 0755);
  ASSERT_EQ(symlink("../theirs/auth", (links + "/auth").c_str()), 0);
  e = error_of([&] { load_authorized_keys(links + "/auth"); });
  EXPECT_TRUE(contains(e, "its directory \"" + theirs + "\" is owned by uid 65534")) << e;
  // Their link in a sticky directory: they may re-point it.
  const std::string sticky = make_dir("sticky", 01777);
  const std::string link = sticky + "/auth";
  ASSERT_EQ(symlink(trusted.c_str(), link.c_str()), 0);
  EXPECT_EQ(load_authorized_keys(link).size(), 1U);  // ours
  give_away(link);
  e = error_of([&] { load_authorized_keys(link); });
  EXPECT_TRUE(contains(e, "the link \"" + link + "\" on its path is owned by uid 65534, who could re-point it")) << e;
}

// Red team R18-12: the owner of a directory on a secret key's way can swap
// the key for anything (a FIFO, a link to another root key): its way is
// checked as an authorized keys file's is.
TEST_F(TrustedWay, ASecretKeyFileInADirectoryAnotherUserOwnsIsRefused) {
  if (!root()) GTEST_SKIP() << "giving a directory to another user needs root";
  const std::string theirs = make_dir("theirs", 0755);
  const std::string path = theirs + "/sensor.key";
  std::ofstream(path) << generate_keypair().secret_z85 << "\n";
  ASSERT_EQ(chmod(path.c_str(), 0600), 0);
  EXPECT_NO_THROW(load_secret_key_file(path));
  give_away(theirs);
  const std::string e = error_of([&] { load_secret_key_file(path); });
  EXPECT_EQ(e, "secret key file \"" + path + "\": its directory \"" + theirs +
                   "\" is owned by uid 65534, who could replace it; refusing it (chown root \"" + theirs + "\")");
}

TEST(CurveKeys, AnEmptyAuthorizedKeysFileIsRefusedACommentedOneAdmitsNobody) {
  // Red team R12-7: a file truncated for a rewrite and read by a SIGHUP in
  // between locked every subscriber out, logged at info.
  TempDir dir;
  for (const char* text : {"", "\n \n\t\n"}) {
    const std::string path = dir.write("empty", text, 0644);
    const std::string e = error_of([&] { load_authorized_keys(path); });
    EXPECT_TRUE(contains(e, "authorized keys file \"" + path + "\": empty (a file being rewritten?)")) << e;
  }
  EXPECT_TRUE(load_authorized_keys(dir.write("nobody", "# nobody\n", 0644)).empty());
}

TEST(CurveKeys, PublicKeyAsTextOrFile) {
  TempDir dir;
  CurveKeyPair a = generate_keypair();
  EXPECT_EQ(load_public_key(a.public_z85), a.public_z85);
  EXPECT_EQ(load_public_key(dir.write("a.pub", a.public_z85 + "\n", 0644)), a.public_z85);
  std::string e = error_of([&] { load_public_key(dir.write("e.pub", "# none\n", 0644)); });
  EXPECT_TRUE(contains(e, "e.pub\": 0 keys; expected exactly one")) << e;
}

TEST(CurveKeys, KeygenFilesAreNotTakenForEachOther) {
  TempDir dir;
  const std::string prefix = dir.path() + "/sensor";
  write_keypair_files(prefix, generate_keypair());
  // A PREFIX.pub given as a secret key is named, before its mode 0644 is
  // (chmod 600 would be the wrong advice).
  std::string e = error_of([&] { load_secret_key_file(prefix + ".pub"); });
  EXPECT_EQ(e, "\"" + prefix + ".pub\" is a public key file (sniffer keygen's PREFIX.pub); give the secret key file \"" +
                   prefix + ".key\"");
  // A PREFIX.key given as the server's public key.
  e = error_of([&] { load_public_key(prefix + ".key"); });
  EXPECT_EQ(e, "\"" + prefix + ".key\" is a secret key file (sniffer keygen's PREFIX.key); give the public key \"" +
                   prefix + ".pub\"");
}

TEST(CurveKeys, KeygenFilesAreCreatedOnceWithMode0600) {
  TempDir dir;
  CurveKeyPair k = generate_keypair();
  const std::string prefix = dir.path() + "/sensor";
  auto [key_path, pub_path] = write_keypair_files(prefix, k);
  EXPECT_EQ(key_path, prefix + ".key");
  EXPECT_EQ(pub_path, prefix + ".pub");
  struct stat st {};
  ASSERT_EQ(stat(key_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  CurveKeyPair loaded = load_secret_key_file(key_path);
  EXPECT_EQ(loaded.secret_z85, k.secret_z85);
  EXPECT_EQ(loaded.public_z85, k.public_z85);
  EXPECT_EQ(load_public_key(pub_path), k.public_z85);
  // Never overwritten: neither file, and the existing key is unchanged.
  std::string e = error_of([&] { write_keypair_files(prefix, generate_keypair()); });
  EXPECT_TRUE(contains(e, "already exists")) << e;
  EXPECT_EQ(load_secret_key_file(key_path).secret_z85, k.secret_z85);
  fs::remove(key_path);
  e = error_of([&] { write_keypair_files(prefix, generate_keypair()); });
  EXPECT_TRUE(contains(e, "sensor.pub\" already exists")) << e;
  EXPECT_FALSE(fs::exists(key_path)) << "no half-written pair";
}

// A CURVE XPUB server on tcp://127.0.0.1 and SUB clients.
class ZapRoundTrip : public ::testing::Test {
 protected:
  zmq::context_t ctx{1};
  CurveKeyPair server = generate_keypair();
  CurveKeyPair allowed = generate_keypair();
  CurveKeyPair unlisted = generate_keypair();

  zmq::socket_t curve_server(zmq::socket_type type, const std::string& domain, std::string& endpoint) {
    zmq::socket_t s(ctx, type);
    s.set(zmq::sockopt::linger, 0);
    make_curve_server(s, server, domain);
    s.bind("tcp://127.0.0.1:*");
    endpoint = s.get(zmq::sockopt::last_endpoint);
    return s;
  }
  zmq::socket_t subscriber(zmq::context_t& c, const CurveKeyPair& own, const std::string& server_public,
                           const std::string& endpoint) {
    zmq::socket_t s(c, zmq::socket_type::sub);
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::subscribe, "");
    make_curve_client(s, own, server_public);
    s.connect(endpoint);
    return s;
  }
  // A CURVE REQ client of `endpoint` that has sent "status".
  zmq::socket_t requester(const CurveKeyPair& own, const std::string& endpoint) {
    zmq::socket_t s(ctx, zmq::socket_type::req);
    s.set(zmq::sockopt::linger, 0);
    make_curve_client(s, own, server.public_z85);
    s.connect(endpoint);
    s.send(zmq::str_buffer("status"), zmq::send_flags::dontwait);
    return s;
  }
  static int drain(zmq::socket_t& s) {
    int n = 0;
    zmq::message_t m;
    while (s.recv(m, zmq::recv_flags::dontwait)) ++n;
    return n;
  }
};

TEST_F(ZapRoundTrip, OnlyAnAllowedKeyWithTheRightServerKeyReceives) {
  ZapAuthenticator auth(ctx);
  auth.allow(kZapDomainPublish, {allowed.public_z85});
  std::string endpoint;
  zmq::socket_t pub = curve_server(zmq::socket_type::pub, kZapDomainPublish, endpoint);
  zmq::socket_t good = subscriber(ctx, allowed, server.public_z85, endpoint);
  zmq::socket_t stranger = subscriber(ctx, unlisted, server.public_z85, endpoint);
  zmq::socket_t fooled = subscriber(ctx, allowed, generate_keypair().public_z85, endpoint);  // wrong server key

  int received = 0, stranger_received = 0, fooled_received = 0;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (received < 20 && std::chrono::steady_clock::now() < deadline) {
    pub.send(zmq::str_buffer("event"), zmq::send_flags::dontwait);
    std::this_thread::sleep_for(10ms);
    received += drain(good);
    stranger_received += drain(stranger);
    fooled_received += drain(fooled);
  }
  // Everyone has had time to retry: keep publishing a little longer.
  for (int i = 0; i < 50; ++i) {
    pub.send(zmq::str_buffer("event"), zmq::send_flags::dontwait);
    std::this_thread::sleep_for(10ms);
    stranger_received += drain(stranger);
    fooled_received += drain(fooled);
  }
  EXPECT_GE(received, 20);
  EXPECT_EQ(stranger_received, 0);
  EXPECT_EQ(fooled_received, 0);
  AuthCounters c = auth.counters(kZapDomainPublish);
  EXPECT_EQ(c.accepted, 1u);     // the good subscriber, once
  EXPECT_GE(c.refused, 1u);      // the stranger (libzmq 4.3 does not reconnect after a refusal)
  std::map<std::string, AuthCounters> by_domain = auth.counters_by_domain();
  EXPECT_EQ(by_domain[kZapDomainPublish].accepted, 1u);
  EXPECT_GE(by_domain[kZapDomainPublish].refused, 1u);
  // The wrong server key never reaches the ZAP handler (the server cannot
  // even read the client's HELLO): it is neither accepted nor refused there.
}

TEST_F(ZapRoundTrip, DomainsHaveTheirOwnKeysAndTheUserIdIsTheClientKey) {
  ZapAuthenticator auth(ctx);
  CurveKeyPair operator_key = generate_keypair();
  auth.allow(kZapDomainPublish, {allowed.public_z85});
  auth.allow("control", {operator_key.public_z85});
  std::string endpoint;
  zmq::socket_t rep = curve_server(zmq::socket_type::rep, "control", endpoint);
  rep.set(zmq::sockopt::rcvtimeo, 3000);

  zmq::socket_t req = requester(operator_key, endpoint);
  zmq::message_t msg;
  ASSERT_TRUE(rep.recv(msg));
  EXPECT_EQ(msg.to_string(), "status");
  EXPECT_EQ(std::string(msg.gets("User-Id")), operator_key.public_z85);

  // A key of the "publish" domain is no key of the "control" domain.
  zmq::socket_t intruder(ctx, zmq::socket_type::req);
  intruder.set(zmq::sockopt::linger, 0);
  make_curve_client(intruder, allowed, server.public_z85);
  intruder.connect(endpoint);
  intruder.send(zmq::str_buffer("stop"), zmq::send_flags::dontwait);  // queued, never delivered
  rep.send(zmq::str_buffer("ok"), zmq::send_flags::none);
  rep.set(zmq::sockopt::rcvtimeo, 1000);
  EXPECT_FALSE(rep.recv(msg));
  EXPECT_EQ(auth.counters("control").accepted, 1u);
  EXPECT_GE(auth.counters("control").refused, 1u);
  EXPECT_EQ(auth.counters(kZapDomainPublish).accepted, 0u);
}

// SIGHUP's swap: allow() replaces a domain's keys for the next handshake
// while the handler runs, and says how many keys went.
TEST_F(ZapRoundTrip, ReplacedKeysApplyToTheNextHandshake) {
  ZapAuthenticator auth(ctx);
  CurveKeyPair kept = generate_keypair();
  EXPECT_EQ(auth.allow("control", {allowed.public_z85, kept.public_z85}), 0u);
  std::string endpoint;
  zmq::socket_t rep = curve_server(zmq::socket_type::rep, "control", endpoint);
  rep.set(zmq::sockopt::rcvtimeo, 1000);
  auto ask = [&](const CurveKeyPair& own) {
    zmq::socket_t req = requester(own, endpoint);
    zmq::message_t msg;
    if (!rep.recv(msg)) return std::string();
    rep.send(zmq::str_buffer("ok"), zmq::send_flags::none);
    return std::string(msg.gets("User-Id"));
  };
  EXPECT_EQ(ask(allowed), allowed.public_z85);
  EXPECT_EQ(auth.allow("control", {kept.public_z85, unlisted.public_z85}), 1u);  // `allowed` removed
  EXPECT_EQ(ask(allowed), "");
  EXPECT_EQ(ask(kept), kept.public_z85);
  EXPECT_EQ(ask(unlisted), unlisted.public_z85);
  EXPECT_EQ(auth.counters("control").accepted, 3u);
  EXPECT_GE(auth.counters("control").refused, 1u);
}

TEST_F(ZapRoundTrip, WithoutAHandlerEveryClientIsRefused) {
  // Fail closed: no ZapAuthenticator in this context.
  std::string endpoint;
  zmq::socket_t pub = curve_server(zmq::socket_type::pub, kZapDomainPublish, endpoint);
  zmq::socket_t sub = subscriber(ctx, allowed, server.public_z85, endpoint);
  int received = 0;
  for (int i = 0; i < 100; ++i) {
    pub.send(zmq::str_buffer("event"), zmq::send_flags::dontwait);
    std::this_thread::sleep_for(10ms);
    received += drain(sub);
  }
  EXPECT_EQ(received, 0);
}

TEST_F(ZapRoundTrip, OneHandlerPerContextAndACleanStop) {
  auto auth = std::make_unique<ZapAuthenticator>(ctx);
  std::string e = error_of([&] { ZapAuthenticator second(ctx); });
  EXPECT_TRUE(contains(e, "inproc://zeromq.zap.01")) << e;
  auto start = std::chrono::steady_clock::now();
  auth.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  ZapAuthenticator again(ctx);  // the endpoint is free again
  EXPECT_EQ(again.counters("publish").accepted, 0u);
}

TEST(CurveMetrics, AuthCountersAreExported) {
  Report report;
  report.auth = {{"publish", AuthCounters{.accepted = 2, .refused = 7}}};
  std::string text = prometheus_text(report);
  EXPECT_TRUE(contains(text, "# TYPE sniffer_auth_total counter")) << text;
  EXPECT_TRUE(contains(text, "sniffer_auth_total{domain=\"publish\",result=\"accepted\"} 2\n")) << text;
  EXPECT_TRUE(contains(text, "sniffer_auth_total{domain=\"publish\",result=\"refused\"} 7\n")) << text;
  // Without CURVE: the family, no sample.
  text = prometheus_text(Report{});
  EXPECT_TRUE(contains(text, "# TYPE sniffer_auth_total counter")) << text;
  EXPECT_FALSE(contains(text, "sniffer_auth_total{")) << text;
}

}  // namespace
}  // namespace sniffer

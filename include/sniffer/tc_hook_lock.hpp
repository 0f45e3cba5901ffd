// The lock of sniffer's tc handle on one interface and direction (the clsact
// path), held by every sniffer that holds (or is attaching) its filter there:
// an abstract unix socket bound to "@sniffer-tc/<ifindex>/<direction>".
// Abstract names belong to the network namespace, the interface's, so every
// sniffer that can attach there sees it, whatever its pid or mount namespace
// (a container's /proc shows none of the processes outside); the kernel frees
// it when its holder dies, even SIGKILLed. It listens, so that a refused
// sniffer can learn who holds it (SO_PEERCRED: its pid in our pid namespace,
// 0 outside it, and its uid).
//
// Any local user may bind an abstract name, so the name alone proves nothing:
// a holder counts as a sniffer only when its socket belongs to root, to our
// own user or to the packaged unit's user "sniffer" (sock_diag's owner, read
// without a connection). Any other holder is a squatter: the sensor attaches
// without the lock and takes it once the squatter lets it go.
//
// Meanwhile it marks the hook with a name of its own, "@sniffer-tc/<ifindex>/
// <direction>/<random>", so that another sniffer (in another pid namespace,
// where /proc shows no process holding our filter) still learns that a live
// one is there: every sniffer looks for such marks before it attaches
// (sock_diag, which names each socket's owner: a squatter's marks are another
// user's and count for nothing). Two sniffers marking at once both see the
// other's mark and both refuse: never two on one hook.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace sniffer {

class TcHookLock {
 public:
  // Tries to take the lock; held() says whether it did.
  TcHookLock(std::uint32_t ifindex, bool ingress);
  ~TcHookLock();
  TcHookLock(const TcHookLock&) = delete;
  TcHookLock& operator=(const TcHookLock&) = delete;

  bool held() const { return fd_ >= 0; }
  bool marked() const { return mark_fd_ >= 0; }
  int error() const { return error_; }  // -errno of the last attempt (-EADDRINUSE: someone holds it)
  // Tries again when not held: true when it is held now (the mark goes).
  bool take();
  // Marks the hook as ours while a squatter holds the lock: 0 or -errno.
  int mark();
  // Another live sniffer's mark on this hook, as "uid U (@name)"; empty when
  // there is none. `error` is set (-errno) when the marks cannot be read.
  std::string other_mark(int& error) const;
  // Closes the connections of sniffers that asked who holds it, so that the
  // next ones can connect (called every second).
  void drain() const;
  std::string describe() const { return "@" + name_; }

  // Who holds it, when we do not.
  struct Holder {
    bool sniffer = true;  // a live sniffer, or one we cannot ask (taken as one: nothing is replaced)
    std::string who;      // "pid N (uid U)", "a process in another pid namespace (uid U)", ...
  };
  Holder holder() const;

 private:
  Holder asked() const;  // holder() where sock_diag cannot be read

  std::string name_;
  int fd_ = -1;
  int error_ = 0;
  std::string mark_name_;
  int mark_fd_ = -1;
};

}  // namespace sniffer

// The sniffer executable's accept() and accept4(): they replace glibc's for
// every caller in the process, libzmq's I/O threads included (an executable's
// definition comes first in the dynamic linker's search, and ld exports it
// because libzmq.so refers to it). See accept_guard.hpp for why.
#include <sys/socket.h>

#include "sniffer/accept_guard.hpp"

extern "C" int accept4(int fd, __SOCKADDR_ARG addr, socklen_t* __restrict len, int flags) {
  return sniffer::accept_keeping_headroom(fd, addr, len, flags, sniffer::kAcceptReserve);
}

extern "C" int accept(int fd, __SOCKADDR_ARG addr, socklen_t* __restrict len) {
  return sniffer::accept_keeping_headroom(fd, addr, len, 0, sniffer::kAcceptReserve);
}

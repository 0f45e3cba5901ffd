#include "sniffer/http_server.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>

#include <spdlog/spdlog.h>

#include "sniffer/error.hpp"
#include "sniffer/http_request.hpp"
#include "sniffer/tcp_listener.hpp"

namespace sniffer {

namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

struct HttpServer::Impl {
  enum class State { reading, writing, lingering };

  struct Conn {
    UniqueFd fd;
    State state = State::reading;
    Clock::time_point last_activity;
    Clock::time_point deadline;
    std::string in;
    std::string out;
    std::size_t sent = 0;
    bool ok = false;  // a 200 response: counted as served once written in full
    std::size_t discarded = 0;
  };

  std::map<std::string, Handler> routes;
  HttpLimits limits;
  UniqueFd listen_fd, epoll_fd, wake_fd;
  int port = 0;
  std::thread thread;
  std::map<int, Conn> conns;
  Clock::time_point accept_paused_until{};
  bool accept_paused = false;

  std::atomic<std::uint64_t> accepted{0}, served{0}, evicted{0}, request_timeout{0}, write_timeout{0},
      client_closed{0}, bad_request{0}, header_too_large{0}, not_found{0}, method_not_allowed{0}, internal_error{0},
      accept_errors{0},
      open{0};

  HttpServerStats snapshot() const;

  void watch(int fd, std::uint32_t events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_fd.get(), op, fd, &ev);
  }

  void close_conn(int fd) {
    ::epoll_ctl(epoll_fd.get(), EPOLL_CTL_DEL, fd, nullptr);
    conns.erase(fd);
    open = conns.size();
  }

  // Counts a connection that ends before its response was written in full,
  // and resets it: a plain close would leave the kernel holding (and
  // retrying) whatever a client that does not read left in the send buffer.
  void drop(int fd, std::atomic<std::uint64_t>& reason) {
    ++reason;
    linger abort{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof(abort));
    close_conn(fd);
  }

  // The cap is reached: a lingering connection (its response is complete)
  // goes first, else the one idle the longest.
  void evict_one() {
    auto victim = conns.end();
    for (auto it = conns.begin(); it != conns.end(); ++it) {
      if (victim == conns.end()) {
        victim = it;
        continue;
      }
      bool it_done = it->second.state == State::lingering, victim_done = victim->second.state == State::lingering;
      if (it_done != victim_done ? it_done : it->second.last_activity < victim->second.last_activity) victim = it;
    }
    if (victim == conns.end()) return;
    if (victim->second.state == State::lingering) {
      close_conn(victim->first);
    } else {
      drop(victim->first, evicted);
    }
  }

  void accept_all(Clock::time_point now) {
    // A few at a time, so the reads of those already accepted interleave.
    for (int i = 0; i < 16; ++i) {
      int fd = ::accept4(listen_fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        ++accept_errors;
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
        // Out of descriptors or memory: the pending connection stays queued
        // and the listener would poll readable in a loop, so pause accepting.
        accept_paused = true;
        accept_paused_until = now + std::chrono::milliseconds(100);
        watch(listen_fd.get(), 0, EPOLL_CTL_MOD);
        return;
      }
      while (conns.size() >= limits.max_connections && !conns.empty()) evict_one();
      Conn& c = conns[fd];
      c.fd = UniqueFd(fd);
      c.last_activity = now;
      c.deadline = now + limits.request_timeout;
      watch(fd, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_ADD);
      ++accepted;
      open = conns.size();
      // A scraper sends its request right after connecting: it is usually
      // here already, and answering it now means no later arrival can evict it.
      on_readable(fd, c, now);
    }
  }

  // Builds the response to a complete request head.
  std::string respond(std::string_view head, bool& ok) {
    ok = false;
    std::optional<HttpRequestLine> request = parse_http_request_line(head);
    if (!request) {
      ++bad_request;
      return http_error_response(400);
    }
    auto route = routes.find(std::string(request->path));
    if (route == routes.end()) {
      ++not_found;
      return http_error_response(404);
    }
    if (request->method != "GET" && request->method != "HEAD") {
      ++method_not_allowed;
      return http_error_response(405);
    }
    HttpResponse r;
    try {
      r = route->second(snapshot());
    } catch (const std::exception& e) {
      spdlog::error("HTTP server: handler of {}: {}", std::string(request->path), e.what());
      ++internal_error;
      return http_error_response(500);
    }
    ok = true;
    return http_response_text(200, r.content_type, r.body, request->method == "HEAD");
  }

  void start_writing(Conn& c, std::string response, bool ok, Clock::time_point now) {
    c.state = State::writing;
    c.out = std::move(response);
    c.sent = 0;
    c.ok = ok;
    c.in.clear();
    c.in.shrink_to_fit();
    c.deadline = now + limits.write_timeout;
    watch(c.fd.get(), EPOLLOUT, EPOLL_CTL_MOD);
  }

  void on_readable(int fd, Conn& c, Clock::time_point now) {
    char buf[4096];
    if (c.state == State::lingering) {
      // Read and discard until the client closes (bounded in bytes and time).
      for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n > 0) {
          c.discarded += static_cast<std::size_t>(n);
          if (c.discarded > 65536) return close_conn(fd);
          continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n < 0 && errno == EINTR) continue;
        return close_conn(fd);
      }
    }
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n <= 0) return drop(fd, client_closed);
      c.last_activity = now;
      // Look for the end of the head only in what could hold it: the new
      // bytes and the 3 before them.
      std::size_t from = c.in.size() > 3 ? c.in.size() - 3 : 0;
      c.in.append(buf, static_cast<std::size_t>(n));
      std::size_t end = http_head_end(c.in, from);
      if (end != std::string::npos) {
        if (end > limits.max_header_bytes) break;
        bool ok = false;
        std::string response = respond(std::string_view(c.in).substr(0, end), ok);
        start_writing(c, std::move(response), ok, now);
        return on_writable(fd, c, now);
      }
      if (c.in.size() > limits.max_header_bytes) break;
    }
    if (c.in.size() > limits.max_header_bytes) {
      ++header_too_large;
      start_writing(c, http_error_response(431), false, now);
      on_writable(fd, c, now);
    }
  }

  void on_writable(int fd, Conn& c, Clock::time_point now) {
    while (c.sent < c.out.size()) {
      ssize_t n = ::send(fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n <= 0) return drop(fd, client_closed);
      c.sent += static_cast<std::size_t>(n);
      c.last_activity = now;
    }
    if (c.ok) ++served;
    // Half-close and wait (briefly) for the client's close: closing with
    // unread request bytes would reset the connection and could destroy the
    // response in flight.
    ::shutdown(fd, SHUT_WR);
    c.state = State::lingering;
    c.out.clear();
    c.out.shrink_to_fit();
    c.deadline = now + limits.linger_timeout;
    watch(fd, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD);
  }

  void expire(Clock::time_point now) {
    for (auto it = conns.begin(); it != conns.end();) {
      int fd = it->first;
      State state = it->second.state;
      bool expired = it->second.deadline <= now;
      ++it;  // drop() erases fd
      if (!expired) continue;
      if (state == State::reading) {
        drop(fd, request_timeout);
      } else if (state == State::writing) {
        drop(fd, write_timeout);
      } else {
        close_conn(fd);
      }
    }
    if (accept_paused && accept_paused_until <= now) {
      accept_paused = false;
      watch(listen_fd.get(), EPOLLIN, EPOLL_CTL_MOD);
    }
  }

  int wait_ms(Clock::time_point now) const {
    Clock::time_point next = Clock::time_point::max();
    for (const auto& [fd, c] : conns) next = std::min(next, c.deadline);
    if (accept_paused) next = std::min(next, accept_paused_until);
    if (next == Clock::time_point::max()) return -1;
    if (next <= now) return 0;
    // Round up: waking a millisecond early would spin until the deadline.
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count() + 1;
    return static_cast<int>(std::min<long long>(ms, 60'000));
  }

  void run() {
    epoll_event events[64];
    for (;;) {
      int n = ::epoll_wait(epoll_fd.get(), events, 64, wait_ms(Clock::now()));
      Clock::time_point now = Clock::now();
      if (n < 0 && errno != EINTR) {  // cannot happen with valid descriptors
        spdlog::error("HTTP server on port {}: epoll_wait: {}; it stops serving", port, errno_text(errno));
        return;
      }
      for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        if (fd == wake_fd.get()) return;
        if (fd == listen_fd.get()) {
          accept_all(now);
          continue;
        }
        auto it = conns.find(fd);
        if (it == conns.end()) continue;  // closed earlier in this batch
        Conn& c = it->second;
        if (c.state == State::writing) {
          on_writable(fd, c, now);
        } else {
          on_readable(fd, c, now);
        }
      }
      expire(now);
    }
  }
};

HttpServer::HttpServer(const std::string& host, int port, std::map<std::string, Handler> routes, HttpLimits limits)
    : impl_(std::make_unique<Impl>()) {
  impl_->routes = std::move(routes);
  impl_->limits = limits;
  if (impl_->limits.max_connections == 0) impl_->limits.max_connections = 1;
  const std::string where = host + ":" + std::to_string(port);
  impl_->listen_fd = listen_tcp(host, port);
  impl_->port = local_port(impl_->listen_fd.get());
  impl_->epoll_fd = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
  impl_->wake_fd = UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (impl_->epoll_fd.get() < 0 || impl_->wake_fd.get() < 0) {
    throw Error("HTTP server on " + where + ": cannot create its epoll/eventfd: " + errno_text(errno));
  }
  impl_->watch(impl_->listen_fd.get(), EPOLLIN, EPOLL_CTL_ADD);
  impl_->watch(impl_->wake_fd.get(), EPOLLIN, EPOLL_CTL_ADD);
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

HttpServer::~HttpServer() {
  std::uint64_t one = 1;
  if (::write(impl_->wake_fd.get(), &one, sizeof(one)) < 0) {
    // An eventfd write only fails on overflow, which one write cannot reach.
  }
  if (impl_->thread.joinable()) impl_->thread.join();
}

int HttpServer::port() const { return impl_->port; }

HttpServerStats HttpServer::stats() const { return impl_->snapshot(); }

HttpServerStats HttpServer::Impl::snapshot() const {
  const Impl& i = *this;
  HttpServerStats s;
  s.accepted = i.accepted;
  s.served = i.served;
  s.evicted = i.evicted;
  s.request_timeout = i.request_timeout;
  s.write_timeout = i.write_timeout;
  s.client_closed = i.client_closed;
  s.bad_request = i.bad_request;
  s.header_too_large = i.header_too_large;
  s.not_found = i.not_found;
  s.method_not_allowed = i.method_not_allowed;
  s.internal_error = i.internal_error;
  s.accept_errors = i.accept_errors;
  s.open = i.open;
  return s;
}

}  // namespace sniffer

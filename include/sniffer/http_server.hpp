// A small HTTP/1.x server for the metrics endpoint: one thread, non-blocking
// sockets on epoll, and limits no client can get around.
//
// - Every request must be complete (request line and headers) within
//   request_timeout of its accept, however slowly or steadily it trickles in;
//   every response must be written within write_timeout. Neither resets on
//   progress.
// - At most max_connections at a time: a new connection evicts the one idle
//   the longest (a finished response still lingering first, then the least
//   recently active), so a crowd of slow clients cannot keep a scraper out.
// - Headers are capped at max_header_bytes; only GET and HEAD of the
//   configured paths are served (404, 405, 400, 431 otherwise; 500 if a
//   handler throws); every response
//   closes the connection.
// - Every connection that ends without its response, and every request that
//   is rejected, is counted by reason (stats()).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace sniffer {

struct HttpLimits {
  std::size_t max_connections = 64;
  std::chrono::milliseconds request_timeout{3000};  // accept -> end of the headers
  std::chrono::milliseconds write_timeout{5000};    // request complete -> last response byte sent
  std::chrono::milliseconds linger_timeout{1000};   // after the response: waiting for the client's close
  std::size_t max_header_bytes = 8192;              // request line and headers
};

struct HttpResponse {
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// A snapshot of the server's counters (monotonic) and its open connections.
struct HttpServerStats {
  std::uint64_t accepted = 0;
  std::uint64_t served = 0;  // 200 responses written in full
  // Connections closed before their response was written in full, by reason.
  std::uint64_t evicted = 0;          // the connection cap was reached, this one was idle the longest
  std::uint64_t request_timeout = 0;  // the request was not complete within request_timeout
  std::uint64_t write_timeout = 0;    // the response was not written within write_timeout
  std::uint64_t client_closed = 0;    // the client closed or reset the connection first
  // Requests answered with an error status, by reason.
  std::uint64_t bad_request = 0;         // 400: not an HTTP/1.x request line
  std::uint64_t header_too_large = 0;    // 431: headers over max_header_bytes
  std::uint64_t not_found = 0;           // 404
  std::uint64_t method_not_allowed = 0;  // 405: not GET or HEAD
  std::uint64_t internal_error = 0;      // 500: the handler threw (logged)
  std::uint64_t accept_errors = 0;       // accept() failed (e.g. out of file descriptors)
  std::uint64_t open = 0;                // connections open now (a gauge)
};

class HttpServer {
 public:
  // A handler gets the server's counters as of the request (to export them).
  using Handler = std::function<HttpResponse(const HttpServerStats&)>;

  // Binds HOST:PORT now (port 0: any free port; throws Error naming the
  // address and errno if it cannot) and serves from a background thread.
  // Handlers run on that thread, keyed by path (the query string is ignored).
  HttpServer(const std::string& host, int port, std::map<std::string, Handler> routes, HttpLimits limits = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;
  HttpServerStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sniffer

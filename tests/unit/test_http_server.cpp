// The metrics endpoint's HTTP server over loopback: routing and statuses, the
// whole-request deadline, the connection cap and its eviction order, the write
// deadline, and the counters of every drop. Short limits keep each test fast;
// time bounds in assertions are generous (this is not a speed test).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

#include "sniffer/http_server.hpp"
#include "sniffer/metrics.hpp"

namespace sniffer {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A blocking loopback client with a receive timeout.
class Client {
 public:
  explicit Client(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~Client() { ::close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }
  int fd() const { return fd_; }
  bool send(const std::string& data) { return ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == ssize_t(data.size()); }

  // Everything until the server closes (or the 5 s receive timeout).
  std::string read_all() {
    std::string out;
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }

  // True once the server closed the connection (EOF or reset) within `wait`;
  // false while it stays open. Discards what it reads.
  bool closed_within(std::chrono::milliseconds wait) {
    auto deadline = Clock::now() + wait;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
      if (n <= 0) return true;
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

std::string get(int port, const std::string& request) {
  Client c(port);
  EXPECT_TRUE(c.connected());
  c.send(request);
  return c.read_all();
}

// Waits (bounded) until pred(stats) holds; returns whether it did.
bool eventually(const HttpServer& server, const std::function<bool(const HttpServerStats&)>& pred,
                std::chrono::milliseconds wait = 5000ms) {
  auto deadline = Clock::now() + wait;
  while (Clock::now() < deadline) {
    if (pred(server.stats())) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred(server.stats());
}

std::map<std::string, HttpServer::Handler> hello_routes() {
  return {{"/metrics", [](const HttpServerStats&) {
             HttpResponse r;
             r.content_type = "text/plain; version=0.0.4";
             r.body = "hello 1\n";
             return r;
           }}};
}

TEST(HttpServer, ServesGetAndHeadOfTheRouteOnly) {
  HttpServer server("127.0.0.1", 0, hello_routes());
  ASSERT_GT(server.port(), 0);

  std::string ok = get(server.port(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(ok.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << ok;
  EXPECT_NE(ok.find("Content-Type: text/plain; version=0.0.4\r\n"), std::string::npos) << ok;
  EXPECT_NE(ok.find("Content-Length: 8\r\n"), std::string::npos) << ok;
  EXPECT_NE(ok.find("Connection: close\r\n"), std::string::npos) << ok;
  EXPECT_EQ(ok.substr(ok.size() - 8), "hello 1\n");

  // HTTP/1.0, a query string, bare LF line ends.
  EXPECT_EQ(get(server.port(), "GET /metrics?x=1 HTTP/1.0\n\n").rfind("HTTP/1.1 200", 0), 0u);

  std::string head = get(server.port(), "HEAD /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  EXPECT_NE(head.find("Content-Length: 8\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("hello"), std::string::npos) << "HEAD carries no body";

  EXPECT_EQ(get(server.port(), "GET / HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404", 0), 0u);
  std::string post = get(server.port(), "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(post.rfind("HTTP/1.1 405", 0), 0u) << post;
  EXPECT_NE(post.find("Allow: GET, HEAD\r\n"), std::string::npos) << post;
  EXPECT_EQ(get(server.port(), "hello\r\n\r\n").rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(get(server.port(), "GET /metrics SPDY/3\r\n\r\n").rfind("HTTP/1.1 400", 0), 0u);

  EXPECT_TRUE(eventually(server, [](const HttpServerStats& s) {
    return s.served == 3 && s.not_found == 1 && s.method_not_allowed == 1 && s.bad_request == 2 && s.accepted == 7;
  })) << "served " << server.stats().served;
  EXPECT_EQ(server.stats().evicted + server.stats().request_timeout + server.stats().client_closed, 0u);
}

TEST(HttpServer, HandlerSeesTheCounters) {
  HttpServer server("127.0.0.1", 0,
                    {{"/metrics", [](const HttpServerStats& s) {
                        HttpResponse r;
                        r.body = "served " + std::to_string(s.served) + "\n";
                        return r;
                      }}});
  EXPECT_NE(get(server.port(), "GET /metrics HTTP/1.1\r\n\r\n").find("served 0\n"), std::string::npos);
  ASSERT_TRUE(eventually(server, [](const HttpServerStats& s) { return s.served == 1; }));
  EXPECT_NE(get(server.port(), "GET /metrics HTTP/1.1\r\n\r\n").find("served 1\n"), std::string::npos);
}

TEST(HttpServer, AThrowingHandlerIsA500) {
  HttpServer server("127.0.0.1", 0,
                    {{"/metrics", [](const HttpServerStats&) -> HttpResponse { throw std::runtime_error("boom"); }}});
  EXPECT_EQ(get(server.port(), "GET /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 500", 0), 0u);
  EXPECT_TRUE(eventually(server, [](const HttpServerStats& s) { return s.internal_error == 1 && s.served == 0; }));
  // The server lives on.
  EXPECT_EQ(get(server.port(), "GET /x HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404", 0), 0u);
}

TEST(HttpServer, OversizedHeadersAreRejected) {
  HttpLimits limits;
  limits.max_header_bytes = 1024;
  HttpServer server("127.0.0.1", 0, hello_routes(), limits);
  std::string big = "GET /metrics HTTP/1.1\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n";
  EXPECT_EQ(get(server.port(), big).rfind("HTTP/1.1 431", 0), 0u);
  // Just under the cap is fine.
  std::string fits = "GET /metrics HTTP/1.1\r\nX-Fit: " + std::string(900, 'a') + "\r\n\r\n";
  EXPECT_EQ(get(server.port(), fits).rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_TRUE(eventually(server, [](const HttpServerStats& s) { return s.header_too_large == 1 && s.served == 1; }));
}

TEST(HttpServer, TricklingHeadersHitTheWholeRequestDeadline) {
  HttpLimits limits;
  limits.request_timeout = 300ms;
  HttpServer server("127.0.0.1", 0, hello_routes(), limits);
  Client slow(server.port());
  ASSERT_TRUE(slow.send("GET /metrics HTTP/1.1\r\n"));
  // One header line every 50 ms: progress, but the deadline runs from accept.
  auto start = Clock::now();
  bool closed = false;
  for (int i = 0; i < 100 && !closed; ++i) {
    slow.send("X-Slow-" + std::to_string(i) + ": y\r\n");
    closed = slow.closed_within(50ms);
  }
  EXPECT_TRUE(closed) << "still open after 5 s of trickling";
  EXPECT_LT(Clock::now() - start, 3s);
  EXPECT_TRUE(eventually(server, [](const HttpServerStats& s) { return s.request_timeout == 1 && s.open == 0; }));
  // An idle connection that sends nothing gets the same.
  Client idle(server.port());
  EXPECT_TRUE(idle.closed_within(3000ms));
  EXPECT_TRUE(eventually(server, [](const HttpServerStats& s) { return s.request_timeout == 2; }));
}

TEST(HttpServer, TheCapEvictsTheConnectionIdleTheLongest) {
  HttpLimits limits;
  limits.max_connections = 4;
  limits.request_timeout = 30s;  // only the cap closes anything here
  HttpServer server("127.0.0.1", 0, hello_routes(), limits);
  std::vector<std::unique_ptr<Client>> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(std::make_unique<Client>(server.port()));
    ASSERT_TRUE(eventually(server, [i](const HttpServerStats& s) { return s.open == std::uint64_t(i + 1); }));
    std::this_thread::sleep_for(10ms);
  }
  // The first one shows activity: the second is now the idlest.
  ASSERT_TRUE(held[0]->send("GET /metrics HTTP/1.1\r\n"));
  std::this_thread::sleep_for(100ms);

  std::string ok = get(server.port(), "GET /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(ok.rfind("HTTP/1.1 200", 0), 0u) << ok;
  EXPECT_TRUE(held[1]->closed_within(2000ms)) << "the idlest connection was not evicted";
  EXPECT_FALSE(held[0]->closed_within(100ms));
  EXPECT_FALSE(held[2]->closed_within(10ms));
  EXPECT_FALSE(held[3]->closed_within(10ms));
  EXPECT_TRUE(eventually(server, [](const HttpServerStats& s) { return s.evicted == 1 && s.served == 1; }));
  EXPECT_LE(server.stats().open, 4u);
}

TEST(HttpServer, ManyIdleConnectionsCannotKeepAScrapeOut) {
  HttpLimits limits;
  limits.max_connections = 8;
  limits.request_timeout = 30s;
  HttpServer server("127.0.0.1", 0, hello_routes(), limits);
  std::vector<std::unique_ptr<Client>> held;
  for (int i = 0; i < 40; ++i) held.push_back(std::make_unique<Client>(server.port()));
  for (int i = 0; i < 5; ++i) {
    std::string ok = get(server.port(), "GET /metrics HTTP/1.1\r\n\r\n");
    EXPECT_EQ(ok.rfind("HTTP/1.1 200", 0), 0u) << ok;
  }
  EXPECT_TRUE(eventually(server, [](const HttpServerStats& s) { return s.served == 5 && s.evicted >= 40 - 8; }));
  EXPECT_LE(server.stats().open, 8u);
}

TEST(HttpServer, AClientThatDoesNotReadHitsTheWriteDeadline) {
  HttpLimits limits;
  limits.write_timeout = 300ms;
  const std::string body(16 << 20, 'x');  // far more than the socket buffers hold
  HttpServer server("127.0.0.1", 0, {{"/metrics", [&body](const HttpServerStats&) {
                                        HttpResponse r;
                                        r.body = body;
                                        return r;
                                      }},
                                     {"/small", [](const HttpServerStats&) { return HttpResponse{}; }}},
                    limits);
  Client stuck(server.port());
  int small = 4096;
  ::setsockopt(stuck.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  ASSERT_TRUE(stuck.send("GET /metrics HTTP/1.1\r\n\r\n"));
  // Meanwhile the one thread still answers others.
  EXPECT_EQ(get(server.port(), "GET /small HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200", 0), 0u);
  auto start = Clock::now();
  EXPECT_TRUE(eventually(server, [](const HttpServerStats& s) { return s.write_timeout == 1; }));
  EXPECT_LT(Clock::now() - start, 3s) << "the write deadline is 300 ms";
  EXPECT_EQ(server.stats().served, 1u);
  EXPECT_TRUE(stuck.closed_within(3000ms));
}

TEST(HttpServer, ClientsThatCloseFirstAreCounted) {
  HttpServer server("127.0.0.1", 0, hello_routes());
  {
    Client c(server.port());
    c.send("GET /metr");
  }
  EXPECT_TRUE(eventually(server, [](const HttpServerStats& s) { return s.client_closed == 1 && s.open == 0; }));
}

TEST(HttpServer, StopsWithConnectionsOpen) {
  auto server = std::make_unique<HttpServer>("127.0.0.1", 0, hello_routes());
  Client a(server->port()), b(server->port());
  a.send("GET /metrics HTTP/1.1\r\n");
  ASSERT_TRUE(eventually(*server, [](const HttpServerStats& s) { return s.open == 2; }));
  auto start = Clock::now();
  server.reset();
  EXPECT_LT(Clock::now() - start, 2s);
  EXPECT_TRUE(a.closed_within(1000ms));
  EXPECT_TRUE(b.closed_within(1000ms));
}

TEST(HttpServer, BindErrorsNameTheAddress) {
  HttpServer first("127.0.0.1", 0, hello_routes());
  try {
    HttpServer second("127.0.0.1", first.port(), hello_routes());
    FAIL() << "bound a port already in use";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("cannot bind 127.0.0.1:" + std::to_string(first.port())), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(HttpServer("no.such.host.invalid", 0, hello_routes()), std::exception);
}

TEST(MetricsServer, ScrapeAppendsTheEndpointsOwnCounters) {
  MetricsServer metrics("127.0.0.1:0");
  metrics.update("sniffer_flows_active 3\n");
  std::string text = get(metrics.port(), "GET /metrics HTTP/1.1\r\n\r\n");
  EXPECT_NE(text.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\r\n\r\nsniffer_flows_active 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\n# TYPE sniffer_metrics_http_connections_dropped_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("\nsniffer_metrics_http_connections_dropped_total{reason=\"request_timeout\"} 0\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\nsniffer_metrics_http_connections_open 1\n"), std::string::npos) << text;
  get(metrics.port(), "GET /nope HTTP/1.1\r\n\r\n");
  text = get(metrics.port(), "GET /metrics HTTP/1.1\r\n\r\n");
  EXPECT_NE(text.find("\nsniffer_metrics_http_requests_rejected_total{reason=\"not_found\"} 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("\nsniffer_metrics_http_requests_served_total 1\n"), std::string::npos) << text;
}

TEST(MetricsServer, EndpointCountersRenderEveryReason) {
  HttpServerStats s;
  s.evicted = 2;
  s.write_timeout = 3;
  s.header_too_large = 4;
  s.accept_errors = 5;
  std::string text = http_server_text(s);
  for (const char* line :
       {"# TYPE sniffer_metrics_http_connections_accepted_total counter\n",
        "# TYPE sniffer_metrics_http_connections_open gauge\n",
        "sniffer_metrics_http_connections_dropped_total{reason=\"evicted\"} 2\n",
        "sniffer_metrics_http_connections_dropped_total{reason=\"request_timeout\"} 0\n",
        "sniffer_metrics_http_connections_dropped_total{reason=\"write_timeout\"} 3\n",
        "sniffer_metrics_http_connections_dropped_total{reason=\"client_closed\"} 0\n",
        "sniffer_metrics_http_requests_rejected_total{reason=\"bad_request\"} 0\n",
        "sniffer_metrics_http_requests_rejected_total{reason=\"not_found\"} 0\n",
        "sniffer_metrics_http_requests_rejected_total{reason=\"method_not_allowed\"} 0\n",
        "sniffer_metrics_http_requests_rejected_total{reason=\"header_too_large\"} 4\n",
        "sniffer_metrics_http_requests_rejected_total{reason=\"internal_error\"} 0\n",
        "sniffer_metrics_http_accept_errors_total 5\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
}

}  // namespace
}  // namespace sniffer

// The HTTP/1.x text of the metrics endpoint's server (http_server.cpp): where
// a request head ends, its request line, the responses. No I/O here.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sniffer {

// Where the request head ends (after its empty line), or npos; the search
// starts at `from` (an empty line cannot start earlier than what is new).
std::size_t http_head_end(const std::string& in, std::size_t from);

// A request line "METHOD TARGET HTTP/1.x"; views into the head it came from.
struct HttpRequestLine {
  std::string_view method;
  std::string_view path;  // the target without its query string
};

// The request line of a complete request head; nullopt when it is not an
// HTTP/1.x request line.
std::optional<HttpRequestLine> parse_http_request_line(std::string_view head);

// A whole response, which closes the connection; a HEAD request's (`head`)
// has no body.
std::string http_response_text(int status, const std::string& content_type, const std::string& body, bool head);

// A plain-text response naming `status` (400, 404, 405, 431, 500).
std::string http_error_response(int status);

}  // namespace sniffer

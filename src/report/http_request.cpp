#include "sniffer/http_request.hpp"

namespace sniffer {

namespace {

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    default: return "Error";
  }
}

}  // namespace

std::size_t http_head_end(const std::string& in, std::size_t from) {
  for (std::size_t p = in.find('\n', from); p != std::string::npos; p = in.find('\n', p + 1)) {
    if (p + 1 < in.size() && in[p + 1] == '\n') return p + 2;
    if (p + 2 < in.size() && in[p + 1] == '\r' && in[p + 2] == '\n') return p + 3;
  }
  return std::string::npos;
}

std::optional<HttpRequestLine> parse_http_request_line(std::string_view head) {
  auto eol = head.find('\n');
  std::string_view line = head.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  auto sp1 = line.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || sp1 == 0 || sp2 == sp1 + 1 ||
      line.substr(sp2 + 1).rfind("HTTP/1.", 0) != 0 || line.substr(sp2 + 1).size() != 8) {
    return std::nullopt;
  }
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  return HttpRequestLine{.method = line.substr(0, sp1), .path = target.substr(0, target.find('?'))};
}

std::string http_response_text(int status, const std::string& content_type, const std::string& body, bool head) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + ' ' + reason_phrase(status) +
                    "\r\nContent-Type: " + content_type + "\r\nContent-Length: " + std::to_string(body.size()) +
                    "\r\nConnection: close\r\n";
  if (status == 405) out += "Allow: GET, HEAD\r\n";
  out += "\r\n";
  if (!head) out += body;
  return out;
}

std::string http_error_response(int status) {
  return http_response_text(status, "text/plain; charset=utf-8", std::string(reason_phrase(status)) + "\n", false);
}

}  // namespace sniffer

#include "proxy/admin.h"

namespace gangway::proxy {
namespace {

std::string Response(int code, std::string_view reason, std::string_view type,
                     std::string_view body) {
  std::string out = "HTTP/1.0 " + std::to_string(code) + " " + std::string(reason) + "\r\n";
  out += "Content-Type: " + std::string(type) + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "Connection: close\r\n\r\n";
  out += body;
  return out;
}

}  // namespace

std::string HandleAdminRequest(std::string_view head, const std::function<RuntimeStats()>& stats,
                               bool ready) {
  size_t eol = head.find("\r\n");
  if (eol == std::string_view::npos) {
    return Response(431, "Request Header Fields Too Large", "text/plain", "request too large\n");
  }
  std::string_view line = head.substr(0, eol);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) {
    return Response(400, "Bad Request", "text/plain", "malformed request line\n");
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  target = target.substr(0, target.find('?'));
  if (target != "/stats" && target != "/ready") {
    return Response(404, "Not Found", "text/plain", "not found\n");
  }
  if (method != "GET") {
    return Response(405, "Method Not Allowed", "text/plain", "method not allowed\n");
  }
  if (target == "/ready") {
    return ready ? Response(200, "OK", "text/plain", "LIVE\n")
                 : Response(503, "Service Unavailable", "text/plain", "NOT READY\n");
  }
  return Response(200, "OK", "application/json", StatsJson(stats()));
}

}  // namespace gangway::proxy

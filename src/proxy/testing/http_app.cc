#include "proxy/testing/http_app.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <stdexcept>

#include "proxy/testing/harness.h"

namespace gangway::proxy::testing {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Reads from `fd` into `buf` until it holds `needle` (position returned) or the socket ends.
size_t ReadUntil(int fd, std::string& buf, std::string_view needle) {
  for (;;) {
    size_t at = buf.find(needle);
    if (at != std::string::npos) return at;
    char chunk[4096];
    ssize_t n = ::read(fd, chunk, sizeof(chunk));
    if (n <= 0) return std::string::npos;
    buf.append(chunk, static_cast<size_t>(n));
  }
}

bool ReadAtLeast(int fd, std::string& buf, size_t n) {
  while (buf.size() < n) {
    char chunk[4096];
    ssize_t got = ::read(fd, chunk, sizeof(chunk));
    if (got <= 0) return false;
    buf.append(chunk, static_cast<size_t>(got));
  }
  return true;
}

// "Name: value" lines after the first line of `head`.
std::multimap<std::string, std::string> ParseHeaders(const std::string& head,
                                                     std::string* first_line) {
  std::multimap<std::string, std::string> out;
  size_t start = 0;
  bool first = true;
  while (start < head.size()) {
    size_t end = head.find("\r\n", start);
    if (end == std::string::npos) end = head.size();
    std::string line = head.substr(start, end - start);
    start = end + 2;
    if (first) {
      *first_line = line;
      first = false;
      continue;
    }
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    out.emplace(Lower(line.substr(0, colon)), value);
  }
  return out;
}

std::string ReasonOf(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 404:
      return "Not Found";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

}  // namespace

HttpApp::HttpApp(Handler handler)
    : handler_(std::move(handler)), server_([this](int fd) { Session(fd); }, "http app") {}

void HttpApp::Session(int fd) {
  std::string buf;
  for (;;) {
    size_t end = ReadUntil(fd, buf, "\r\n\r\n");
    if (end == std::string::npos) break;
    AppRequest req;
    std::string line;
    req.headers = ParseHeaders(buf.substr(0, end), &line);
    size_t sp1 = line.find(' ');
    size_t sp2 = line.rfind(' ');
    req.method = line.substr(0, sp1);
    req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    buf.erase(0, end + 4);
    size_t length = 0;
    if (auto it = req.headers.find("content-length"); it != req.headers.end()) {
      length = std::stoul(it->second);
    }
    if (!ReadAtLeast(fd, buf, length)) break;
    req.body = buf.substr(0, length);
    buf.erase(0, length);
    AppResponse res = handler_(req);
    std::string out =
        "HTTP/1.1 " + std::to_string(res.status) + " " + ReasonOf(res.status) + "\r\n";
    for (const auto& [name, value] : res.headers) out += name + ": " + value + "\r\n";
    out += "Content-Length: " + std::to_string(res.body.size()) + "\r\n\r\n" + res.body;
    if (!WriteAll(fd, out)) break;
  }
  ::shutdown(fd, SHUT_WR);
}

std::string HttpReply::Header(const std::string& name) const {
  auto it = headers.find(Lower(name));
  return it == headers.end() ? std::string() : it->second;
}

HttpReply Exchange(int fd, const std::string& raw) {
  HttpReply reply;
  if (!WriteAll(fd, raw)) return reply;
  std::string buf;
  size_t end = ReadUntil(fd, buf, "\r\n\r\n");
  if (end == std::string::npos) return reply;
  std::string line;
  auto headers = ParseHeaders(buf.substr(0, end), &line);
  buf.erase(0, end + 4);
  std::string body;
  auto te = headers.find("transfer-encoding");
  if (te != headers.end() && Lower(te->second) == "chunked") {
    for (;;) {
      size_t eol = ReadUntil(fd, buf, "\r\n");
      if (eol == std::string::npos) return reply;
      size_t size = std::stoul(buf.substr(0, eol), nullptr, 16);
      buf.erase(0, eol + 2);
      if (!ReadAtLeast(fd, buf, size + 2)) return reply;
      body += buf.substr(0, size);
      buf.erase(0, size + 2);
      if (size == 0) break;
    }
  } else {
    size_t length = 0;
    if (auto it = headers.find("content-length"); it != headers.end()) {
      length = std::stoul(it->second);
    }
    if (!ReadAtLeast(fd, buf, length)) return reply;
    body = buf.substr(0, length);
  }
  reply.status = std::stoi(line.substr(line.find(' ') + 1, 3));
  reply.headers = std::move(headers);
  reply.body = std::move(body);
  return reply;
}

std::string Get(const std::string& target, const std::string& extra) {
  return "GET " + target + " HTTP/1.1\r\nHost: api\r\n" + extra + "\r\n";
}

}  // namespace gangway::proxy::testing

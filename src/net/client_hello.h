// Reads a TLS ClientHello from the first bytes of a connection without decrypting anything, so a
// gateway can route by SNI (docs/proxy.md, "Reading the SNI"). Pure functions and plain values;
// any thread. Knows nothing of sockets: the caller buffers bytes and asks again when told to.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gangway::net {

// Bounds on what a peer may make us buffer before we give up on it.
struct HelloLimits {
  // The ClientHello handshake message, its 4-byte handshake header included: one full record's
  // worth of body. Browsers' hellos, post-quantum key shares included, stay under 2 KiB.
  size_t max_hello_bytes = 16 * 1024 + 4;
  // Records the message may be fragmented across. Bounds the record-header overhead and the
  // work on a stream of tiny records; 64 still admits 256-byte fragments of a 16 KiB hello.
  size_t max_records = 64;
};

// Why bytes were refused. Append-only: the proxy counts refusals by these names.
enum class HelloError {
  kNotHandshake,        // the first record is not a TLS handshake record (plaintext, garbage)
  kSslv2,               // an SSLv2-style (or SSLv2-compatible) ClientHello
  kBadRecord,           // record layer: version not 3.x, empty or over-long record, or another
                        // record type interleaved before the ClientHello is complete
  kNotClientHello,      // the first handshake message is not a ClientHello
  kBadLength,           // a length field disagrees with its container, or bytes follow the hello
  kTooLarge,            // over HelloLimits
  kDuplicateExtension,  // an extension type appears twice (RFC 8446 §4.2)
  kBadServerName,       // server_name: empty, malformed, not a DNS host name, two host names
  kBadExtension,        // ALPN or supported_versions content that breaks its RFC's rules
};

// A stable lower_snake name for counters and logs, e.g. "bad_server_name".
std::string_view HelloErrorName(HelloError e);

struct ClientHello {
  // The host_name of the server_name extension, lowercased (DNS names compare without case, so
  // a router may compare bytes). Empty when the client sent no server_name extension.
  std::string sni;
  // ALPN protocol names in the client's order of preference; empty without the extension.
  std::vector<std::string> alpn;
  // ClientHello.legacy_version, e.g. 0x0303.
  uint16_t legacy_version = 0;
  // The supported_versions extension in the client's order, GREASE values included; empty
  // without the extension (then legacy_version is the only version offered).
  std::vector<uint16_t> supported_versions;
  // Bytes of the stream through the end of the last record carrying the hello, and how many
  // records that was. The gateway forwards these bytes unchanged.
  size_t consumed = 0;
  size_t records = 0;

  // The highest version offered, ignoring GREASE (RFC 8701): from supported_versions when
  // present, else legacy_version.
  uint16_t HighestVersion() const;
};

struct PeekResult {
  enum class Kind { kNeedMore, kOk, kError };
  Kind kind = Kind::kNeedMore;
  // kNeedMore: call again once at least this many bytes (in total, from the start of the stream)
  // are buffered. Always more than the bytes given.
  size_t need_at_least = 0;
  ClientHello hello;                             // kOk
  HelloError error = HelloError::kNotHandshake;  // kError
  std::string message;                           // kError: one line for logs

  bool ok() const { return kind == Kind::kOk; }
  bool need_more() const { return kind == Kind::kNeedMore; }
};

// Looks at the first bytes of a connection. Returns kError as soon as the bytes seen so far cannot
// begin a valid ClientHello, kNeedMore while they could, kOk once the whole ClientHello is there.
// Bytes after `consumed` (e.g. early data) are not looked at.
PeekResult ParseClientHello(std::span<const uint8_t> bytes, const HelloLimits& limits = {});

// RFC 6066 §3 HostName rules plus DNS syntax: 1-255 bytes of letters, digits, '-' and '_' in
// dot-separated labels of 1-63 bytes, no label starting or ending with '-', no trailing dot, and
// not an IPv4 literal (a last label of digits only). Case is not checked.
bool IsValidSniHostName(std::string_view name);

}  // namespace gangway::net

"""A gRPC health server (grpc.health.v1.Health/Check) for check tests, without generated code.

The two messages are coded by hand, as the agent codes them:
  HealthCheckRequest  { string service = 1; }
  HealthCheckResponse { ServingStatus status = 1; }   0 UNKNOWN, 1 SERVING, 2 NOT_SERVING,
                                                      3 SERVICE_UNKNOWN
Statuses per service name ("" is the server as a whole) are set with set_status(); a service
with no status answers NOT_FOUND "unknown service", as grpc's own health servicer does. Listens
on 127.0.0.1:0, in h2c, or over TLS with the given key and certificate (PEM bytes). Runs in the
test's process on grpc's threads; stop() closes the port.

Needs Debian's python3-grpcio; `grpc is None` when it is not installed (tests skip then).
"""

import threading
from concurrent import futures

try:
    import grpc
except ImportError:  # the tests that need it skip, saying why
    grpc = None

UNKNOWN, SERVING, NOT_SERVING, SERVICE_UNKNOWN = 0, 1, 2, 3


def _read_varint(data, pos):
    value, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def _varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def decode_request(data):
    """The `service` of a HealthCheckRequest (unknown fields skipped)."""
    service, pos = "", 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _read_varint(data, pos)
        elif wire == 2:
            n, pos = _read_varint(data, pos)
            if field == 1:
                service = data[pos:pos + n].decode("utf-8")
            pos += n
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError("unsupported wire type %d" % wire)
    return service


def encode_response(status):
    return b"" if status == UNKNOWN else b"\x08" + _varint(status)


class GrpcHealthServer:
    def __init__(self, tls_key=None, tls_cert=None):
        if grpc is None:
            raise RuntimeError("python3-grpcio is not installed")
        self._lock = threading.Lock()
        self._statuses = {"": SERVING}
        self.calls = 0
        handler = grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
            "Check": grpc.unary_unary_rpc_method_handler(
                self._check, request_deserializer=decode_request,
                response_serializer=encode_response),
        })
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[handler])
        if tls_key is not None:
            creds = grpc.ssl_server_credentials([(tls_key, tls_cert)])
            self.port = self._server.add_secure_port("127.0.0.1:0", creds)
        else:
            self.port = self._server.add_insecure_port("127.0.0.1:0")
        if not self.port:
            raise RuntimeError("grpc server could not bind 127.0.0.1:0")
        self.addr = "127.0.0.1:%d" % self.port
        self._server.start()
        self._stopped = False

    def _check(self, service, context):
        with self._lock:
            self.calls += 1
            status = self._statuses.get(service)
        if status is None:
            context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        return status

    def set_status(self, service, status):
        with self._lock:
            self._statuses[service] = status

    def stop(self):
        if not self._stopped:
            self._stopped = True
            self._server.stop(None).wait(10)

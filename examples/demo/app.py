#!/usr/bin/env python3
"""A tiny HTTP app for the demo: answers every GET with its service name, datacenter and path.

Usage: app.py NAME DATACENTER PORT   (listens on 127.0.0.1:PORT)
"""
import http.server
import sys


def main():
    name, dc, port = sys.argv[1], sys.argv[2], int(sys.argv[3])

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = ("hello from %s in %s: %s %s\n" % (name, dc, self.command, self.path)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):
            sys.stderr.write("%s: %s\n" % (name, fmt % args))

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()

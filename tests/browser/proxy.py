"""A plain reverse proxy in front of the gateway, for the browser tests.

The gateway serves the registration page itself (`/`, `/assets/*`, `/messages/*`,
`/config.json`) besides its API, and its `public_origin` must be the page's origin. The
tests start every program on port 0, so the gateway's own address is known only once it
runs; this proxy listens first (port 0 too), its origin becomes the gateway's
`public_origin`, and then it forwards there, the way a TLS-terminating proxy stands in
front of a real deployment.

It is a pure reverse proxy: every method and path goes to the gateway; the status, the
headers (the Content-Security-Policy and the other security headers included) and the
body come back as the gateway sent them. Only hop-by-hop headers (RFC 9110 §7.6.1) are
dropped, both ways (a chunked body is passed on with its length); the request's Host is
kept. It adds nothing and serves nothing of its own, except a `502` when the gateway
cannot be reached.

    python3 tests/browser/proxy.py --upstream http://127.0.0.1:8080 [--listen 127.0.0.1:0]

prints `kyso-proxy listening on http://ADDR` and serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import http.client
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Hop-by-hop headers, plus those a Connection header names (RFC 9110 §7.6.1).
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "transfer-encoding", "upgrade",
})
# Long polls wait up to ~25 s upstream; anything slower than this is a failure.
UPSTREAM_TIMEOUT = 120


def hop_by_hop(headers) -> set[str]:
    """The hop-by-hop header names of a message: the fixed ones and those its Connection
    header lists."""
    names = set(HOP_BY_HOP)
    for value in headers.get_all("Connection") or []:
        names.update(token.strip().lower() for token in value.split(",") if token.strip())
    return names


class ReverseProxy:
    """The proxy, served on a background thread. `upstream` may be changed while it runs
    (the gateway restarts on a new port when its configuration changes)."""

    def __init__(self, listen: str = "127.0.0.1:0", upstream: str | None = None):
        host, port = listen.rsplit(":", 1)
        self.upstream = upstream
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self.httpd = ThreadingHTTPServer((host.strip("[]"), int(port)), Handler)
        self.httpd.daemon_threads = True
        addr, bound_port = self.httpd.server_address[:2]
        self.url = f"http://{addr}:{bound_port}"
        self.thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        return self.url

    def start(self) -> "ReverseProxy":
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="kyso-proxy", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    owner: ReverseProxy
    protocol_version = "HTTP/1.1"  # keep-alive to the browser, like a real proxy
    server_version = "kyso-proxy"
    sys_version = ""

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers: dropped (hop-by-hop framing)
                    return bytes(body)
                body += self.rfile.read(size)
                self.rfile.readline()
        length = self.headers.get("Content-Length")
        return self.rfile.read(int(length)) if length else None

    def _bad_gateway(self, reason: str) -> None:
        body = f"502 Bad Gateway: {reason}\n".encode()
        self.send_response(502)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _forward(self) -> None:
        upstream = self.owner.upstream
        if not upstream:
            self._bad_gateway("no upstream")
            return
        target = urllib.parse.urlsplit(upstream)
        body = self._read_body()
        drop = hop_by_hop(self.headers) | {"content-length"}
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in drop]
        if body is not None:
            headers.append(("Content-Length", str(len(body))))
        try:
            conn = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=UPSTREAM_TIMEOUT)
            try:
                # skip_host: the client's Host goes through unchanged.
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    conn.putheader(name, value)
                conn.endheaders(body)
                answer = conn.getresponse()
                data = answer.read()  # de-chunked when the gateway chunked it
            finally:
                conn.close()
        except (OSError, http.client.HTTPException) as e:
            self._bad_gateway(f"{upstream}: {e}")
            return
        drop = hop_by_hop(answer.headers)
        self.send_response_only(answer.status, answer.reason)
        length_given = False
        for name, value in answer.headers.items():
            if name.lower() in drop:
                continue
            length_given |= name.lower() == "content-length"
            self.send_header(name, value)
        bodyless = self.command == "HEAD" or answer.status in (204, 304) or 100 <= answer.status < 200
        if not length_given and not bodyless:
            self.send_header("Content-Length", str(len(data)))  # the gateway chunked it
        self.end_headers()
        if not bodyless:
            self.wfile.write(data)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _forward


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--upstream", required=True, help="the gateway's URL, e.g. http://127.0.0.1:8080")
    args = parser.parse_args()
    proxy = ReverseProxy(args.listen, args.upstream)
    print(f"kyso-proxy listening on {proxy.url}", flush=True)
    try:
        proxy.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

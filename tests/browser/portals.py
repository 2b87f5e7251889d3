"""Two provincial portals that sign people in through kyso's OpenID Provider, built from
parts nobody here wrote: Apache httpd with mod_auth_openidc (Debian's packages) protects
`/protected/` on each, and passes the claims it received, as request headers, to a tiny
page that shows them.

Portal A listens on 127.0.0.1, portal B on localhost: two hosts, so the browser keeps
their cookies apart, as it would for two real portals. Both use the authorization code
flow with PKCE and client_secret_basic, RP-initiated logout and back-channel logout.
"""

from __future__ import annotations

import html
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

APACHE = os.environ.get("KYSO_APACHE", "/usr/sbin/apache2")
MODULES = Path("/usr/lib/apache2/modules")
CLAIM_PREFIX = "oidc_claim_"


@dataclass
class Portal:
    """One portal: its client at the provider and where it listens."""

    key: str  # "a" or "b": also its path on the claims page
    name: str
    client_id: str
    secret: str
    host: str
    port: int
    scope: str

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def redirect_uri(self) -> str:
        return f"{self.origin}/protected/redirect_uri"

    @property
    def logged_out_uri(self) -> str:
        return f"{self.origin}/loggedout"

    @property
    def backchannel_uri(self) -> str:
        return f"{self.redirect_uri}?logout=backchannel"

    def logout_link(self) -> str:
        """mod_auth_openidc's logout: its own session, then the provider's end_session."""
        from urllib.parse import quote
        return f"{self.redirect_uri}?logout={quote(self.logged_out_uri, safe='')}"

    def client_toml(self) -> str:
        return (
            "[[oidc.clients]]\n"
            f'id = "{self.client_id}"\nname = "{self.name}"\nsecret = "{self.secret}"\n'
            f'redirect_uris = ["{self.redirect_uri}"]\n'
            f'post_logout_redirect_uris = ["{self.logged_out_uri}"]\n'
            f'backchannel_logout_uri = "{self.backchannel_uri}"\n'
            "scopes = [" + ", ".join(f'"{s}"' for s in self.scope.split()) + "]\n"
            f'sector = "portal-{self.key}.test"\n'
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_portals() -> list[Portal]:
    return [
        Portal("a", "Cổng Dịch vụ công tỉnh A (thử nghiệm)", "portal-a", secrets.token_urlsafe(32),
               "127.0.0.1", free_port(), "openid profile vn_identity"),
        Portal("b", "Cổng Bộ B (thử nghiệm)", "portal-b", secrets.token_urlsafe(32),
               "localhost", free_port(), "openid vn_identity"),
    ]


class ClaimsPage:
    """The page behind each portal: `/<key>/protected/…` lists the OIDC_CLAIM_* headers
    mod_auth_openidc passed; `/<key>/loggedout` says the portal logged the person out."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                key, _, rest = self.path.lstrip("/").partition("/")
                if rest.startswith("protected"):
                    rows = "".join(
                        f'<dt>{html.escape(name[len(CLAIM_PREFIX):])}</dt>'
                        f'<dd data-claim="{html.escape(name[len(CLAIM_PREFIX):])}">{html.escape(value)}</dd>'
                        for name, value in sorted(self.headers.items())
                        if name.lower().startswith(CLAIM_PREFIX)
                    )
                    body = f'<h1 data-testid="portal">Portal {html.escape(key)}</h1><dl>{rows}</dl>'
                else:
                    body = f'<h1 data-testid="portal-logged-out">Portal {html.escape(key)}: logged out</h1>'
                data = f"<!doctype html><html><body>{body}</body></html>".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Apache:
    """httpd with mod_auth_openidc in front of the claims page, one virtual host per
    portal; its configuration, logs and state in workdir."""

    def __init__(self, workdir: Path, issuer: str, portals: list[Portal], backend: str, log_dir: Path):
        self.workdir = workdir
        self.log_path = log_dir / "apache-portals.log"
        run = workdir / "run"
        run.mkdir(parents=True, exist_ok=True)
        modules = ["mpm_event", "authz_core", "authz_user", "authn_core", "auth_openidc", "proxy", "proxy_http"]
        lines = [
            f'ServerRoot "{workdir}"',
            f'DefaultRuntimeDir "{run}"',
            f'PidFile "{run}/httpd.pid"',
            f'ErrorLog "{self.log_path}"',
            "LogLevel warn auth_openidc:info",
            "ServerName 127.0.0.1",
            *[f"LoadModule {m}_module {MODULES}/mod_{m}.so" for m in modules],
            *[f"Listen 127.0.0.1:{p.port}" for p in portals],
            f"OIDCCryptoPassphrase {secrets.token_urlsafe(24)}",
            f"OIDCProviderMetadataURL {issuer}/.well-known/openid-configuration",
            "OIDCSSLValidateServer Off",
            "OIDCPKCEMethod S256",
            "OIDCProviderTokenEndpointAuth client_secret_basic",
            "OIDCSessionType server-cache",
            "OIDCPassClaimsAs headers",
        ]
        if os.geteuid() == 0:
            lines += ["User www-data", "Group www-data"]
        for p in portals:
            lines += [
                f"<VirtualHost 127.0.0.1:{p.port}>",
                f"  ServerName {p.host}:{p.port}",
                f"  OIDCClientID {p.client_id}",
                f"  OIDCClientSecret {p.secret}",
                f"  OIDCRedirectURI {p.redirect_uri}",
                f'  OIDCScope "{p.scope}"',
                f"  OIDCCookie kyso_portal_{p.key}",
                f"  OIDCDefaultLoggedOutURL {p.logged_out_uri}",
                f"  ProxyPass / {backend}/{p.key}/",
                "  <Location /protected>",
                "    AuthType openid-connect",
                "    Require valid-user",
                "  </Location>",
                "</VirtualHost>",
            ]
        self.config = workdir / "httpd.conf"
        self.config.write_text("\n".join(lines) + "\n")
        self.portals = portals
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Apache":
        if not Path(APACHE).exists() or not (MODULES / "mod_auth_openidc.so").exists():
            raise RuntimeError("Apache httpd with mod_auth_openidc is not installed "
                               "(apt-get install apache2 libapache2-mod-auth-openidc)")
        check = subprocess.run([APACHE, "-t", "-f", str(self.config)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"httpd -t: {check.stderr}")
        self.proc = subprocess.Popen([APACHE, "-f", str(self.config), "-DFOREGROUND"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        for p in self.portals:
            while True:
                try:
                    socket.create_connection(("127.0.0.1", p.port), timeout=1).close()
                    break
                except OSError:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"httpd did not start: {self.log()}")
                    time.sleep(0.1)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.workdir / "run", ignore_errors=True)

"""The real kyso programs for the browser tests: test PKI and SoftHSM tokens, the MSSP
simulator, the signing agent, the gateway (which serves the registration page itself)
and a plain reverse proxy in front of the gateway, whose origin is the gateway's
`public_origin`. Every program listens on port 0 and is found by the address it prints.

By hand (prints the URLs; Ctrl-C stops everything):

    python3 tests/browser/stack.py [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

from proxy import ReverseProxy  # noqa: E402

BINARIES = ("kyso-certs", "kyso-fixtures", "kyso-gateway", "kyso-shim", "kyso-mssp-sim")
TOKEN_PIN = "12345678"  # kyso-fixtures' user PIN
SIM_PIN = "1234"
AP_ID = "kyso-browser-tests"


def bin_dir() -> Path:
    return Path(os.environ.get("KYSO_BIN_DIR", REPO / "target" / "debug"))


def missing_binaries() -> list[str]:
    return [b for b in BINARIES if not (bin_dir() / b).is_file()]


def _default_signals() -> None:
    """In the child: default SIGINT/SIGTERM handling even when we were started in the
    background of a shell (which ignores SIGINT for its background jobs)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class Process:
    """A child process we started, with the URL it printed on its first stdout line."""

    def __init__(self, name: str, cmd: list[str], banner: str, log_dir: Path,
                 env: dict | None = None, timeout: float = 60):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, stdin=subprocess.DEVNULL,
                                     env=child_env(env), preexec_fn=_default_signals)
        lines: queue.Queue = queue.Queue()

        def pump():
            first = True
            for raw in iter(self.proc.stdout.readline, b""):
                if first:
                    lines.put(raw.decode("utf-8", "replace").strip())
                    first = False
                self.log.write(raw)
                self.log.flush()
            if first:
                lines.put(None)

        threading.Thread(target=pump, name=f"{name}-stdout", daemon=True).start()
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            self.stop()
            raise RuntimeError(f"{name} printed nothing in {timeout}s; see {self.log_path}") from None
        if not line or not line.startswith(banner):
            self.stop()
            raise RuntimeError(f"{name}: unexpected first line {line!r}; see {self.log_path}")
        self.url = line[len(banner):].strip()

    def stop(self) -> None:
        if self.proc.poll() is None:
            # SIGTERM: the gateway and the simulator stop gracefully; the agent just ends.
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


def child_env(extra: dict | None = None) -> dict:
    """Our environment without KYSO_* variables (the gateway reads every KYSO_* variable as
    a configuration key, and this harness has KYSO_* settings of its own), plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYSO_")}
    env.update(extra or {})
    return env


def run(cmd: list[str], env: dict | None = None) -> None:
    out = subprocess.run(cmd, capture_output=True, env=child_env(env), check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr.decode(errors='replace')}")


def make_fixtures(directory: Path) -> tuple[Path, Path]:
    """kyso-certs generate + kyso-fixtures provision into directory (reused when complete)."""
    pki, tokens = directory / "pki", directory / "tokens"
    done = directory / ".complete"
    if done.exists():
        return pki, tokens
    directory.mkdir(parents=True, exist_ok=True)
    run([str(bin_dir() / "kyso-certs"), "generate", "--out", str(pki)])
    run([str(bin_dir() / "kyso-fixtures"), "provision", "--pki", str(pki), "--out", str(tokens)])
    done.write_text("ok\n")
    return pki, tokens


def toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


class ReservedPort:
    """A loopback port held for a program that is not running yet: a socket bound on port 0
    with SO_REUSEADDR and never listening. Connections to it are refused (as when nothing
    listens there), no one else can take the port, and a program that binds with
    SO_REUSEADDR too (every tokio listener does) can still listen on it; the port is never
    given back in between. close() when that program runs, or when the test ends."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        host, port = self.sock.getsockname()
        self.address = f"{host}:{port}"
        self.url = f"http://{self.address}"

    def close(self) -> None:
        self.sock.close()


class Stack:
    """PKI, tokens, simulator, proxy, agent and gateway, started in that order."""

    def __init__(self, workdir: Path, fixtures_dir: Path | None = None, log_dir: Path | None = None):
        self.workdir = workdir
        self.logs = log_dir or workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.pki, self.tokens = make_fixtures(fixtures_dir or workdir / "fixtures")
        self.manifest = json.loads((self.pki / "manifest.json").read_text())
        self.softhsm_conf = self.tokens / "softhsm2.conf"
        self.processes: list[Process] = []
        self.ap_secret = secrets.token_urlsafe(18)
        self.pin_file = workdir / "token-pin"
        self.pin_file.write_text(TOKEN_PIN + "\n")
        self.pin_file.chmod(0o600)
        self.proxy: ReverseProxy | None = None
        self.sim: Process | None = None
        self.gateway: Process | None = None
        self.agent: Process | None = None
        self.gateway_agent_url: str | None = None  # the gateway's [web] agent_url

    # -- programs ---------------------------------------------------------------------

    def start_sim(self) -> Process:
        self.sim = self._start_sim("kyso-mssp-sim")
        return self.sim

    def _start_sim(self, name: str) -> Process:
        config = self.workdir / f"{name}.toml"
        config.write_text(
            'listen = "127.0.0.1:0"\n'
            f"pki = {toml_str(str(self.pki))}\n"
            f"pin = {toml_str(SIM_PIN)}\n"
            "auto_answer_ms = 300\nslow_answer_ms = 2000\nmax_timeout_s = 300\n"
            f"[[ap]]\nid = {toml_str(AP_ID)}\nsecret = {toml_str(self.ap_secret)}\n"
        )
        return self._start("kyso-mssp-sim", ["serve", "--config", str(config)], "kyso-mssp-sim listening on ",
                           log_name=name)

    def start_proxy(self) -> ReverseProxy:
        self.proxy = ReverseProxy("127.0.0.1:0").start()
        return self.proxy

    @property
    def origin(self) -> str:
        """The page's origin: the proxy's, the gateway's public_origin."""
        return self.proxy.origin

    def start_gateway(self, origin: str, agent_url: str) -> Process:
        """The gateway (public_origin = origin, [web] agent_url = agent_url); the proxy, if
        any, forwards to it. The database is kept across restarts."""
        config = self._gateway_config("kyso", origin, agent_url, self.sim)
        self.gateway = self._start("kyso-gateway", ["serve", "--config", str(config)], "kyso-gateway listening on ",
                                   env={"KYSO_LOG": "warn"})
        self.gateway_agent_url = agent_url
        if self.proxy:
            self.proxy.upstream = self.gateway.url
        return self.gateway

    def start_separate_gateway(self, name: str, extra_config: str = "") -> Process:
        """A second gateway with a database and a SIM simulator of its own, for a test that
        must leave the shared gateway's accounts, limits and phones untouched; extra_config
        is TOML appended to its configuration (an [oidc] table, say)."""
        sim = self._start_sim(f"{name}-mssp-sim")
        config = self._gateway_config(name, self.origin, self.gateway_agent_url or "http://127.0.0.1:9", sim)
        with config.open("a") as f:
            f.write(extra_config)
        return self._start("kyso-gateway", ["serve", "--config", str(config)], "kyso-gateway listening on ",
                           env={"KYSO_LOG": "warn"}, log_name=name)

    def _gateway_config(self, name: str, origin: str, agent_url: str, sim: Process | None) -> Path:
        anchors = ", ".join(toml_str(str(self.pki / p)) for p in self.manifest["trust_anchors"])
        inter = ", ".join(toml_str(str(self.pki / p)) for p in self.manifest["intermediates"])
        db = self.workdir / f"{name}.db"
        config = self.workdir / f"{name}.toml"
        text = (
            'listen = "127.0.0.1:0"\n'
            f"public_origin = {toml_str(origin)}\n"
            f"database_url = {toml_str('sqlite://' + str(db))}\n"
            f"[trust]\nanchors = [{anchors}]\nintermediates = [{inter}]\n"
            '[policy]\nrevocation = "off"\n'
            "[limits]\nrate_per_minute = 100000\nrate_burst = 10000\n"
            f"[web]\nagent_url = {toml_str(agent_url)}\n"
        )
        if sim:
            text += (
                f"[sim]\nprovider_url = {toml_str(sim.url)}\n"
                f"ap_id = {toml_str(AP_ID)}\nap_secret = {toml_str(self.ap_secret)}\n"
                'display_prefix = "Cổng DVC (thử nghiệm)"\n'
                "answer_timeout_seconds = 120\n"
                "starts_per_number = 1000\nstarts_per_number_total = 1000\n"
                "starts_per_ip_per_minute = 1000\nstarts_per_ip_burst = 1000\n"
            )
        config.write_text(text)
        return config

    def use_agent(self, agent_url: str) -> None:
        """Points the page at the agent at agent_url: the agent's address is the gateway's
        configuration ([web] agent_url, in /config.json and in the Content-Security-Policy),
        so the gateway restarts with it (same database, same public origin; the proxy
        follows it to its new port)."""
        if agent_url == self.gateway_agent_url:
            return
        if self.gateway:
            self.stop_process(self.gateway)
            self.gateway = None
        self.start_gateway(self.origin, agent_url)

    def start_agent(self, origin: str, listen: str = "127.0.0.1:0", name: str = "kyso-shim",
                    pin_file: Path | None = None, pinentry: Path | None = None,
                    softhsm_conf: Path | None = None) -> Process:
        """Starts a signing agent allowing origin (PIN from pin_file, else the right PIN's
        file, unless a pinentry program is given); the first one becomes self.agent."""
        args = ["serve", "--listen", listen, "--allow-origin", origin]
        if pinentry:
            args += ["--pinentry", str(pinentry)]
        else:
            args += ["--pin-file", str(pin_file or self.pin_file), "--unattended"]
        agent = self._start(
            "kyso-shim", args, "kyso-shim listening on ",
            env={"SOFTHSM2_CONF": str(softhsm_conf or self.softhsm_conf), "KYSO_LOG": "warn"},
            log_name=name,
        )
        if self.agent is None:
            self.agent = agent
        return agent

    def isolated_tokens(self, name: str) -> Path:
        """A private copy of the SoftHSM tokens (for tests that fail PIN logins, which must
        not disturb the tokens the main agent uses); returns its softhsm2.conf."""
        target = self.workdir / f"tokens-{name}"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(self.tokens / "softhsm-tokens", target / "softhsm-tokens")
        conf = target / "softhsm2.conf"
        conf.write_text(
            f"directories.tokendir = {target / 'softhsm-tokens'}\n"
            "objectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
        )
        return conf

    def start_all(self) -> "Stack":
        """Simulator; the proxy (its origin is the page's); the agent allowing that origin;
        the gateway with that public origin and that agent, behind the proxy."""
        self.start_sim()
        proxy = self.start_proxy()
        agent = self.start_agent(proxy.origin)
        self.start_gateway(proxy.origin, agent.url)
        return self

    def _start(self, name: str, args: list[str], banner: str, env: dict | None = None,
               log_name: str | None = None) -> Process:
        p = Process(log_name or name, [str(bin_dir() / name), *args], banner, self.logs, env=env)
        self.processes.append(p)
        return p

    def stop_process(self, p: Process) -> None:
        """Stops one program this stack started."""
        p.stop()
        if p in self.processes:
            self.processes.remove(p)

    def stop(self) -> None:
        for p in reversed(self.processes):
            p.stop()
        self.processes.clear()
        if self.proxy:
            self.proxy.stop()
            self.proxy = None

    # -- the test PKI -----------------------------------------------------------------

    def person(self, person_id: str) -> dict:
        for p in self.manifest["persons"]:
            if p.get("id") == person_id:
                return p
        raise KeyError(person_id)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description="start the kyso stack for the registration page")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kyso-web-"))
    workdir.mkdir(parents=True, exist_ok=True)
    stack = Stack(workdir).start_all()
    print(f"page     {stack.proxy.url}/  (the proxy; the gateway's public origin)")
    print(f"gateway  {stack.gateway.url}  (serves the page and the API)")
    print(f"agent    {stack.agent.url}  (PIN from {stack.pin_file})")
    print(f"MSSP     {stack.sim.url}  phone pages: {stack.sim.url}/phone/0912000001 (PIN {SIM_PIN})")
    print(f"logs     {stack.logs}")
    print("Ctrl-C stops everything.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""schemathesis (the OpenAPI fuzzer) against a gateway of its own, driven only by the
description the gateway serves at /openapi.json: generated requests for every operation,
valid and invalid, and sequences that follow the description's links (a challenge into
a token registration, a signing-SIM start into its result). Every check schemathesis has
must pass — no 5xx, status codes, content types, headers and bodies as described, invalid
input refused, `405` with `Allow` for other methods, no answer without a session where one
is required — except `positive_data_acceptance`: a well-formed challenge id or ticket that
was never issued is refused by design (404), which that check would count as a failure.

The gateway is separate from the page's (its own database and SIM simulator), so what the
fuzzer registers, rings or rate-limits touches no other test. The bound is a few hundred
requests (--max-examples per operation and phase), with a fixed seed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = pytest.mark.stack

MAX_EXAMPLES = 12
SEED = 20261130


def schemathesis_command() -> list[str]:
    exe = shutil.which("schemathesis") or str(Path(sys.executable).with_name("schemathesis"))
    return [exe]


def test_generated_requests_get_no_server_error_and_every_answer_is_as_described(stack, artefacts_dir):
    gateway = stack.start_separate_gateway("kyso-fuzzed")
    report = artefacts_dir / "schemathesis"
    shutil.rmtree(report, ignore_errors=True)
    report.mkdir(parents=True)
    try:
        result = subprocess.run(
            [
                *schemathesis_command(), "run", f"{gateway.url}/openapi.json",
                "--checks", "all",
                "--exclude-checks", "positive_data_acceptance",
                "--max-examples", str(MAX_EXAMPLES),
                "--seed", str(SEED),
                "--workers", "1",
                "--generation-database", "none",
                "--request-timeout", "40",
                "--report", "junit",
                "--report-junit-path", str(report / "junit.xml"),
                "--no-color",
            ],
            capture_output=True, text=True, timeout=1200, cwd=report,
        )
    finally:
        stack.stop_process(gateway)
    (report / "output.txt").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, f"schemathesis failed (see {report}):\n{result.stdout[-8000:]}{result.stderr[-2000:]}"

    # It really ran: every described operation was tested (but the description itself,
    # which schemathesis leaves out), links were followed, and a few hundred cases passed.
    description = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text())
    operations = {f"{m.upper()} {p}" for p, item in description["paths"].items() for m in item}
    tested = {c.get("name") for c in ET.parse(report / "junit.xml").getroot().iter("testcase")}
    missing = operations - tested - {"GET /openapi.json"}
    assert not missing, f"schemathesis tested no case of {sorted(missing)}; tested {sorted(tested)}"
    assert "Stateful tests" in tested
    generated = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
    assert generated and int(generated[1]) >= 300 and generated[1] == generated[2], result.stdout[-2000:]

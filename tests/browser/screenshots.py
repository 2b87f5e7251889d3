"""Copies the curated screenshots for the docs from a test run's artefacts into
docs/screenshots/ (run the browser tests first):

    python3 tests/browser/screenshots.py [--artefacts DIR]

Desktop shots are 1024 px wide, phone shots 375 px (one image pixel per CSS pixel); each
must stay under 200 KB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOCS = HERE.parents[1] / "docs" / "screenshots"
LIMIT = 200 * 1024

# docs name ← (test, step name as passed to shot())
CURATED = {
    "01-home.png": ("test_vietnamese_by_default_and_the_english_switch", "vietnamese"),
    "02-usb-preview-cccd.png": ("test_citizen_registers_with_token_and_reaches_the_account_page", "preview"),
    "03-account.png": ("test_citizen_registers_with_token_and_reaches_the_account_page", "account"),
    "04-phone-sim-code.png": ("test_citizen_registers_with_a_signing_sim", "code"),
    "05-phone-error-busy.png": ("test_busy_number", "busy"),
    "06-home-english.png": ("test_vietnamese_by_default_and_the_english_switch", "english-home"),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artefacts", type=Path,
                        default=Path(os.environ.get("KYSO_ARTEFACTS") or HERE / "artefacts"))
    args = parser.parse_args()
    DOCS.mkdir(parents=True, exist_ok=True)
    failed = False
    for name, (test, step) in CURATED.items():
        found = sorted((args.artefacts / test).glob(f"[0-9][0-9]-{step}.png"))
        if len(found) != 1:
            print(f"{name}: expected one {test}/NN-{step}.png, found {len(found)}", file=sys.stderr)
            failed = True
            continue
        size = found[0].stat().st_size
        if size > LIMIT:
            print(f"{name}: {found[0]} is {size // 1024} KB (limit {LIMIT // 1024} KB)", file=sys.stderr)
            failed = True
            continue
        shutil.copyfile(found[0], DOCS / name)
        print(f"{DOCS / name}  ({size // 1024} KB)  <- {found[0].relative_to(args.artefacts)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

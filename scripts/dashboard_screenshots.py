"""Screenshots of the two local dashboards for the README: docs/dashboard_customer_experience.png, ..._agent_wellbeing.png.

Usage: .venv/bin/python scripts/dashboard_screenshots.py results.duckdb [docs]
Renders the page with `callmood dashboard`'s own code, opens it in headless Chromium
and captures each dashboard section (needs chromium and chromium-driver from apt).
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dashboards.local_dashboard import write_report  # noqa: E402
from tests import browser  # noqa: E402

SECTIONS = {"customer-experience": "dashboard_customer_experience.png",
            "agent-wellbeing": "dashboard_agent_wellbeing.png"}


def main(db_path: str, out_dir: str = str(REPO / "docs")) -> None:
    reason = browser.missing_reason()
    if reason:
        raise SystemExit(f"cannot take screenshots: {reason}")
    with tempfile.TemporaryDirectory() as tmp:
        page = write_report(db_path, Path(tmp) / "report.html")
        with browser.chromium(width_px=1280, height_px=2400) as driver:
            driver.get(page.as_uri())
            errors = browser.console_errors(driver)
            if errors:
                raise SystemExit(f"the page logged errors: {errors}")
            for section, name in SECTIONS.items():
                target = Path(out_dir) / name
                driver.find_element("id", section).screenshot(str(target))
                print(f"wrote {target} ({target.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main(*sys.argv[1:])

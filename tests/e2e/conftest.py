"""Browser tests: Playwright for Python driving Debian's Chromium (ENGINES.md, section 4).

`playwright install` cannot download here, so the launch args point pytest-playwright at the
system binary (`chromium` on PATH, or $HUANGPU_CHROMIUM). Without it the tests skip locally
and fail under CI, so CI can never pass by silently skipping the browser.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _missing(message: str) -> None:
    if _in_ci():
        pytest.fail(f"CI is set, so the browser tests may not be skipped: {message}")
    pytest.skip(message)


def chromium_path() -> str | None:
    return os.environ.get("HUANGPU_CHROMIUM") or shutil.which("chromium")


try:
    import playwright  # noqa: F401

    HAVE_PLAYWRIGHT = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_PLAYWRIGHT = False

if HAVE_PLAYWRIGHT:

    @pytest.fixture(scope="session")
    def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
        path = chromium_path()
        if not path or not Path(path).exists():
            _missing(
                "Chromium is not installed (no `chromium` on PATH); install it with "
                "`apt-get install chromium` (scripts/test.sh does this as root)"
            )
        return {**browser_type_launch_args, "executable_path": path, "args": CHROMIUM_ARGS}

else:

    @pytest.fixture
    def page() -> None:
        _missing("playwright is not installed; pip install -e '.[dev]'")


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS

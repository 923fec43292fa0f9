"""The wall and the consoles in real Chromium, against real server, scheduler and agent
processes (the session `platform` fixture: orgs acme and globex, pools of A100, 910B, MLU370).

Screenshots go to artifacts/screenshots/ (CI keeps that folder)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from huangpu.testing.processes import Platform

pytest.importorskip("playwright")
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

JOB_TIMEOUT = 60.0
# Generous waits for a loaded 2-core machine; the 2 s wall budget is asserted on its own.
expect.set_options(timeout=15_000)


def login(page: Page, platform: Platform, token: str, next_path: str = "") -> None:
    page.goto(f"{platform.url}/login" + (f"?next={next_path}" if next_path else ""))
    page.locator("#token").fill(token)
    page.locator("#token").press("Enter")  # the form works from the keyboard alone
    page.wait_for_url(lambda url: "/login" not in url, timeout=15_000)


def sleep_job(name: str, seconds: int = 8) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "batch-infer",
        "command": f"sleep {seconds}",
        "resources": {"chips": ["a100"], "accelerators": 1},
    }


def test_wall_loads_with_live_data_at_1080p_and_4k(
    page: Page, platform: Platform, screenshots: Path
) -> None:
    token = platform.tenant_tokens["acme"]
    for i in range(2):
        platform.api.submit(sleep_job(f"wall-demo-{i}", 20), token)
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{platform.url}/wall?lang=zh-CN")
    # One tile per pool, the city total from the inventory, and drawn charts.
    expect(page.locator("#tiles .tile")).to_have_count(len(platform.pools))
    expect(page.locator("#k-total")).to_have_text("40")  # 8 A100 + 16 910B + 2×8 MLU370
    expect(page.locator("#c-util canvas")).to_have_count(1)
    expect(page.locator("#c-family canvas")).to_have_count(1)
    expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=5000)
    page.wait_for_timeout(800)  # let the chart animations settle for the picture
    page.screenshot(path=str(screenshots / "wall-1920x1080.png"))
    page.set_viewport_size({"width": 3840, "height": 2160})
    page.wait_for_timeout(800)
    page.screenshot(path=str(screenshots / "wall-3840x2160.png"))
    # Nothing is cut off at 4K either: the pools panel fits the screen.
    box = page.locator(".w-pools").bounding_box()
    assert box is not None and box["y"] + box["height"] <= 2160


def test_a_job_started_through_the_api_appears_within_two_seconds(
    page: Page, platform: Platform
) -> None:
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{platform.url}/wall")
    expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=5000)
    page.evaluate("window.__noReload = true")
    before = int(page.locator("#k-running").inner_text().replace(",", ""))
    token = platform.tenant_tokens["acme"]
    job = platform.api.submit(sleep_job("wall-live", 10), token)
    platform.api.wait_for_state(job["id"], "RUNNING", timeout=JOB_TIMEOUT, token=token)
    started = time.monotonic()
    item = page.locator(f'#ticker li[data-job="{job["id"]}"][data-type="job_started"]')
    expect(item).to_be_visible(timeout=2000)
    lag = time.monotonic() - started
    assert lag < 2.0, f"the wall showed the start after {lag:.2f} s"
    assert int(page.locator("#k-running").inner_text().replace(",", "")) >= 1
    assert before >= 0
    assert page.evaluate("window.__noReload") is True, "the page reloaded"


def test_the_wall_renders_in_both_languages(
    page: Page, platform: Platform, screenshots: Path
) -> None:
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{platform.url}/wall?lang=en")
    expect(page.locator("h1")).to_have_text("City AI Compute · Live")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_text("Supplier pools")).to_be_visible()
    page.wait_for_timeout(600)
    page.screenshot(path=str(screenshots / "wall-en.png"))
    page.locator("#lang").click()  # switches live, no reload
    expect(page.locator("h1")).to_have_text("城市智能算力 · 实时调度")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_text("供应商资源池")).to_be_visible()
    # The choice sticks: the next page load renders Chinese on the server.
    page.goto(f"{platform.url}/wall")
    expect(page.locator("h1")).to_have_text("城市智能算力 · 实时调度")


def test_tenant_submits_through_the_form_and_sees_it_succeed_with_logs(
    page: Page, platform: Platform, screenshots: Path
) -> None:
    login(page, platform, platform.tenant_tokens["acme"])
    expect(page).to_have_url(f"{platform.url}/console")
    page.locator("#f-name").fill("web-form-job")
    page.locator("#f-command").fill("echo hello-from-the-web && echo second line")
    page.locator("#f-chips").fill("A100")
    page.locator("#f-accelerators").fill("1")
    page.screenshot(path=str(screenshots / "tenant-console.png"), full_page=True)
    page.locator("#f-workdir").press("Enter")
    page.wait_for_url("**/console/jobs/job_*")
    expect(page.locator("#job-state")).to_have_text("SUCCEEDED", timeout=JOB_TIMEOUT * 1000)
    expect(page.locator("#logs")).to_contain_text("hello-from-the-web", timeout=10_000)
    expect(page.locator("#history tr").last).to_contain_text("RUNNING → SUCCEEDED")
    page.screenshot(path=str(screenshots / "tenant-job.png"), full_page=True)
    page.goto(f"{platform.url}/console?state=SUCCEEDED&q=web-form")
    expect(page.locator("#jobs tbody tr")).to_have_count(1)


def test_bad_yaml_shows_the_field_level_error(
    page: Page, platform: Platform, screenshots: Path
) -> None:
    login(page, platform, platform.tenant_tokens["acme"])
    page.locator('label[for="mode-yaml"]').click()
    expect(page.locator("#f-yaml")).to_be_visible()
    page.locator("#f-yaml").fill(
        "name: bad-one\ncommand: echo\nresources:\n  accelerators: 0\n  chips: [A100]\n"
    )
    page.locator("#submit-btn").click()
    error = page.locator("#submit-error")
    expect(error).to_contain_text("resources.accelerators")
    expect(error).to_contain_text("greater than or equal to 1")
    expect(page.locator("#f-yaml")).to_have_attribute("aria-invalid", "true")
    page.screenshot(path=str(screenshots / "tenant-yaml-error.png"), full_page=True)
    # An unknown chip gets the API's did-you-mean, naming the list item.
    page.locator("#f-yaml").fill("name: bad-two\ncommand: echo\nresources:\n  chips: [A1000]\n")
    page.locator("#submit-btn").click()
    expect(page.locator("#submit-error")).to_contain_text("resources.chips[0]")
    # In form mode the message sits under the input it is about.
    page.locator('label[for="mode-form"]').click()
    page.locator("#f-name").fill("ok-name")
    page.locator("#f-command").fill("echo")
    page.locator("#f-accelerators").fill("lots")
    page.locator("#submit-btn").click()
    expect(page.locator("#err-accelerators")).to_contain_text("valid integer")
    expect(page.locator("#f-accelerators")).to_have_attribute("aria-invalid", "true")


def test_output_is_escaped(page: Page, platform: Platform) -> None:
    token = platform.tenant_tokens["acme"]
    spec = {
        "name": "xss-probe",
        "command": "echo '<script>window.__xss=1</script>'",
        "resources": {"chips": ["a100"]},
        "labels": {"note": "<img src=x onerror=window.__xss=2>"},
    }
    job = platform.api.submit(spec, token)
    login(page, platform, token)
    page.goto(f"{platform.url}/console/jobs/{job['id']}")
    expect(page.get_by_text("<script>window.__xss=1</script>", exact=False).first).to_be_visible()
    # A name that is not allowed comes back in the error message, as text.
    page.goto(f"{platform.url}/console")
    page.locator("#f-name").fill("<script>window.__xss=3</script>")
    page.locator("#f-command").fill("echo")
    page.locator("#submit-btn").click()
    expect(page.locator("#err-name")).to_be_visible()
    assert page.evaluate("window.__xss") is None
    platform.api.wait_for_state(
        job["id"], {"SUCCEEDED", "FAILED"}, timeout=JOB_TIMEOUT, token=token
    )


def test_tenant_cannot_open_another_orgs_job(page: Page, platform: Platform) -> None:
    theirs = platform.api.submit(sleep_job("globex-secret", 1), platform.tenant_tokens["globex"])
    login(page, platform, platform.tenant_tokens["acme"])
    response = page.goto(f"{platform.url}/console/jobs/{theirs['id']}")
    assert response is not None and response.status == 404
    expect(page.locator("body")).not_to_contain_text("globex-secret")
    stream = page.request.get(f"{platform.url}/v1/stream/jobs/{theirs['id']}")
    assert stream.status == 404
    # The job list and its stream show only acme's jobs.
    page.goto(f"{platform.url}/console")
    expect(page.locator("#jobs")).not_to_contain_text("globex-secret")


def test_operator_console_refuses_a_tenant_and_audits_operators(
    page: Page, platform: Platform, screenshots: Path
) -> None:
    login(page, platform, platform.tenant_tokens["acme"], next_path="/ops")
    response = page.goto(f"{platform.url}/ops")
    assert response is not None and response.status == 403
    expect(page.locator("#error-message")).to_contain_text("operator token")
    page.context.clear_cookies()
    login(page, platform, platform.operator_token)
    expect(page).to_have_url(f"{platform.url}/ops")
    expect(page.locator("#pools")).to_contain_text("a100-pool")
    expect(page.locator("#agents")).to_contain_text("a100-pool-agent")
    name = f"web-org-{int(time.time())}"
    page.locator("#org-name").fill(name)
    page.locator("#org-name").press("Enter")
    expect(page.locator("#orgs")).to_contain_text(name)
    expect(page.locator("#audit")).to_contain_text("org.create")
    page.screenshot(path=str(screenshots / "operator-console.png"), full_page=True)


CONTRAST_JS = """
() => {
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).slice(0, 3).map(Number);
  const lum = (c) => {
    const [r, g, b] = c.map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const bgOf = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const bg = getComputedStyle(e).backgroundColor;
      if (bg && !bg.startsWith("rgba(0, 0, 0, 0)") && bg !== "transparent") return rgb(bg);
    }
    return [255, 255, 255];
  };
  const out = [];
  for (const el of document.querySelectorAll("label, h1, h2, td, th, p, a, button, dt, dd")) {
    if (!el.textContent.trim() || !el.offsetParent) continue;
    const fg = rgb(getComputedStyle(el).color), bg = bgOf(el);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    out.push({ text: el.textContent.trim().slice(0, 30), ratio: (a + 0.05) / (b + 0.05) });
  }
  return out;
}
"""

UNLABELLED_JS = """
() => [...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label"))
  .map((el) => el.id || el.name)
"""


def test_accessibility_labels_contrast_and_keyboard(page: Page, platform: Platform) -> None:
    page.goto(f"{platform.url}/login")
    # Keyboard only: Tab from the page start reaches the token field, Enter submits.
    page.keyboard.press("Tab")
    for _ in range(8):
        if page.evaluate("document.activeElement && document.activeElement.id") == "token":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "token"
    page.keyboard.type(platform.tenant_tokens["acme"])
    page.keyboard.press("Enter")
    page.wait_for_url("**/console")
    for path in ("/console",):
        page.goto(f"{platform.url}{path}")
        assert page.evaluate(UNLABELLED_JS) == [], f"unlabelled fields on {path}"
        low = [c for c in page.evaluate(CONTRAST_JS) if c["ratio"] < 4.5]
        assert not low, f"text below 4.5:1 contrast on {path}: {low[:5]}"
    page.context.clear_cookies()
    login(page, platform, platform.operator_token)
    assert page.evaluate(UNLABELLED_JS) == [], "unlabelled fields on /ops"
    low = [c for c in page.evaluate(CONTRAST_JS) if c["ratio"] < 4.5]
    assert not low, f"text below 4.5:1 contrast on /ops: {low[:5]}"

"""The decision report in a real browser: headless Chromium through Selenium.

Checks, through the DOM, that every image decodes, that the key numbers are shown, that a run id
``<script>alert(1)</script>`` is shown as text (and no alert fires), and that a fit that failed the
diagnostics gate gets the red warning block. Saves full-page screenshots to ``tests/artifacts/``.

Skips (with the reason) when selenium, ``/usr/bin/chromium`` or ``/usr/bin/chromedriver`` is
missing; nothing else in the suite needs a browser.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

selenium = pytest.importorskip(
    "selenium", reason="selenium is not installed (it belongs to the dev extra)"
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip(
        f"headless browser test needs {CHROMIUM} and {CHROMEDRIVER} "
        "(Debian packages chromium and chromium-driver)",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402

import bayes_scaling as bs  # noqa: E402
from bayes_scaling.report import build_report  # noqa: E402
from bayes_scaling.results.scaling import ScalingFit  # noqa: E402

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SCREENSHOT = ARTIFACTS / "report_screenshot.png"
SCREENSHOT_NOT_CONVERGED = ARTIFACTS / "report_not_converged_screenshot.png"
EVIL = "<script>alert(1)</script>"
BUDGET, TARGET = 1e24, 2.3
WIDTH = 1200


def with_run_id(fit: ScalingFit, run_id: str) -> ScalingFit:
    """The same fit, its first run renamed (the report shows run ids from ``fit.runs``)."""
    runs = fit.runs.copy()
    runs.loc[0, "run_id"] = run_id
    return ScalingFit(fit.idata, fit.law, fit.priors, fit.diagnostics, runs, fit.settings)


@pytest.fixture(scope="module")
def pages(demo_fit, tmp_path_factory):
    """Saved HTML of a converged report (with the script run id) and of a non-converged one."""
    with pytest.warns(bs.ConvergenceWarning):
        bad_fit = bs.fit(
            bs.datasets.demo(), seed=1, draws=30, tune=60, progress=False, rescue=False
        )
    folder = tmp_path_factory.mktemp("report")
    good = build_report(with_run_id(demo_fit, EVIL), BUDGET, target=TARGET, tokens_per_param=20)
    bad = build_report(bad_fit, BUDGET, target=TARGET)
    good.save(folder / "report.html")
    bad.save(folder / "report_not_converged.html")
    return {
        "good": folder / "report.html",
        "bad": folder / "report_not_converged.html",
        "good_html": good.html,
    }


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tmp_path_factory.mktemp("chromium-profile")
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"--window-size={WIDTH},900",
    ):
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield browser
    browser.quit()


def open_page(driver, path: Path) -> None:
    driver.get(path.as_uri())
    assert driver.execute_script("return document.readyState") == "complete"


def no_alert(driver) -> bool:
    try:
        _ = driver.switch_to.alert
    except NoAlertPresentException:
        return True
    return False


def full_screenshot(driver, path: Path, height: int | None = None) -> Path:
    """Resize the window to the page (or ``height``) and save a PNG screenshot."""
    path.parent.mkdir(parents=True, exist_ok=True)
    full = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(WIDTH, min(height or full, 16000) + 140)
    assert driver.save_screenshot(str(path))
    return path


def text_of(driver, ident: str) -> str:
    return driver.execute_script(f"return document.getElementById('{ident}').textContent")


def test_every_image_is_decoded(driver, pages):
    open_page(driver, pages["good"])
    images = driver.execute_script(
        "return Array.from(document.images).map(i => [i.id, i.complete, i.naturalWidth]);"
    )
    assert len(images) == 3
    for ident, complete, width in images:
        assert complete and width > 0, ident


def test_key_numbers_are_shown(driver, pages):
    open_page(driver, pages["good"])
    body = driver.execute_script("return document.body.innerText")
    lower, upper = text_of(driver, "loss-lower"), text_of(driver, "loss-upper")
    assert re.fullmatch(r"\d\.\d{3}", lower) and float(lower) < float(upper)
    assert (
        f"With 90% probability a run's final loss at 1e+24 FLOPs lies between {lower} and "
        f"{upper} nats (predictive band"
    ) in body
    tpp = text_of(driver, "tpp-median")
    assert tpp and f"{tpp} tokens per parameter" in body
    source = pages["good_html"]
    for ident in (
        "n-star-median",
        "regret-mean",
        "prob-reach-opt",
        "extrapolation-multiple",
        "rhat",
    ):
        shown = text_of(driver, ident)
        assert shown and f'id="{ident}"' in source and html.escape(shown) in source, ident
    visible = driver.execute_script(
        "const r = document.getElementById('loss-lower').getBoundingClientRect();"
        "return r.width > 0 && r.height > 0;"
    )
    assert visible


def test_script_run_id_is_text_and_no_alert_fires(driver, pages, capsys):
    open_page(driver, pages["good"])
    assert driver.execute_script("return document.scripts.length") == 0
    first_id = driver.execute_script(
        "return document.querySelector('#runs-table tbody tr td').textContent"
    )
    assert first_id == EVIL
    assert EVIL in driver.execute_script("return document.body.innerText")
    assert no_alert(driver)
    path = full_screenshot(driver, SCREENSHOT)
    assert path.stat().st_size > 10_000
    with capsys.disabled():
        print(f"\nreport screenshot: {path}")


def test_warning_block_for_a_fit_that_did_not_converge(driver, pages, capsys):
    open_page(driver, pages["good"])
    assert driver.execute_script("return document.getElementById('convergence-warning')") is None
    open_page(driver, pages["bad"])
    block = driver.execute_script(
        "const w = document.getElementById('convergence-warning');"
        "const q = document.getElementById('question');"
        "const s = getComputedStyle(w);"
        "return {text: w.innerText, colour: s.borderTopColor, width: s.borderTopWidth,"
        "        above: w.getBoundingClientRect().top < q.getBoundingClientRect().top,"
        "        shown: w.getBoundingClientRect().height > 0};"
    )
    assert "did NOT converge" in block["text"] and block["above"] and block["shown"]
    assert block["colour"] == "rgb(204, 0, 0)" and block["width"] == "3px"
    assert text_of(driver, "fit-status") == "did NOT pass"
    assert no_alert(driver)
    path = full_screenshot(driver, SCREENSHOT_NOT_CONVERGED, height=1400)
    with capsys.disabled():
        print(f"\nnot-converged report screenshot: {path}")

"""The animation page in a real browser: headless Chromium loads it over file://, steps
through every event, shows the counters of the run at every syscall boundary and its Result
at the end, logs no error, and draws something.

Needs Debian's ``chromium`` and ``chromium-driver`` and Selenium; without them the tests
skip, unless IOSIM_REQUIRE_BROWSER=1 (as .ci/run sets it), where that is a failure.
"""

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from iosim.teach import animate as A

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FIREFOX = shutil.which("firefox-esr") or shutil.which("firefox")
DRIVER = shutil.which("chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1600,1000")
SHOTS = os.environ.get("IOSIM_SCREENSHOTS")  # a folder to keep the screenshots in


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if not CHROMIUM or not DRIVER:
        return "no chromium/chromedriver (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture(scope="module")
def browser():
    why = _missing()
    if why:
        if os.environ.get("IOSIM_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests required here, but {why}")
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for flag in FLAGS:
        opts.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="iosim-chromium-")
    opts.add_argument(f"--user-data-dir={profile}")
    opts.binary_location = CHROMIUM
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(DRIVER))
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    folder = tmp_path_factory.mktemp("animate")
    out = {}
    for name, args, kwargs in [
        ("a", ("sendfile_sg",), {"size_bytes": "64KiB"}),
        ("b", ("read_write", "sendfile_sg"), {"size_bytes": "64KiB"}),
        ("f", ("splice",), {"size_bytes": "64KiB", "drop": [3], "writer": "shared",
                            "writer_at": [5000]}),
        ("long", ("read_write", "sendfile_sg"), {"size_bytes": "512KiB", "fold": True}),
    ]:
        page = A.animate(*args, **kwargs)
        out[name] = (page.save(folder / f"{name}.html"), page.doc)
    return out


READ = """
return iosim.doc.runs.map((run, n) => {
  const out = {};
  for (const el of document.querySelectorAll('[id^="c' + n + '-"]'))
    out[el.id.slice(String(n).length + 2)] = Number(el.dataset.value);
  return out;
});"""


def _errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _not_blank(png: Path) -> None:
    from matplotlib import image

    pixels = image.imread(str(png))[..., :3]
    assert pixels.std() > 0.05  # not one flat colour
    colours = {tuple(p) for p in (pixels[::17, ::13] * 255).astype(int).reshape(-1, 3)}
    assert len(colours) > 20


def _shoot(driver, png: Path) -> None:
    driver.save_screenshot(str(png))
    _not_blank(png)
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(SHOTS) / png.name)


@pytest.mark.parametrize("name", ["a", "b", "f"])
def test_every_step_shows_the_runs_counters(browser, pages, name, tmp_path):
    path, doc = pages[name]
    browser.get(path.as_uri())
    assert _errors(browser) == []
    browser.execute_script("iosim.fold(false)")
    count = browser.execute_script("return iosim.count()")
    assert count == len(doc["order"])
    boundaries = 0
    for k in range(count):
        browser.execute_script(f"iosim.go({k})")
        n, i = doc["order"][k]
        step = doc["runs"][n]["steps"][i]
        if step["boundary"] or k == count - 1:
            shown = browser.execute_script(READ)[n]
            want = step["counters"]
            assert {key: shown[key] for key in shown if key in want} == {
                key: want[key] for key in shown if key in want}, (k, step["text"])
            boundaries += 1
    assert boundaries >= 2
    for n, run in enumerate(doc["runs"]):  # the end: the Result itself
        shown = browser.execute_script(READ)[n]
        for key, value in run["result"].items():
            if key in shown:
                assert shown[key] == pytest.approx(value, rel=1e-9, abs=1e-15), key
    _shoot(browser, tmp_path / f"{name}-end.png")
    assert _errors(browser) == []


def test_end_fragment_shows_the_totals(browser, pages):
    path, doc = pages["b"]
    browser.get(path.as_uri() + "#end")
    totals = browser.find_element("id", "totals")
    assert totals.is_displayed()
    for n, run in enumerate(doc["runs"]):
        box = browser.find_element("id", f"totals-{n}")
        assert box.get_attribute("data-path") == run["path"]
        for key in ("copies", "syscalls", "mode_switches", "context_switches",
                    "bytes_delivered", "cpu_copy_bytes", "membus_bytes"):
            assert float(box.get_attribute(f"data-{key}")) == pytest.approx(
                run["result"][key]), key
    assert totals.get_attribute("data-syscalls") == str(doc["runs"][0]["result"]["syscalls"])


def test_keys_step_play_and_jump_to_syscalls(browser, pages, tmp_path):
    from selenium.webdriver.common.keys import Keys

    path, doc = pages["a"]
    browser.get(path.as_uri())
    body = browser.find_element("tag name", "body")
    position = lambda: browser.execute_script("return iosim.position()")  # noqa: E731
    assert position() == -1
    body.send_keys(Keys.ARROW_RIGHT)
    body.send_keys(Keys.ARROW_RIGHT)
    assert position() == 1
    body.send_keys(Keys.ARROW_LEFT)
    assert position() == 0
    body.send_keys(Keys.HOME)
    body.send_keys(Keys.ARROW_DOWN)  # the next syscall: sendfile() enters
    step = browser.execute_script("return iosim.step(iosim.position()).step")
    assert step["boundary"] == "enter" and step["text"].startswith("sendfile()")
    body.send_keys(Keys.ARROW_DOWN)  # no other syscall: the end
    assert position() == len(doc["order"]) - 1
    body.send_keys(Keys.END)
    assert position() == len(doc["order"]) - 1
    body.send_keys(Keys.HOME)
    body.send_keys("+")
    body.send_keys(" ")  # play at 2x
    time.sleep(1.2)
    body.send_keys(" ")
    assert position() >= 1
    _shoot(browser, tmp_path / "a-playing.png")
    assert _errors(browser) == []


def test_folded_rounds_still_count_every_step(browser, pages):
    path, doc = pages["long"]
    browser.get(path.as_uri())
    assert browser.execute_script("return document.getElementById('fold').checked")
    count = browser.execute_script("return iosim.count()")
    assert count < len(doc["order"])  # rounds folded away
    last = [None] * len(doc["runs"])  # each run's latest step, shown or folded
    visible = iter(range(count))
    for n, i in doc["order"]:
        last[n] = doc["runs"][n]["steps"][i]
        if last[n]["fold"] == 1:
            continue
        k = next(visible)
        shown = browser.execute_script(f"iosim.go({k});" + READ)
        for m, step in enumerate(last):
            want = step["counters"] if step else dict.fromkeys(shown[m], 0)
            assert {key: shown[m][key] for key in shown[m] if key in want} == {
                key: want[key] for key in shown[m] if key in want}, (k, m)
    assert _errors(browser) == []


@pytest.mark.skipif(FIREFOX is None, reason="no firefox (optional: Debian's firefox-esr)")
def test_firefox_draws_the_end_too(pages, tmp_path):
    """No driver for Firefox here: its own headless screenshot of #end must show the page."""
    import subprocess

    path, _ = pages["b"]
    png = tmp_path / "firefox-b-end.png"
    profile = tmp_path / "profile"
    profile.mkdir()  # a fresh, empty profile (Firefox waits forever for a missing one)
    subprocess.run([FIREFOX, "--headless", "-no-remote", "-profile", str(profile),
                    "--window-size=1600,1000", "--screenshot", str(png),
                    path.as_uri() + "#end"], check=True, timeout=60, capture_output=True,
                   env={**os.environ, "HOME": str(tmp_path)})
    _not_blank(png)
    if SHOTS:
        shutil.copy(png, Path(SHOTS) / png.name)

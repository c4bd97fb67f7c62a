"""`soundmatch serve` in a real browser: Debian's Chromium, headless, driven through Selenium and
Debian's chromedriver. A user's path with the mouse: choose a sound, start, watch the progress,
hear the answers and download a preset; a picture named .wav gets its message on the page.

Set SOUNDMATCH_SCREENSHOT=PATH to keep the page's screenshot (docs/serve.png is made this way).
"""

from __future__ import annotations

import os
import shutil
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import REPO, missing

SOUNDS = REPO / "examples" / "sounds"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")



@pytest.fixture()
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        missing("no browser: apt-get install chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--window-size=1280,1000", "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def wait_for(condition, seconds: float = 90, every: float = 0.1):
    """The first truthy value of ``condition()``, polled."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"gave up waiting after {seconds} s")


def test_match_a_sound_in_the_browser(serve, browser, tmp_path):
    from selenium.webdriver.common.by import By

    server = serve()
    browser.get(server.url)
    wait_for(lambda: browser.execute_script("return document.body.dataset.ready"))
    load_ms = browser.execute_script(
        "const t = performance.getEntriesByType('navigation')[0];"
        "return t.loadEventEnd - t.startTime;")
    print(f"first load of the page: {load_ms:.0f} ms")  # measured, not asserted
    find = browser.find_element
    options = [o.text for o in find(By.ID, "synth").find_elements(By.TAG_NAME, "option")]
    assert options[0] == "builtin, model builtin-rich-taught" and any("dexed" in o for o in options)

    # a sound, a short search, two answers
    find(By.ID, "file").send_keys(str(SOUNDS / "pluck-a3.wav"))
    assert "pluck-a3.wav" in find(By.ID, "chosen").text
    budget = find(By.ID, "budget")
    budget.clear()
    budget.send_keys("3s")
    answers = find(By.ID, "candidates")
    answers.clear()
    answers.send_keys("2")
    find(By.ID, "start").click()
    job = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".job"))[0]
    # progress, live: renders and the best distance so far
    wait_for(lambda: "searching:" in job.find_element(By.CLASS_NAME, "progress").text, 60)
    wait_for(lambda: job.find_element(By.CLASS_NAME, "state").text == "done", 90)
    players = job.find_elements(By.CSS_SELECTOR, ".candidate audio")
    assert len(players) == 2 and job.find_elements(By.CSS_SELECTOR, ".input audio")
    assert job.find_elements(By.CSS_SELECTOR, ".candidate img")
    job.find_element(By.CSS_SELECTOR, ".candidate .ab").click()  # A/B: the match plays
    assert "A/B: match" in job.find_element(By.CSS_SELECTOR, ".candidate .ab").text
    # the preset downloads
    link = job.find_element(By.CSS_SELECTOR, ".candidate a.download-preset")
    with urllib.request.urlopen(link.get_attribute("href")) as response:
        assert response.status == 200 and b"parameters" in response.read()
    shot = tmp_path / "serve.png"
    browser.save_screenshot(str(shot))
    if os.environ.get("SOUNDMATCH_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["SOUNDMATCH_SCREENSHOT"])

    # a picture named .wav: one clear message on the page, and the page goes on working
    fake = tmp_path / "picture.wav"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(2000))
    find(By.ID, "file").send_keys(str(fake))
    find(By.ID, "start").click()
    message = wait_for(lambda: find(By.ID, "message").text, 30)
    assert message.startswith("picture.wav: cannot read audio")
    assert len(browser.find_elements(By.CSS_SELECTOR, ".job")) == 1

    # a reload lists the match again, its answers playable
    browser.refresh()
    wait_for(lambda: browser.execute_script("return document.body.dataset.ready"))
    assert len(browser.find_elements(By.CSS_SELECTOR, ".job .candidate audio")) == 2
    assert Path(shot).stat().st_size > 10_000

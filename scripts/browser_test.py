#!/usr/bin/env python3
"""The playground at GET / in a real browser: headless Chromium driven by Selenium.

Starts the given autodiffd binary on a free loopback port (or uses --url), loads the page, runs each
example, checks the gradients it shows against values computed here by hand, runs the curl command
the page shows, checks that an error shows the contract's message, and saves a screenshot.

    python3 scripts/browser_test.py --binary .build/debug/autodiffd [--screenshot docs/playground.png]

Needs: chromium, chromium-driver (Debian), selenium (pip), curl; graphviz for the picture.
"""
import argparse
import json
import math
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(binary):
    port = free_port()
    process = subprocess.Popen([binary, "--host", "127.0.0.1", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = "http://127.0.0.1:%d" % port
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                return process, url
        except OSError:
            time.sleep(0.1)
    process.kill()
    sys.exit("autodiffd did not answer /healthz within 60 s")


def browser():
    options = webdriver.ChromeOptions()
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"]:
        options.add_argument(argument)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium:
        options.binary_location = chromium
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    return webdriver.Chrome(service=Service(driver_path), options=options)


def close(actual, expected, tolerance=1e-9):
    flat = lambda v: [x for row in v for x in flat(row)] if isinstance(v, list) else [v]
    a, e = flat(actual), flat(expected)
    return len(a) == len(e) and all(math.isclose(x, y, rel_tol=tolerance, abs_tol=tolerance) for x, y in zip(a, e))


def mlp_gradients():
    """loss = mean((tanh(x·W1 + b1)·W2 + b2)²), differentiated by hand (the page's third example)."""
    x = [[1, -1], [0.5, 2]]
    W1 = [[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]]
    b1 = [0, 0.1, -0.1]
    W2 = [[0.7], [-0.8], [0.9]]
    b2 = [0.05]
    a = [[math.tanh(sum(x[i][k] * W1[k][j] for k in range(2)) + b1[j]) for j in range(3)] for i in range(2)]
    y = [sum(a[i][j] * W2[j][0] for j in range(3)) + b2[0] for i in range(2)]
    dy = [2 * y[i] / 2 for i in range(2)]  # d mean(y²) / dy over 2 elements
    dW2 = [[sum(a[i][j] * dy[i] for i in range(2))] for j in range(3)]
    db2 = [sum(dy)]
    dz = [[dy[i] * W2[j][0] * (1 - a[i][j] ** 2) for j in range(3)] for i in range(2)]
    dW1 = [[sum(x[i][k] * dz[i][j] for i in range(2)) for j in range(3)] for k in range(2)]
    db1 = [sum(dz[i][j] for i in range(2)) for j in range(3)]
    dx = [[sum(dz[i][j] * W1[k][j] for j in range(3)) for k in range(2)] for i in range(2)]
    return {"x": dx, "W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


EXPECTED = [
    {"x": [2, 4, 6]},                                   # y = x², seed ones
    {"x": [2.5, 4, 10], "w": [1, 0, 6]},                # seed_p·w + seed_q·2x, seed_p·x
    mlp_gradients(),
]


def run_example(driver, index):
    Select(driver.find_element(By.ID, "example")).select_by_index(index)
    return run_form(driver)


def run_form(driver):
    driver.find_element(By.ID, "run").click()
    WebDriverWait(driver, 60).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state")
                                    in ("done", "error"))
    return driver.find_element(By.TAG_NAME, "body").get_attribute("data-state")


def shown(driver, attribute):
    cells = [cell for cell in driver.find_elements(By.CSS_SELECTOR, "td[%s]" % attribute) if cell.is_displayed()]
    return {cell.get_attribute(attribute): json.loads(cell.text) for cell in cells}


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        check.failures += 1


check.failures = 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", help="autodiffd to start")
    parser.add_argument("--url", help="a running server instead")
    parser.add_argument("--screenshot", default="docs/playground.png")
    args = parser.parse_args()
    process, url = (None, args.url) if args.url else start_server(args.binary or ".build/debug/autodiffd")
    driver = browser()
    try:
        driver.get(url + "/")
        check(driver.title == "autodiffd playground", "page loads from GET /")
        for index, expected in enumerate(EXPECTED):
            state = run_example(driver, index)
            gradients = shown(driver, "data-gradient")
            check(state == "done" and set(gradients) == set(expected)
                  and all(close(gradients[k], v) for k, v in expected.items()),
                  "example %d shows gradients %s" % (index, gradients))
            image = driver.find_elements(By.ID, "picture-image")
            check(bool(image) and driver.execute_script("return arguments[0].naturalWidth", image[0]) > 0,
                  "example %d draws its graph as SVG" % index)
            command = driver.find_element(By.ID, "curl").text
            reply = json.loads(subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                                              timeout=60).stdout)
            check(all(close(reply["gradients"][k], v) for k, v in expected.items()),
                  "example %d: the curl command shown gives the same gradients" % index)
        compare = shown(driver, "data-compare")
        check(compare == {}, "the comparison belongs to the first example only")

        # Back to the first example: the seed "ones" next to y.sum(), both 2x. This is the screenshot.
        state = run_example(driver, 0)
        check(close(shown(driver, "data-compare").get("x"), [2, 4, 6]), "y.sum() without a seed gives 2x too")
        driver.save_screenshot(args.screenshot)
        print("saved", args.screenshot)

        # An error shows the contract's code and message.
        seeds = driver.find_element(By.ID, "seeds")
        seeds.clear()
        seeds.send_keys("{}")
        state = run_form(driver)
        error = driver.find_element(By.ID, "error").text
        check(state == "error" and error.startswith("seed_required: ") and '(node "y")' in error,
              "a missing seed shows the contract's error: " + error)
        driver.find_element(By.ID, "graph").send_keys("}")
        state = run_form(driver)
        error = driver.find_element(By.ID, "error").text
        check(state == "error" and "The graph is not valid JSON" in error, "bad JSON is reported: " + error)
    finally:
        driver.quit()
        if process:
            process.terminate()
            process.wait(timeout=30)
    if check.failures:
        sys.exit("%d browser check(s) failed" % check.failures)
    print("all browser checks passed")


if __name__ == "__main__":
    main()

"""The dashboard (/ui) and the API docs (/docs) in a real headless Chromium, driven by Selenium.

Started by e2e/tests/ui.rs with the facade's URL, two tokens and the names of what it created
(see `env` below); it asserts what the pages show, clicks the buttons, writes screenshots into
$UI_SHOTS and prints `TRIGGERED <run>` for the Rust side to check in the cluster. Every request
the browser makes is logged (DevTools performance log) and must go to the facade: host names do
not resolve (--host-resolver-rules), so an external request could not succeed either.
"""

import json
import os
import re
import sys
import time
from urllib.parse import urlparse

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

BASE = os.environ["UI_BASE"].rstrip("/")
ADMIN = os.environ["UI_ADMIN_TOKEN"]
USER = os.environ["UI_USER_TOKEN"]
# A facade that serves every namespace, and the workspace the user's token may read.
WIDE = os.environ["UI_WIDE_BASE"].rstrip("/")
ELSE = os.environ["UI_ELSE_WS"]
ORG = os.environ["UI_ORG"]
WS = os.environ["UI_WS"]
APP = os.environ["UI_APP"]
SHOTS = os.environ["UI_SHOTS"]
WAIT = float(os.environ.get("UI_WAIT_SECONDS", "30"))

os.makedirs(SHOTS, exist_ok=True)
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def driver():
    opts = webdriver.ChromeOptions()
    opts.binary_location = os.environ.get("UI_CHROMIUM", "/usr/bin/chromium")
    for arg in [
        "--headless=new",
        "--no-sandbox",  # root in CI; the page is our own
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        # Nothing but loopback resolves: the pages must need nothing from elsewhere.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ]:
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    service = Service(executable_path=os.environ.get("UI_CHROMEDRIVER", "/usr/bin/chromedriver"))
    return webdriver.Chrome(service=service, options=opts)


d = driver()
requested = []


def drain_requests():
    for entry in d.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            requested.append(msg["params"]["request"]["url"])


def wait_for(fn, what, timeout=WAIT):
    try:
        return WebDriverWait(d, timeout, poll_frequency=0.25).until(lambda _d: fn())
    except TimeoutException:
        shot(f"timeout-{re.sub('[^a-z0-9]+', '-', what.lower())[:40]}")
        check(False, f"{what} (timed out after {timeout} s)")
        return None


def ready():
    return d.execute_script('return document.getElementById("main").dataset.ready === "true"')


def go(hash_):
    d.execute_script('document.getElementById("main").dataset.ready = "false"; location.hash = arguments[0];', hash_)
    wait_for(ready, f"page {hash_} rendered")


def shot(name):
    path = os.path.join(SHOTS, f"{name}.png")
    d.save_screenshot(path)
    print(f"shot {path}", flush=True)


def full_shot(name, width=1280):
    """A screenshot of the whole page height."""
    height = d.execute_script("return Math.max(document.body.scrollHeight, 600)")
    d.set_window_size(width, min(height + 120, 4000))
    d.execute_script("window.scrollTo(0, 0)")
    shot(name)
    d.set_window_size(1280, 1000)


def text(css):
    els = d.find_elements(By.CSS_SELECTOR, css)
    try:
        return els[0].text if els else ""
    except StaleElementReferenceException:
        # The page re-rendered between finding the element and reading it: not there yet.
        return ""


def sign_in(token):
    field = wait_for(lambda: d.find_elements(By.ID, "token"), "the sign-in form")
    if not field:
        return
    field[0].clear()
    field[0].send_keys(token)
    field[0].send_keys(Keys.ENTER)
    wait_for(ready, "signed in")


def sign_out():
    for b in d.find_elements(By.CSS_SELECTOR, "#session button"):
        b.click()


def a11y_basics(page):
    """Labels, names and landmarks: what a keyboard or screen reader user needs first."""
    problems = d.execute_script(
        """
        const out = [];
        if (!document.documentElement.lang) out.push("html has no lang");
        for (const sel of ["main", "header", "nav"]) if (!document.querySelector(sel)) out.push("no " + sel);
        for (const i of document.querySelectorAll("input, select, textarea")) {
          if (i.type === "hidden") continue;
          const named = i.labels && i.labels.length || i.getAttribute("aria-label") || i.getAttribute("aria-labelledby");
          if (!named) out.push("unlabelled " + i.outerHTML.slice(0, 60));
        }
        for (const b of document.querySelectorAll("button, a[href]")) {
          if (!(b.textContent || "").trim() && !b.getAttribute("aria-label")) out.push("nameless " + b.outerHTML.slice(0, 60));
        }
        for (const s of document.querySelectorAll("svg[role=img]")) if (!s.getAttribute("aria-label")) out.push("svg without aria-label");
        return out;
        """
    )
    check(problems == [], f"{page}: labels, names and landmarks ({problems})")


CONTRAST_JS = """
    // WCAG 2 contrast of every visible element's own text against its background, composited
    // up the tree (semi-transparent layers over white). SVG text is left out: every mark also has
    // a text label in the legend.
    const parse = (s) => {
      const m = s.match(/rgba?\\(([^)]+)\\)/);
      if (!m) return null;
      const p = m[1].split(",").map(parseFloat);
      return { rgb: p.slice(0, 3), a: p.length > 3 ? p[3] : 1 };
    };
    const lum = (rgb) => {
      const [r, g, b] = rgb.map((v) => {
        v /= 255;
        return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
      });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const background = (el) => {
      const layers = [];
      for (let e = el; e; e = e.parentElement) {
        const c = parse(getComputedStyle(e).backgroundColor);
        if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
      }
      let rgb = [255, 255, 255];
      for (const l of layers.reverse()) rgb = rgb.map((v, i) => l.rgb[i] * l.a + v * (1 - l.a));
      return rgb;
    };
    const out = [];
    let checked = 0;
    for (const el of document.querySelectorAll("body *")) {
      if (el instanceof SVGElement || !el.getClientRects().length) continue;
      const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
      if (!own) continue;
      const cs = getComputedStyle(el);
      if (cs.visibility === "hidden" || cs.display === "none") continue;
      const fg = parse(cs.color);
      if (!fg) continue;
      const bg = background(el);
      const f = fg.rgb.map((v, i) => v * fg.a + bg[i] * (1 - fg.a));
      const [hi, lo] = [lum(f), lum(bg)].sort((a, b) => b - a);
      const ratio = (hi + 0.05) / (lo + 0.05);
      const size = parseFloat(cs.fontSize);
      const large = size >= 24 || (size >= 18.66 && parseInt(cs.fontWeight, 10) >= 700);
      checked++;
      if (ratio < (large ? 3 : 4.5))
        out.push(`${el.tagName.toLowerCase()}.${el.className}: ${ratio.toFixed(2)} "${el.textContent.trim().slice(0, 30)}"`);
    }
    return [checked, out];
"""


def contrast(page):
    """Every visible text meets WCAG AA contrast (4.5:1, large text 3:1), as rendered."""
    checked, low = d.execute_script(CONTRAST_JS)
    check(checked > 20 and low == [], f"{page}: text contrast AA over {checked} elements ({low[:5]})")


def js_click(el):
    """Clicks through JavaScript: Swagger UI's sticky elements can cover a plain click."""
    d.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", el)


def try_it_out_in_docs():
    """/docs is usable, not just listed: authorize with the token, try the list route."""
    js_click(d.find_element(By.CSS_SELECTOR, "button.authorize"))
    # One form per security scheme: the API's own is `bearer` (the other is the callbacks').
    forms = wait_for(lambda: [c for c in d.find_elements(By.CSS_SELECTOR, ".modal-ux .auth-container")
                              if c.text.strip().startswith("bearer")], "the Authorize dialog")
    if not forms:
        return
    forms[0].find_element(By.TAG_NAME, "input").send_keys(ADMIN)
    js_click(forms[0].find_element(By.CSS_SELECTOR, "button.authorize"))
    done = wait_for(lambda: d.find_elements(By.CSS_SELECTOR, ".modal-ux button.btn-done"), "authorized")
    if not done:
        return
    js_click(done[0])
    path = "/v1/orgs/{org_id}/workspaces/{workspace_id}/apps/{app_id}/actions"
    block = [b for b in d.find_elements(By.CSS_SELECTOR, ".opblock.opblock-get")
             if b.find_elements(By.CSS_SELECTOR, f'.opblock-summary-path[data-path="{path}"]')]
    check(len(block) == 1, f"/docs has the GET of {path}")
    if not block:
        return
    # The operation's toggle is a button inside its summary row.
    toggle = block[0].find_elements(By.CSS_SELECTOR, "button.opblock-summary-control")
    js_click(toggle[0] if toggle else block[0].find_element(By.CSS_SELECTOR, ".opblock-summary"))
    try_out = wait_for(lambda: block[0].find_elements(By.CSS_SELECTOR, "button.try-out__btn"), "Try it out")
    if not try_out:
        return
    js_click(try_out[0])
    for name, value in [("org_id", ORG), ("workspace_id", WS), ("app_id", APP)]:
        box = block[0].find_elements(By.CSS_SELECTOR, f'tr[data-param-name="{name}"] input')
        check(len(box) == 1, f"/docs asks for {name}")
        if box:
            box[0].send_keys(value, Keys.TAB)
    # Swagger UI debounces its inputs: let the last value land before executing.
    time.sleep(1)
    js_click(block[0].find_element(By.CSS_SELECTOR, "button.execute"))
    # The table's first row is its header ("Code", "Details"); the answer is the row below.
    answer = ".opblock.is-open .live-responses-table tbody tr.response"
    code = wait_for(lambda: text(f"{answer} .response-col_status"), "the tried request answered")
    body = text(f"{answer} .response-col_description")
    check((code or "").strip() == "200", f"/docs try-it-out answered {code!r}")
    check("nightly-report" in body, f"/docs try-it-out shows the Actions ({body[:80]!r})")
    shot("docs-try-it-out")


try:
    # ---- /docs: Swagger UI from the binary, nothing from elsewhere ----
    d.get(f"{BASE}/docs/")
    title = wait_for(lambda: text(".swagger-ui .info .title"), "Swagger UI shows the API title")
    check("Punctual Actions API" in (title or ""), f"/docs title: {title!r}")
    ops = wait_for(lambda: d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"), "Swagger UI lists operations")
    paths = {o.get_attribute("data-path") or o.text for o in ops or []}
    check(any(p.endswith("/actions/{action_id}/trigger") for p in paths), "/docs lists the trigger route")
    check(any(p.endswith("/timeline") for p in paths), "/docs lists the dashboard's timeline route")
    check(bool(d.find_elements(By.CSS_SELECTOR, "button.authorize")), "/docs has the Authorize button (try it out)")
    shot("docs")
    try_it_out_in_docs()

    # ---- a token with RBAC in another workspace only sees nothing of this one ----
    # On the facade that serves every namespace: RBAC, not a watch scope, keeps it out.
    d.get(f"{WIDE}/ui/")
    sign_in(USER)
    items = wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "#workspaces li"), "the user's workspaces listed")
    listed = [i.text for i in items or []]
    print("the user's workspaces:", listed, flush=True)
    # (Other tests running meanwhile may grant the same user other workspaces: not this one.)
    check(f"{ORG} / {ELSE} (no Actions)" in listed, f"the workspace the token may read is listed: {listed}")
    check(not any(WS in t for t in listed), f"the workspace it may not read is not: {listed}")
    check(WS not in d.find_element(By.ID, "main").text, "the user does not see the other workspace's name")
    shot("rbac-workspaces")
    go(f"#/{ORG}/{WS}/{APP}")
    body = d.find_element(By.ID, "main").text
    check("Forbidden (403)" in body, f"the RBAC-less token gets 403 on the app page: {body[:120]!r}")
    check("nightly-report" not in body and "Nightly report" not in body, "no Action name leaks to that token")
    shot("rbac-forbidden")
    sign_out()

    # ---- the admin: workspaces, then the app ----
    d.get(f"{BASE}/ui/")
    sign_in(ADMIN)
    link = wait_for(lambda: d.find_elements(By.LINK_TEXT, f"{ORG} / {WS} / {APP}"), "the workspace link")
    if link:
        link[0].click()
    wait_for(lambda: ready() and len(d.find_elements(By.CSS_SELECTOR, "#actions tbody tr")) == 4, "4 Actions listed")

    def row(action):
        els = d.find_elements(By.CSS_SELECTOR, f'#actions tr[data-action="{action}"]')
        return els[0].text if els else ""

    def cells(action):
        return [c.text for c in d.find_elements(By.CSS_SELECTOR, f'#actions tr[data-action="{action}"] td')]

    nightly = cells("nightly-report")
    print("nightly row:", nightly, flush=True)
    check(nightly and "Nightly report" in nightly[0], "the display name is shown")
    check(nightly and nightly[1] == "* * * * *" and nightly[2] == "UTC" and nightly[3] == "enabled", "schedule, zone, enabled")
    check(nightly and nightly[4] == "yes", "READY yes")
    check(nightly and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", nightly[5]), "next fire times listed")
    check(nightly and nightly[6] == "succeeded" and int(nightly[7]) >= 2 and int(nightly[8]) >= 2, "last status and counters")
    broken = cells("broken-hook")
    check(broken and broken[1] == "manual" and broken[6] == "failed" and broken[9] == "1", f"broken-hook failed once: {broken}")
    flaky = cells("flaky-sync")
    check(flaky and flaky[6] == "succeeded" and flaky[8] == "1", f"flaky-sync succeeded: {flaky}")
    slow = cells("slow-crawl")
    check(slow and int(slow[10] or 0) >= 1, f"slow-crawl has a skipped slot: {slow}")
    check(int(text("#ov-failed .value") or 0) >= 1 and int(text("#ov-succeeded .value") or 0) >= 3, "overview counts finished runs")
    check("%" in text("#ov-failure-rate .value"), "overview failure rate")
    check(text("#ov-lag .value").count("/") == 2, "overview lag percentiles")
    a11y_basics("app page")
    contrast("app page")
    full_shot("app")

    # Keyboard: on a fresh load the first Tab reaches the skip link, Enter moves focus to main.
    d.refresh()
    wait_for(ready, "reloaded")
    ActionChains(d).send_keys(Keys.TAB).perform()
    check(d.switch_to.active_element.get_attribute("class") == "skip", "first Tab focuses the skip link")
    ActionChains(d).send_keys(Keys.ENTER).perform()
    check(d.switch_to.active_element.get_attribute("id") == "main", "the skip link moves focus to main")

    # Filter by name.
    f = d.find_element(By.ID, "filter")
    f.send_keys("flaky")
    visible = [r.get_attribute("data-action") for r in d.find_elements(By.CSS_SELECTOR, "#actions tbody tr") if r.is_displayed()]
    check(visible == ["flaky-sync"], f"filter shows only flaky-sync: {visible}")
    check(text("#shown") == "1 of 4 Actions shown", f"filter count: {text('#shown')!r}")
    f.clear()
    f.send_keys(Keys.BACKSPACE)

    # A phone.
    d.set_window_size(390, 844)
    time.sleep(0.5)
    overflow = d.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    check(overflow <= 1, f"no horizontal page scroll on a phone (overflow {overflow}px)")
    shot("app-phone")
    d.set_window_size(1280, 1000)

    # ---- one Action: timeline, plot, runs, trigger, disable/enable ----
    go(f"#/{ORG}/{WS}/{APP}/nightly-report")
    marks = d.find_elements(By.CSS_SELECTOR, "#timeline-chart rect.mark.succeeded")
    check(len(marks) >= 2, f"timeline has succeeded marks ({len(marks)})")
    legend = text('#timeline-legend li[data-mark="succeeded"] strong')
    check(legend.isdigit() and int(legend) == len(marks), f"legend counts the succeeded marks ({legend})")
    check(len(d.find_elements(By.CSS_SELECTOR, "#lag-plot circle")) >= 2, "lag plot has points")
    check(len(d.find_elements(By.CSS_SELECTOR, "#runs tbody tr[data-run]")) >= 2, "runs listed")
    a11y_basics("action page")
    contrast("action page")
    full_shot("action-timeline")

    d.find_element(By.ID, "btn-trigger").click()
    status = wait_for(lambda: re.search(r"Triggered: run (\S+) is pending", text("#action-status")), "trigger answered")
    if status:
        run = status.group(1)
        print(f"TRIGGERED {run}", flush=True)
        sel = f'#runs tr[data-run="{run}"]'
        wait_for(lambda: d.find_elements(By.CSS_SELECTOR, sel), "the triggered run appears in the list")
        wait_for(lambda: "succeeded" in text(sel), "the triggered run succeeds", timeout=60)
        check("manual" in text(sel), "the triggered run is manual")
        shot("action-triggered")

    d.find_element(By.ID, "btn-disable").click()
    wait_for(lambda: ready() and d.find_elements(By.ID, "btn-enable") and text("#enabled") == "disabled", "disabled from the page")
    print("DISABLED nightly-report", flush=True)
    d.find_element(By.ID, "btn-enable").click()
    wait_for(lambda: ready() and d.find_elements(By.ID, "btn-disable") and text("#enabled") == "enabled", "enabled again from the page")

    d.find_element(By.CSS_SELECTOR, 'input[name="window"][value="168"]').click()
    wait_for(lambda: ready() and "hours=168" in d.current_url, "the week window")
    check(len(d.find_elements(By.CSS_SELECTOR, "#timeline-chart rect.mark")) >= 2, "week timeline has marks")
    d.find_element(By.CSS_SELECTOR, 'input[name="window"][value="1"]').click()
    wait_for(lambda: ready() and "hours=1" in d.current_url and "hours=168" not in d.current_url, "the hour window")
    marks = d.find_elements(By.CSS_SELECTOR, "#timeline-chart rect.mark.succeeded")
    check(len(marks) >= 3, f"hour timeline has the scheduled and the triggered runs ({len(marks)})")
    # The picture in the README (docs/ui-timeline.png is copied from it).
    full_shot("action-timeline-hour")

    # ---- a retried run: the attempt view ----
    go(f"#/{ORG}/{WS}/{APP}/flaky-sync")
    rows = d.find_elements(By.CSS_SELECTOR, "#runs tbody tr[data-run]")
    check(len(rows) == 1 and "succeeded" in rows[0].text, "flaky-sync: one succeeded run")
    if rows:
        rows[0].find_element(By.TAG_NAME, "button").click()
        att = wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "#attempts tbody tr"), "the attempts of the retried run")
        if att:
            cols = [[c.text for c in r.find_elements(By.TAG_NAME, "td")] for r in att]
            print("attempts:", cols, flush=True)
            check(len(cols) == 2, "two attempts")
            check(len(cols) == 2 and cols[0][4] == "500" and cols[0][5] == "http_error" and cols[1][4] == "200", "500 then 200")
            check(d.switch_to.active_element.tag_name == "h3", "focus moves to the run detail")
        full_shot("run-attempts")

    go(f"#/{ORG}/{WS}/{APP}/broken-hook")
    check(text("#c-failed .value") == "1", "broken-hook: 1 failed")
    check(len(d.find_elements(By.CSS_SELECTOR, "#timeline-chart rect.mark.failed")) == 1, "broken-hook: one failed mark")

    go(f"#/{ORG}/{WS}/{APP}/slow-crawl")
    check(int(text("#c-skipped .value") or 0) >= 1, "slow-crawl: skipped slots counted")
    # Cancel the run still going (its endpoint takes minutes) from the page.
    running = [r for r in d.find_elements(By.CSS_SELECTOR, "#runs tbody tr[data-run]") if "running" in r.text]
    check(len(running) == 1, f"slow-crawl: one run still running ({len(running)})")
    if running:
        victim = running[0].get_attribute("data-run")
        running[0].find_element(By.CSS_SELECTOR, "button.cancel").click()
        wait_for(lambda: f"Cancel requested for run {victim}" in text("#action-status"), "cancel answered")
        sel = f'#runs tr[data-run="{victim}"]'
        wait_for(lambda: "cancelled" in text(sel), "the cancelled run shows cancelled")
        check(not d.find_elements(By.CSS_SELECTOR, f"{sel} button.cancel"), "a cancelled run has no Cancel button")
        print(f"CANCELLED {victim}", flush=True)
    skipped = d.find_elements(By.CSS_SELECTOR, "#timeline-chart rect.mark.skipped")
    check(len(skipped) >= 1, f"slow-crawl: the slot during the active run is marked skipped ({len(skipped)})")
    full_shot("action-skipped")

    # ---- behind an authenticating proxy: no token pasted, the header comes from outside ----
    sign_out()
    d.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Bearer {ADMIN}"}})
    d.get(f"{BASE}/ui/")
    link = wait_for(lambda: d.find_elements(By.LINK_TEXT, f"{ORG} / {WS} / {APP}"), "the workspace, by the proxy's header")
    check(bool(link) and not d.find_elements(By.ID, "token"), "no sign-in form behind the proxy")
    check(d.execute_script("return sessionStorage.getItem('punctual.token')") is None, "no token kept in the page")
    shot("behind-proxy")
    d.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})

    drain_requests()
    ours = {urlparse(BASE).netloc, urlparse(WIDE).netloc}
    foreign = [u for u in requested if not (u.startswith("data:") or urlparse(u).netloc in ours)]
    check(len(requested) > 10, f"requests were logged ({len(requested)})")
    check(foreign == [], f"every request went to the facade (others: {foreign[:5]})")
    console = [e for e in d.get_log("browser") if e.get("level") == "SEVERE" and "favicon" not in e.get("message", "")]
    # 401/403 answers are expected in the RBAC part; anything else is a page error.
    errors = [e["message"] for e in console if not re.search(r" (401|403) ", e["message"])]
    check(errors == [], f"no console errors ({errors[:3]})")
finally:
    d.quit()

print(f"{len(failures)} failure(s)", flush=True)
sys.exit(1 if failures else 0)

"""HQ's console in a real browser (Debian's chromium, headless, through chromium-driver and Selenium).

Usage: console_walkthrough.py CONSOLE_URL USER PASSWORD SCREENSHOT_DIR [ANALYST [PUSH_COMMAND_JSON]]

PUSH_COMMAND_JSON, a JSON array, is a command that pushes one new return to HQ (a kiosk's sync): it runs while
the dashboard is open, which must show the new return without a reload.

USER may settle conflicts and decide reviews; ANALYST (same password) may only read. HQ holds one return in
conflict on its disposition (dispose | recycle) and one waiting for review.
Prints one line per step; exits non-zero at the first step that does not hold.
"""
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

url, user, password, shots = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3], sys.argv[4]
analyst = sys.argv[5] if len(sys.argv) > 5 else None
push = json.loads(sys.argv[6]) if len(sys.argv) > 6 else None
os.makedirs(shots, exist_ok=True)

options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
    options.add_argument(argument)
# The browser's profile and the forged page go in one scratch directory, removed however the walkthrough ends
# (sys.exit included): each run left a profile of a few MB in /tmp before.
scratch = tempfile.mkdtemp(prefix="returnsync-chromium-")
atexit.register(shutil.rmtree, scratch, True)
options.add_argument("--user-data-dir=" + os.path.join(scratch, "profile"))
browser = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)
browser.set_page_load_timeout(30)


def check(condition, step):
    """Waits (up to 15 s, polling) until `condition()` holds: a submitted form navigates on its own time."""
    try:
        # A live page swaps its content in: an element read as it is replaced is read again.
        WebDriverWait(browser, 15, poll_frequency=0.05,
                      ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)).until(
            lambda _: condition())
    except TimeoutException:
        print("FAILED:", step, "| page:", browser.current_url, browser.page_source[:600].replace("\n", " "))
        browser.quit()
        sys.exit(1)
    print("ok:", step)


def shoot(name):
    # Laptop and tablet widths, as the issue asks reviewers to check both.
    for label, (width, height) in (("laptop", (1366, 768)), ("tablet", (820, 1180))):
        browser.set_window_size(width, height)
        browser.save_screenshot(os.path.join(shots, f"{name}-{label}.png"))


try:
    browser.get(url + "/")
    check(lambda: browser.current_url == url + "/login", "a visitor is sent to the sign-in page")
    shoot("sign-in")

    # Keyboard only: labelled fields, Tab between them, Enter submits.
    name_field = browser.find_element(By.ID, "name")
    check(lambda: browser.find_element(By.CSS_SELECTOR, "label[for=name]").text == "User name", "the name field is labelled")
    name_field.send_keys(user + Keys.TAB + "not the password" + Keys.ENTER)
    check(lambda: "wrong user name or password" in browser.page_source, "a wrong password is refused in words")

    browser.find_element(By.ID, "name").send_keys(user)
    browser.find_element(By.ID, "password").send_keys(password + Keys.ENTER)
    check(lambda: browser.current_url == url + "/", "signed in, on the dashboard")
    check(lambda: f"signed in as {user}" in browser.find_element(By.TAG_NAME, "header").text, "the header names the user")
    check(lambda: len(browser.find_elements(By.CSS_SELECTOR, ".figure")) >= 5, "the dashboard shows the report's figures")
    shoot("dashboard")
    if push:
        # Live: the page's stream opens, a kiosk syncs a return, the returns figure moves without a reload.
        def returns_figure():
            return int(browser.find_element(By.XPATH, "//dt[text()='returns']/following-sibling::dd").text)
        check(lambda: browser.find_element(By.ID, "live").text.startswith("Live:"), "the dashboard is live")
        before = returns_figure()
        marker = browser.execute_script("window.notReloaded = true; return window.notReloaded")
        synced = subprocess.run(push, capture_output=True, text=True)
        check(lambda: synced.returncode == 0, "a kiosk syncs a new return: " + synced.stderr.strip())
        check(lambda: returns_figure() == before + 1, f"the dashboard shows it live ({before} -> {before + 1} returns)")
        check(lambda: marker and browser.execute_script("return window.notReloaded === true"), "without a reload")
        check(lambda: browser.find_element(By.ID, "live").text.startswith("Live: updated"), "the page says when it updated")
        shoot("dashboard-live")
    cookie = browser.get_cookie("returnsync_session")
    check(lambda: cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict", "the session cookie is HttpOnly and strict")
    check(lambda: browser.execute_script("return document.cookie").find("returnsync_session") < 0, "no page script can read it")

    # Find a return: the Returns link, a store typed in its labelled filter, Enter; then the return itself, whose note
    # (typed at a kiosk as markup) reads as text and runs nothing.
    browser.find_element(By.LINK_TEXT, "Returns").click()
    check(lambda: browser.current_url == url + "/returns", "the returns page")
    browser.find_element(By.ID, "store").send_keys("south" + Keys.ENTER)
    check(lambda: "1 return matches." in browser.page_source, "the store filter finds the store's one return")
    shoot("returns")
    browser.find_element(By.CSS_SELECTOR, "tbody a").click()
    check(lambda: "/returns/" in browser.current_url, "the return's page")
    check(lambda: "<script>alert('south')</script>" in browser.find_element(By.CLASS_NAME, "notes").text,
          "a note holding markup shows as text")
    shoot("return")
    browser.get(url + "/")

    # A forged cross-site form (another origin, posting to sign-out): the browser does not send the strict cookie,
    # and without the session's CSRF token it would be refused anyway — the user is still signed in after it.
    forged = os.path.join(scratch, "forged.html")
    with open(forged, "w") as page:
        page.write(f'<form id="f" method="post" action="{url}/logout"><input name="csrf" value="guess"></form>'
                   '<script>document.getElementById("f").submit()</script>')
    browser.get("file://" + forged)
    check(lambda: browser.current_url.startswith(url), "the forged form was posted")
    browser.get(url + "/")
    check(lambda: browser.current_url == url + "/" and user in browser.page_source, "a forged cross-site form changed nothing")

    # Settle a conflict: the Conflicts link, the two values side by side, one click keeps one.
    browser.find_element(By.LINK_TEXT, "Conflicts").click()
    check(lambda: len(browser.find_elements(By.CSS_SELECTOR, ".side")) == 2, "the conflict's two values side by side")
    shoot("conflicts")
    keep = [b for b in browser.find_elements(By.TAG_NAME, "button") if b.text == "Keep recycle"]
    check(lambda: len(keep) == 1, "a button keeps 'recycle'")
    keep[0].click()
    check(lambda: "Settled disposition." in browser.page_source and "No open conflicts." in browser.page_source,
          "the conflict is settled")

    # Approve a review: the Review link, the return picked by its labelled checkbox (keyboard: Space), Approve.
    browser.find_element(By.LINK_TEXT, "Review").click()
    check(lambda: "1 return waiting." in browser.page_source, "one return waits for review")
    shoot("review")
    browser.find_element(By.CSS_SELECTOR, "input[type=checkbox]").send_keys(Keys.SPACE)
    browser.find_element(By.ID, "note").send_keys("receipt seen")
    [b for b in browser.find_elements(By.TAG_NAME, "button") if b.text == "Approve picked"][0].click()
    check(lambda: "1 return approved." in browser.page_source and "Nothing waits for a review." in browser.page_source,
          "the review is approved")

    # The other pages, each reached from the header and photographed at both widths.
    for link, heading in (("Reports", "Reports"), ("Recalls", "Recall campaigns"), ("Kiosks", "Kiosks"),
                          ("Orders", "Sales orders"), ("Photos", "Photos and documents"),
                          ("Policies", "Policies and stores"), ("Users", "Users")):
        browser.find_element(By.LINK_TEXT, link).click()
        check(lambda: browser.find_element(By.TAG_NAME, "h1").text == heading, f"the {link.lower()} page")
        unlabelled = browser.execute_script("""
            return [...document.querySelectorAll('main input:not([type=hidden]), main select')]
                .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).length""")
        check(lambda: unlabelled == 0, f"every control on the {link.lower()} page is labelled")
        shoot(link.lower())

    browser.find_element(By.CSS_SELECTOR, "header button").click()
    check(lambda: browser.current_url == url + "/login", "signed out")
    browser.get(url + "/")
    check(lambda: browser.current_url == url + "/login", "the dashboard needs signing in again")

    if analyst:
        # An analyst reads the queues but has no buttons; a form forged inside their own session (the token copied
        # from the page's sign-out form, posted by a script the console's policy would never run) is refused.
        browser.find_element(By.ID, "name").send_keys(analyst)
        browser.find_element(By.ID, "password").send_keys(password + Keys.ENTER)
        check(lambda: f"signed in as {analyst}" in browser.page_source, "the analyst is signed in")
        browser.get(url + "/conflicts")
        check(lambda: "Download every conflict" in browser.page_source and "Keep " not in browser.page_source,
              "the analyst sees conflicts, no settle buttons")
        browser.get(url + "/review")
        check(lambda: "Approve picked" not in browser.page_source, "the analyst has no approve button")
        browser.execute_script("""
            const token = document.querySelector('header input[name=csrf]').value;
            const form = document.createElement('form');
            form.method = 'post'; form.action = '/review';
            for (const [name, value] of [['csrf', token], ['ids[]', 'x'], ['decision', 'approve']]) {
                const input = document.createElement('input');
                input.type = 'hidden'; input.name = name; input.value = value; form.appendChild(input);
            }
            document.body.appendChild(form); form.submit();""")
        check(lambda: "Your role (analyst) may not" in browser.page_source, "the server refuses the analyst's approval")
        shoot("refused")
finally:
    browser.quit()
print("walkthrough complete")

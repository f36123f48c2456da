#!/usr/bin/env python3
"""Headless Chromium for the tests, driven over the DevTools protocol: opens the URL given as
the first argument and, once it has loaded, prints "ready"; then each line on stdin is a
command and gets one line back:
    eval <javascript>   the expression's value, as JSON
    shot <path>         saves a PNG screenshot of the page there; prints "ok"
The browser stops when stdin closes."""
import base64
import ctypes
import json
import os
import signal
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket


def die_with_parent():
    """In the child, before exec: SIGKILL when the parent (this driver) dies."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def main():
    url = sys.argv[1]
    profile = tempfile.mkdtemp(prefix="slotcache-chromium-")
    browser = subprocess.Popen(
        [shutil.which("chromium") or "chromium", "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1500,1900",
         "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        # Its own process group, so that every process it starts goes with it; and killed
        # with this driver, should the driver be killed first.
        start_new_session=True, preexec_fn=die_with_parent)
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")
        deadline = time.time() + 30
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            if time.time() > deadline:
                raise SystemExit("chromium did not open its debugging port")
            time.sleep(0.1)
        port = open(port_file).read().split()[0]
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json"))
        page = next(t for t in targets if t["type"] == "page")
        ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30)
        ids = iter(range(1, 1 << 30))

        def call(method, **params):
            msg_id = next(ids)
            ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
            while True:
                message = json.loads(ws.recv())
                if message.get("id") == msg_id:
                    if "error" in message:
                        raise RuntimeError(message["error"])
                    return message["result"]

        call("Page.enable")
        call("Page.navigate", url=url)
        deadline = time.time() + 30
        while call("Runtime.evaluate", expression="document.readyState",
                   returnByValue=True)["result"].get("value") != "complete":
            if time.time() > deadline:
                raise SystemExit("the page did not load")
            time.sleep(0.1)
        print("ready", flush=True)
        for line in sys.stdin:
            command, _, argument = line.rstrip("\n").partition(" ")
            if command == "eval":
                result = call("Runtime.evaluate", expression=argument, returnByValue=True)
                print(json.dumps(result["result"].get("value")), flush=True)
            elif command == "shot":
                shot = call("Page.captureScreenshot", format="png")
                with open(argument, "wb") as out:
                    out.write(base64.b64decode(shot["data"]))
                print("ok", flush=True)
            else:
                print(json.dumps({"error": f"unknown command {command}"}), flush=True)
    finally:
        try:
            os.killpg(browser.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        browser.wait()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""webui_cdp.py - drive a headless Chromium through the DevTools protocol, one step per call, for
t_pg_webui.sh. The browser is started by the test (--headless --remote-debugging-port=0
--user-data-dir=DIR); every call here finds its port in DIR/DevToolsActivePort and attaches to
the browser's first page, so the page lives on between calls (no reload between steps).

  webui_cdp.py DIR open URL [TIMEOUT_S]     navigate, wait for the load event; marks the page
                                           (window.__webuiMark) so that `reloaded` can tell
  webui_cdp.py DIR eval EXPR                print the JSON value of a JS expression
  webui_cdp.py DIR wait EXPR TIMEOUT_S      poll EXPR every 0.1 s until truthy; exit 1 on timeout
                                           (printing the last value)
  webui_cdp.py DIR reloaded                 exit 0 when the page was reloaded since `open`
  webui_cdp.py DIR screenshot FILE [W H [EXPR]]
                                           save a PNG of the page; with W H at that window size
                                           (a phone: 390 844), and then EXPR must be truthy at that
                                           size (exit 1 otherwise). The size lasts for this call only.
  webui_cdp.py DIR type SELECTOR TEXT       set an input's value (as typed)
  webui_cdp.py DIR click SELECTOR           click the element (a real mouse event at its centre)
  webui_cdp.py DIR key KEY                  press a key (Enter, Escape, Tab) in the focused element

Every wait is bounded; exit status 2 on a protocol or connection problem.
"""
import base64
import json
import os
import sys
import time
import urllib.request

import websocket  # python3-websocket


class Cdp:
    def __init__(self, user_dir, timeout=10.0):
        port_file = os.path.join(user_dir, "DevToolsActivePort")
        with open(port_file) as f:
            port = int(f.readline().strip())
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as r:
            targets = json.load(r)
        pages = [t for t in targets if t.get("type") == "page"]
        if not pages:
            raise RuntimeError("no page target in the browser")
        # suppress_origin: Chromium refuses DevTools websockets that carry an Origin it does not allow
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=timeout,
                                              suppress_origin=True)
        self.next_id = 0
        self.events = []

    def call(self, method, timeout=10.0, **params):
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{method}: no answer in {timeout} s")
            self.ws.settimeout(left)
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_event(self, name, timeout):
        end = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e["method"] == name:
                    return self.events.pop(i)
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {name} in {timeout} s")
            self.ws.settimeout(left)
            try:
                msg = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                continue
            if "method" in msg:
                self.events.append(msg)

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise RuntimeError("JS exception: " + d.get("exception", {}).get("description", d.get("text", "?")))
        return r.get("result", {}).get("value")


def q(selector):
    return json.dumps(selector)


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    user_dir, cmd, args = argv[1], argv[2], argv[3:]
    cdp = Cdp(user_dir)
    if cmd == "open":
        timeout = float(args[1]) if len(args) > 1 else 15
        cdp.call("Page.enable")
        cdp.call("Page.navigate", url=args[0])
        cdp.wait_event("Page.loadEventFired", timeout)
        # errors thrown by the page from now on are kept for `eval window.__webuiErrors`
        cdp.eval("window.__webuiMark = 1; window.__webuiErrors = [];"
                 "addEventListener('error', e => __webuiErrors.push(String(e.message)));"
                 "addEventListener('unhandledrejection', e => __webuiErrors.push(String(e.reason)));")
        return 0
    if cmd == "eval":
        print(json.dumps(cdp.eval(args[0])))
        return 0
    if cmd == "wait":
        end = time.monotonic() + float(args[1])
        value = None
        while time.monotonic() < end:
            value = cdp.eval(args[0])
            if value:
                return 0
            time.sleep(0.1)
        print(f"still {json.dumps(value)} after {args[1]} s: {args[0]}", file=sys.stderr)
        return 1
    if cmd == "reloaded":
        return 0 if cdp.eval("window.__webuiMark !== 1") else 1
    if cmd == "screenshot":
        ok = True
        if len(args) >= 3:
            w, h = int(args[1]), int(args[2])
            # an override lasts as long as this DevTools session: this call
            cdp.call("Emulation.setDeviceMetricsOverride", width=w, height=h, deviceScaleFactor=1,
                     mobile=w < 600)
            if len(args) >= 4:
                value = cdp.eval(args[3])
                ok = bool(value)
                if not ok:
                    print(f"at {w}x{h}: {json.dumps(value)}: {args[3]}", file=sys.stderr)
        data = cdp.call("Page.captureScreenshot", timeout=20, format="png", captureBeyondViewport=True)["data"]
        with open(args[0], "wb") as f:
            f.write(base64.b64decode(data))
        return 0 if ok else 1
    if cmd == "type":
        cdp.eval(f"(() => {{ const e = document.querySelector({q(args[0])}); e.focus();"
                 f" e.value = {q(args[1])}; e.dispatchEvent(new Event('input', {{bubbles: true}})); }})()")
        return 0
    if cmd == "click":
        box = cdp.eval(f"(() => {{ const e = document.querySelector({q(args[0])}); if (!e) return null;"
                       " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
                       " return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        if not box:
            print(f"nothing matches {args[0]}", file=sys.stderr)
            return 1
        for kind in ("mousePressed", "mouseReleased"):
            cdp.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)
        return 0
    if cmd == "key":
        codes = {"Enter": 13, "Escape": 27, "Tab": 9}
        key = args[0]
        extra = {"text": "\r"} if key == "Enter" else {}
        cdp.call("Input.dispatchKeyEvent", type="keyDown", key=key, code=key,
                 windowsVirtualKeyCode=codes.get(key, 0), **extra)
        cdp.call("Input.dispatchKeyEvent", type="keyUp", key=key, code=key,
                 windowsVirtualKeyCode=codes.get(key, 0))
        return 0
    print(f"unknown command {cmd}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (OSError, RuntimeError, TimeoutError, websocket.WebSocketException) as e:
        print(f"webui_cdp: {e}", file=sys.stderr)
        sys.exit(2)

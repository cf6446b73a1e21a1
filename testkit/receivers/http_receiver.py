#!/usr/bin/env python3
"""A real HTTP receiver for ops-notify's tests: it checks each service's request shape
and the webhook signature, records every request as a JSON line, and can be slow or fail.

Paths: /svc/<service>/... checks <service>'s shape (400 when wrong);
/status/<code>/... answers <code>; /slow/<seconds>/... waits first;
/flaky/<n>/... answers 500 to the first <n> requests on that path, then 2xx.
Usage: http_receiver.py LOG PORT_FILE [SECRET_FILE]
"""
import hashlib
import hmac
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG, PORT_FILE = sys.argv[1], sys.argv[2]
SECRET = open(sys.argv[3]).read().strip().encode() if len(sys.argv) > 3 else None
LOCK = threading.Lock()
SEEN = {}


def need(cond, why):
    if not cond:
        raise ValueError(why)


def check_shape(service, headers, body, query):
    """Raises ValueError when the request is not what `service` accepts."""
    if service == "kuma":
        need(query.get("status", [""])[0] in ("up", "down"), "kuma: status=up|down")
        need("msg" in query, "kuma: msg")
        return None
    if service == "hc":
        return None
    need(headers.get("content-type", "").startswith("application/json"), "JSON content type")
    doc = json.loads(body)
    if service == "slack":
        need(isinstance(doc.get("text"), str) and doc["text"], "slack: text")
    elif service == "discord":
        need(isinstance(doc.get("content"), str) and len(doc["content"]) <= 2000, "discord: content <= 2000")
    elif service == "ntfy":
        need(all(isinstance(doc.get(k), str) for k in ("topic", "title", "message")), "ntfy: topic, title, message")
        need(doc.get("priority") in (1, 2, 3, 4, 5), "ntfy: priority 1..5")
    elif service == "gotify":
        need(headers.get("x-gotify-key"), "gotify: X-Gotify-Key")
        need(isinstance(doc.get("title"), str) and isinstance(doc.get("message"), str), "gotify: title, message")
    elif service == "telegram":
        need(doc.get("chat_id") and isinstance(doc.get("text"), str), "telegram: chat_id, text")
        need(len(doc["text"]) <= 4096, "telegram: text <= 4096")
    elif service == "teams":
        need(doc.get("@type") == "MessageCard" and doc.get("text"), "teams: a MessageCard with text")
    elif service == "workflows":
        card = doc["attachments"][0]
        need(card["contentType"] == "application/vnd.microsoft.card.adaptive", "workflows: adaptive card")
        need(card["content"]["type"] == "AdaptiveCard", "workflows: AdaptiveCard")
    elif service == "json":
        need(doc.get("v") == 1 and doc.get("kind") and doc.get("subject") and "facts" in doc, "json: pgops message")
        if SECRET is not None:
            ts = headers.get("x-pgops-timestamp", "")
            need(ts.isdigit() and abs(time.time() - int(ts)) < 300, "json: a fresh X-Pgops-Timestamp")
            want = "sha256=" + hmac.new(SECRET, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
            need(hmac.compare_digest(want, headers.get("x-pgops-signature", "")), "json: X-Pgops-Signature")
            return True
    else:
        raise ValueError(f"unknown service {service}")
    return None


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def handle_any(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        parts = [p for p in url.path.split("/") if p]
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, problem, signed = 200, None, None
        try:
            if parts[:1] == ["status"]:
                status = int(parts[1])
            elif parts[:1] == ["slow"]:
                time.sleep(float(parts[1]))
            elif parts[:1] == ["flaky"]:
                with LOCK:
                    SEEN[url.path] = SEEN.get(url.path, 0) + 1
                    if SEEN[url.path] <= int(parts[1]):
                        status = 500
            if parts[:1] == ["svc"]:
                signed = check_shape(parts[1], headers, body, query)
        except (ValueError, KeyError, IndexError, TypeError, json.JSONDecodeError) as e:
            status, problem = 400, str(e)
        record = {
            "method": self.command, "path": url.path, "query": query, "headers": headers,
            "body": body.decode("utf-8", "replace"), "status": status, "problem": problem,
            "signature_ok": signed,
        }
        with LOCK, open(LOG, "a") as f:
            f.write(json.dumps(record) + "\n")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok\n" if status < 300 else f"{problem or status}\n".encode())

    do_GET = do_POST = do_HEAD = handle_any


ThreadingHTTPServer.allow_reuse_address = True
server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("RECEIVER_PORT", "0"))), Handler)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()

"""A real OpenAI-compatible chat-completions server on 127.0.0.1 for judge tests; its replies are scripted."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Behaviour = Callable[[dict], tuple[int, str]]
"""request body -> (HTTP status, the assistant message or its text content; the raw body for non-200)."""


class ChatServer:
    def __init__(self, behaviour: Behaviour, *, delay_s: float = 0.0) -> None:
        self.behaviour = behaviour
        self.delay_s = delay_s
        self.requests: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.requests.append(body)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    time.sleep(server.delay_s)
                    status, content = server.behaviour(body)
                finally:
                    with server._lock:
                        server.in_flight -= 1
                if status == 200:
                    message = content if isinstance(content, dict) else {"role": "assistant", "content": content}
                    payload = json.dumps({"id": "x", "object": "chat.completion", "model": body["model"],
                                          "choices": [{"index": 0, "finish_reason": "stop", "message": message}]})
                else:
                    payload = content
                data = payload.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/v1"

    def __enter__(self) -> ChatServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def report_of(body: dict) -> str:
    """The report between the nonce markers of a judge request."""
    text = body["messages"][1]["content"]
    start = text.index("<report-")
    opening_end = text.index(">", start) + 1
    nonce = text[start + len("<report-"):opening_end - 1]
    return text[opening_end:text.index(f"</report-{nonce}>")].strip("\n")


def criteria_of(body: dict) -> list[tuple[str, str]]:
    """(id, criterion) of each criterion in a judge request."""
    import re

    return re.findall(r'^- id "([^"]+)": (.*)$', body["messages"][1]["content"], re.MULTILINE)

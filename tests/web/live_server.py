"""A real HTTP server on 127.0.0.1 for live-web tests: the SearXNG, Brave and Tavily search APIs, and web pages
(normal, slow, huge, broken, redirect loop, non-HTML, plain text, robots-disallowed)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

PAGES = {
    "/agency/harbour": ("text/html", """<html><head><title>Harbour statistics 2024 — Port Authority</title></head><body>
<nav>Home | About | Contact</nav><article><h1>Harbour statistics 2024</h1>
<p>The port of Kelvaport handled 4,512 ship calls in 2024, according to the annual harbour register published by the
port authority in March 2025. Container traffic grew for the third year running.</p>
<p>Bulk cargo fell slightly, mainly because of lower grain exports during the second half of the year, while passenger
traffic stayed close to its pre-pandemic level.</p>
<p>See also the <a href="/agency/archive">register archive</a>.</p></article><footer>© Port Authority</footer>
</body></html>"""),
    "/forum/thread": ("text/html", """<html><head><title>Ship calls?</title></head><body><article>
<p>Somebody on the forum claims Kelvaport had around 3,900 ship calls last year but gives no source for it at all.</p>
<p>Another reply says the number sounds far too low compared with what the harbour master said on local radio.</p>
</article></body></html>"""),
    "/notes.txt": ("text/plain", "Plain notes about Kelvaport harbour.\n\nSecond paragraph of the notes file."),
    "/image.png": ("image/png", "\x89PNG not really"),
    "/broken": ("text/html", "<html><body><div><p>unclosed <b>tags and \x00 junk"),
    "/private/secret": ("text/html", "<html><body><p>This page is disallowed by robots.txt and never fetched.</p></body></html>"),
}


class LiveServer:
    """Serves until stopped; `requests` logs (method, path, headers, body)."""

    def __init__(self, *, brave_key: str = "brave-secret", tavily_key: str = "tavily-secret") -> None:
        self.requests: list[tuple[str, str, dict, str]] = []
        self.fail_next: list[int] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, content_type, body: bytes, headers=None):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (size or time limit)
                    pass

            def _json(self, payload, status=200):
                self._send(status, "application/json", json.dumps(payload).encode())

            def _results(self, query):
                base = f"http://127.0.0.1:{server.port}"
                return [{"url": f"{base}/forum/thread", "title": "Ship calls?", "text": "someone claims 3,900 ship calls",
                         "date": "2025-01-03"},
                        {"url": f"{base}/agency/harbour", "title": "Harbour statistics 2024",
                         "text": f"Kelvaport handled 4,512 ship calls in 2024 ({query})", "date": "2025-03-01"}]

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                server.requests.append(("POST", self.path, dict(self.headers), body))
                if self.path == "/search":  # Tavily
                    if self.headers.get("Authorization") != f"Bearer {tavily_key}":
                        return self._json({"detail": "invalid api key"}, 401)
                    request = json.loads(body)
                    results = self._results(request["query"])[:request["max_results"]]
                    return self._json({"query": request["query"], "results": [
                        {"url": r["url"], "title": r["title"], "content": r["text"], "score": 0.9,
                         "published_date": r["date"]} for r in results]})
                self._send(404, "text/plain", b"not found")

            def do_GET(self):  # noqa: N802
                parsed = urlparse(self.path)
                server.requests.append(("GET", self.path, dict(self.headers), ""))
                query = parse_qs(parsed.query)
                if server.fail_next:
                    return self._send(server.fail_next.pop(0), "text/plain", b"try later")
                if parsed.path == "/search":  # SearXNG
                    if query.get("format") != ["json"]:
                        return self._send(403, "text/html", b"json format disabled")
                    return self._json({"query": query["q"][0], "results": [
                        {"url": r["url"], "title": r["title"], "content": r["text"], "engine": "test",
                         "publishedDate": r["date"] + "T00:00:00"} for r in self._results(query["q"][0])]})
                if parsed.path == "/res/v1/web/search":  # Brave
                    if self.headers.get("X-Subscription-Token") != brave_key:
                        return self._json({"error": "bad token"}, 401)
                    count = int(query.get("count", ["10"])[0])
                    return self._json({"type": "search", "web": {"results": [
                        {"url": r["url"], "title": r["title"], "description": r["text"], "page_age": r["date"]}
                        for r in self._results(query["q"][0])[:count]]}})
                if parsed.path == "/robots.txt":
                    return self._send(200, "text/plain", b"User-agent: *\nDisallow: /private/\n")
                if parsed.path == "/slow":
                    time.sleep(3)
                    return self._send(200, "text/html", b"<html><body><p>late</p></body></html>")
                if parsed.path == "/huge":
                    return self._send(200, "text/html", b"<html><body>" + b"<p>x</p>" * 1_000_000 + b"</body></html>")
                if parsed.path in ("/loop/a", "/loop/b"):
                    target = "/loop/b" if parsed.path == "/loop/a" else "/loop/a"
                    return self._send(302, "text/html", b"", {"Location": target})
                if parsed.path == "/moved":
                    return self._send(301, "text/html", b"", {"Location": "/agency/harbour"})
                if parsed.path in PAGES:
                    content_type, body = PAGES[parsed.path]
                    return self._send(200, f"{content_type}; charset=utf-8", body.encode("utf-8", "surrogateescape"))
                self._send(404, "text/html", b"<html><body>not found</body></html>")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

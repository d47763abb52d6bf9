"""A small OpenAI-compatible chat-completions server for a local Hugging Face model (no GPU stack needed):
``drgym serve-hf --model-path PATH``. With ``tools`` in the request, ``<tool_call>`` blocks in the generated
text come back as OpenAI ``tool_calls``, as vLLM's hermes tool parser does. For real models on GPUs, use vLLM."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from drgym.agents.hf_policy import HFGenerator
from drgym.envs.protocol import parse_action

__all__ = ["HFChatServer"]


class HFChatServer:
    """Serves `/v1/chat/completions` and `/v1/models` on `host:port` (port 0 = any free port)."""

    def __init__(self, model_path: str, *, host: str = "127.0.0.1", port: int = 0, model_name: str | None = None,
                 device: str = "cpu", max_new_tokens: int = 256) -> None:
        self.generator = HFGenerator(model_path, device=device, max_new_tokens=max_new_tokens)
        self.model_name = model_name or str(model_path)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": server.model_name, "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self):  # noqa: N802
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                    reply = server.complete(body)
                except (ValueError, KeyError, TypeError) as e:
                    self._send(400, {"error": {"message": f"bad request: {e}"}})
                    return
                self._send(200, reply)

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://{host}:{self.httpd.server_port}/v1"
        self._thread: threading.Thread | None = None

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("model") not in (None, self.model_name):
            raise ValueError(f"model {body.get('model')!r} is not served here (this server has {self.model_name!r})")
        text, prompt_tokens, completion_tokens = self.generator.generate(
            body["messages"], max_new_tokens=body.get("max_tokens"), temperature=body.get("temperature"))
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if body.get("tools"):
            parsed = parse_action(text)
            if parsed.tool_calls:
                message["tool_calls"] = [{"id": f"call_{uuid.uuid4().hex[:8]}", "type": "function",
                                          "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                                         for c in parsed.tool_calls]
                message["content"] = parsed.think or None
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
                "model": self.model_name,
                "choices": [{"index": 0, "message": message,
                             "finish_reason": "tool_calls" if message.get("tool_calls") else "stop"}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens}}

    def start(self) -> HFChatServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True, name="drgym-hf-server")
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> HFChatServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

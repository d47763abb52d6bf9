from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest

from drgym.envs.tools.base import EpisodeState, ToolError
from drgym.envs.tools.image import AnalyzeImage, VisionBackend
from drgym.tasks.procedural import ProceduralWorld, WorldSpec


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> ProceduralWorld:
    return ProceduralWorld.build(tmp_path_factory.mktemp("img") / "w", WorldSpec(seed=21, pages=400, n_deep_search=2,
                                                                                  n_deep_research=1), show_progress=False)


@pytest.fixture
def state(tmp_path):
    return EpisodeState(workspace=tmp_path, rng=np.random.default_rng(0))


def _chart(world):
    page = next(p for p in world.corpus if p.images)
    return page, page.images[0]


def test_offline_description_is_the_caption_with_size(world, state):
    page, image = _chart(world)
    reply = AnalyzeImage(world.corpus).run(state, source=image.url)
    assert "320×208 pixels, PNG" in reply and f"shown on {page.url}" in reply
    assert f"caption: {image.caption}" in reply and "Annual revenue of" in reply


def test_the_same_image_again_is_answered_with_a_reference(world, state):
    _, image = _chart(world)
    tool = AnalyzeImage(world.corpus)
    tool.run(state, source=image.url)
    (state.workspace / "copy.png").write_bytes(world.corpus.image_bytes(image.url))
    assert "the same image as " + image.url in tool.run(state, source="copy.png")


def test_bad_sources_are_tool_errors(world, state):
    tool = AnalyzeImage(world.corpus)
    with pytest.raises(ToolError, match="no image at"):
        tool.run(state, source="https://nowhere.example/x.png")
    (state.workspace / "notes.txt").write_text("not an image")
    with pytest.raises(ToolError, match="not an image"):
        tool.run(state, source="notes.txt")
    with pytest.raises(ToolError, match="outside|refused"):
        tool.run(state, source="../../etc/passwd")


class _VisionServer(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        reply = {"choices": [{"message": {"role": "assistant", "content": "A line chart rising from 2018 to 2023."}}]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_vision_backend_gets_the_image_and_the_question(world, state):
    server = HTTPServer(("127.0.0.1", 0), _VisionServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        backend = VisionBackend(base_url=f"http://127.0.0.1:{server.server_port}/v1", model="vlm", api_key="k")
        _, image = _chart(world)
        reply = AnalyzeImage(world.corpus, backend).run(state, source=image.url, question="What is the trend?")
    finally:
        server.shutdown()
    assert "A line chart rising" in reply
    sent = _VisionServer.requests[-1]
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer k"
    content = sent["body"]["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "What is the trend?"}
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")


def test_unreachable_vision_backend_names_the_url(world, state):
    backend = VisionBackend(base_url="http://127.0.0.1:9/v1", model="vlm", timeout_s=2)
    _, image = _chart(world)
    with pytest.raises(ToolError, match=r"http://127.0.0.1:9/v1 is unreachable"):
        AnalyzeImage(world.corpus, backend).run(state, source=image.url)

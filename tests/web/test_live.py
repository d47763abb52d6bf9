"""The live web against real HTTP servers on 127.0.0.1: each search API, page fetching within limits, robots.txt,
and a full episode recorded, then replayed with the network off, giving identical observations."""

from __future__ import annotations

import json

import gymnasium as gym
import httpx
import pytest

import drgym  # noqa: F401
from drgym.errors import ConfigError, LiveWebError
from drgym.tasks.schema import Task, TaskSet
from drgym.web.live import LiveConfig, LiveWeb, make_backend
from tests.web.live_server import LiveServer


@pytest.fixture()
def server():
    with LiveServer() as running:
        yield running


@pytest.mark.parametrize("backend,key", [("searxng", None), ("brave", "brave-secret"), ("tavily", "tavily-secret")])
def test_each_backend_maps_request_and_response(server, backend, key):
    engine = make_backend(backend, base_url=server.url, api_key=key)
    results = engine.search("Kelvaport ship calls", 2)
    assert [r.url for r in results] == [f"{server.url}/forum/thread", f"{server.url}/agency/harbour"]
    assert results[1].title == "Harbour statistics 2024" and "4,512" in results[1].snippet
    assert results[1].published == "2025-03-01"
    method, path, headers, body = server.requests[-1]
    if backend == "tavily":
        assert method == "POST" and json.loads(body) == {"query": "Kelvaport ship calls", "max_results": 2,
                                                         "search_depth": "basic"}
    else:
        assert method == "GET" and "Kelvaport" in path


def test_backend_errors_are_clear(server, monkeypatch):
    with pytest.raises(LiveWebError, match="refused the API key"):
        make_backend("brave", base_url=server.url, api_key="wrong").search("x", 3)
    server.fail_next = [429, 429, 429]
    with pytest.raises(LiveWebError, match="quota or rate limit exceeded"):
        make_backend("searxng", base_url=server.url, max_retries=2, backoff_s=0.01).search("x", 3)
    server.fail_next = [503]
    assert make_backend("searxng", base_url=server.url, backoff_s=0.01).search("x", 3)  # a retry recovers
    with pytest.raises(LiveWebError, match="unreachable"):
        make_backend("searxng", base_url="http://127.0.0.1:9").search("x", 3)
    monkeypatch.delenv("TAVILY_API_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"\$TAVILY_API_KEY"):
        make_backend("tavily")
    with pytest.raises(ConfigError, match="unknown search back-end"):
        make_backend("google")


def test_rate_limit_spaces_requests(server):
    import time

    engine = make_backend("searxng", base_url=server.url, min_interval_s=0.3)
    started = time.perf_counter()
    for _ in range(3):
        engine.search("x", 2)
    assert time.perf_counter() - started >= 0.6


def test_fetch_limits_and_robots(server):
    web = LiveWeb({"backend": "searxng", "base_url": server.url, "timeout_s": 1.5, "max_page_bytes": 200_000,
                   "max_redirects": 3})
    page = web.corpus.fetch(f"{server.url}/agency/harbour")
    assert page.tier == 2 and page.domain == "127.0.0.1" and any("4,512 ship calls" in p for p in page.paragraphs)
    assert page.outlinks == (f"{server.url}/agency/archive",)
    assert web.corpus.fetch(f"{server.url}/moved").paragraphs == page.paragraphs  # a redirect is followed
    assert web.corpus.fetch(f"{server.url}/notes.txt").paragraphs[1] == "Second paragraph of the notes file."
    failures = {"/slow": "timed out|took over", "/huge": "limit", "/loop/a": "redirect loop",
                "/image.png": "not a readable page", "/missing": "HTTP 404", "/private/secret": "robots.txt"}
    for path, message in failures.items():
        with pytest.raises(LiveWebError, match=message):
            web.corpus.fetch(server.url + path)
    assert not any(p.startswith("/private") for _, p, _, _ in server.requests)  # robots.txt was honoured
    broken = web.corpus.fetch(f"{server.url}/broken")  # broken HTML is read as well as it can be
    assert any("unclosed" in p for p in broken.paragraphs)


def _live_tasks(tmp_path):
    task = Task(id="live-0", kind="deep_search", question="How many ship calls did the port of Kelvaport handle in 2024?",
                answers=["4,512", "4512"])
    path = tmp_path / "live_tasks.jsonl"
    TaskSet([task]).save(path)
    return path


def _episode(env, server_url):
    def read(*paths):
        urls = [server_url + path for path in paths]
        return f'<tool_call>{json.dumps({"name": "batch_web_surfer", "arguments": {"urls": urls}})}</tool_call>'

    actions = [
        '<tool_call>{"name": "batch_web_surfer", "arguments": {"queries": ["Kelvaport ship calls 2024"], "top_k": 2}}'
        '</tool_call>',
        read("/agency/harbour", "/slow", "/loop/a", "/image.png", "/private/secret"),
        read("/huge", "/broken"),
        "<answer>4,512</answer>",
    ]
    observation, _ = env.reset(seed=0)
    observations, reward = [observation], 0.0
    for action in actions:
        observation, reward, terminated, truncated, _ = env.step(action)
        observations.append(observation)
        if terminated or truncated:
            break
    return observations, reward


def test_record_then_replay_with_the_network_off(server, tmp_path, monkeypatch):
    tasks = _live_tasks(tmp_path)
    cassettes = tmp_path / "cassettes"
    live = {"backend": "searxng", "base_url": server.url, "timeout_s": 1.5, "max_page_bytes": 200_000,
            "cassette_dir": str(cassettes)}
    env = gym.make("drgym/DeepSearch-v1", tasks=str(tasks), web="live", live={**live, "mode": "record"},
                   tools=["batch_web_surfer"])
    recorded, reward = _episode(env, server.url)
    env.close()
    assert reward == 1.0
    text = "\n".join(recorded)
    assert "[tier 2] Harbour statistics 2024" in text and "4,512 ship calls" in text
    for message in ("timed out", "redirect loop", "not a readable page", "robots.txt", "limit"):
        assert message in text
    entries = [json.loads(line) for line in (cassettes / "live-0-seed0.jsonl").read_text().splitlines()]
    assert {e["kind"] for e in entries} == {"search", "robots", "fetch"} and all("time" in e for e in entries)
    server.stop()

    def no_network(*args, **kwargs):
        raise AssertionError("replay touched the network")

    monkeypatch.setattr(httpx.Client, "send", no_network)
    monkeypatch.setattr(httpx.Client, "stream", no_network)
    env = gym.make("drgym/DeepSearch-v1", tasks=str(tasks), web="live", live={**live, "mode": "replay"},
                   tools=["batch_web_surfer"])
    replayed, replay_reward = _episode(env, server.url)
    assert replayed == recorded and replay_reward == reward
    # a request that was never recorded is an error observation, not a network call
    env.reset(seed=0)
    observation, *_ = env.step('<tool_call>{"name": "batch_web_surfer", "arguments": {"queries": ["other"]}}'
                               '</tool_call>')
    assert "is not in the cassette" in observation
    env.close()


def test_live_configuration_errors(tmp_path):
    with pytest.raises(ConfigError, match="needs cassette_dir"):
        LiveConfig(mode="record")
    with pytest.raises(ConfigError, match="live mode"):
        LiveConfig(mode="rewind")
    with pytest.raises(ConfigError, match="offline procedural web"):
        gym.make("drgym/DeepSearch-v1", tasks="procedural:tiny", web="live", live={"base_url": "http://x"})
    env = gym.make("drgym/DeepSearch-v1", tasks=str(_live_tasks(tmp_path)), web="live",
                   live={"mode": "replay", "cassette_dir": str(tmp_path / "none")})
    with pytest.raises(LiveWebError, match="no cassette"):
        env.reset(seed=0)
    env.close()

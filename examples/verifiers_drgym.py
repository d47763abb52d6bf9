"""drgym as a verifiers environment: rollouts through verifiers' own evaluate loop against an OpenAI-compatible
server. By default the server is a small local one whose replies are drgym's scripted researcher (CPU, no model);
point --base-url at vLLM or `drgym serve-hf` to evaluate a real model:

    drgym serve-hf --model-path ~/models/Qwen3-0.6B --model-name qwen3 --port 8000 &
    until curl -sf http://127.0.0.1:8000/health > /dev/null; do sleep 1; done   # wait until the model is served
    python examples/verifiers_drgym.py --base-url http://127.0.0.1:8000/v1 --model qwen3

Rollouts that end in an error (a server that does not answer) are printed with it, and the script exits with 1.

prime-rl / verifiers load it as any environment: `load_environment` in `drgym.train.verifiers_env`.

Run: python examples/verifiers_drgym.py [--suite procedural:tiny]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import verifiers as vf
from openai import AsyncOpenAI

from drgym.agents.scripted import ScriptedResearcher
from drgym.train.verifiers_env import load_environment


def scripted_server() -> ThreadingHTTPServer:
    """/v1/chat/completions on 127.0.0.1 answered by a scripted researcher per question."""
    researchers: dict[str, ScriptedResearcher] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            messages = body["messages"]
            text = researchers.setdefault(messages[1]["content"], ScriptedResearcher()).act(messages)
            data = json.dumps({"id": "scripted", "object": "chat.completion", "created": int(time.time()),
                               "model": body["model"], "usage": {"prompt_tokens": 0, "completion_tokens": 0,
                                                                 "total_tokens": 0},
                               "choices": [{"index": 0, "finish_reason": "stop",
                                            "message": {"role": "assistant", "content": text}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="procedural:tiny")
    parser.add_argument("--base-url", help="an OpenAI-compatible endpoint (default: a local scripted researcher)")
    parser.add_argument("--model", default="scripted-researcher")
    parser.add_argument("--max-turns", type=int, default=24)
    args = parser.parse_args()

    env = load_environment(args.suite, env_kwargs={"budget": {"max_turns": 20}}, eval_split="all",
                           max_turns=args.max_turns)
    server = None if args.base_url else scripted_server()
    base_url = args.base_url or f"http://127.0.0.1:{server.server_port}/v1"
    client = vf.OpenAIChatCompletionsClient(AsyncOpenAI(base_url=base_url, api_key="local"))
    results = env.evaluate_sync(client, args.model, num_examples=-1, rollouts_per_example=1)
    failed = 0
    for output in results["outputs"]:
        metrics = output["metrics"]
        print(f"{output['info']['task_id']:>8}  reward {output['reward']:.2f}  turns {metrics['num_turns']:.0f}  "
              f"tool calls {metrics['tool_calls']:.0f}  verdicts passed {metrics['verdict_pass_rate']:.2f}")
        if output.get("error"):
            failed += 1
            print(f"{'':>8}  ended in an error: {output['error'].get('error_chain_repr') or output['error']}")
    if server is not None:
        server.shutdown()
    if failed:
        raise SystemExit(f"{failed} of {len(results['outputs'])} rollouts ended in an error (is {base_url} up?)")


if __name__ == "__main__":
    main()

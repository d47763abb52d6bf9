"""`drgym serve-hf`: a local Hugging Face model as an OpenAI-compatible chat endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from drgym.cli.app import app, console


@app.command("serve-hf")
def serve_hf(
    model_path: Annotated[Path, typer.Option(help="local Hugging Face model folder")],
    port: Annotated[int, typer.Option(help="port")] = 8000,
    host: Annotated[str, typer.Option(help="address to listen on (0.0.0.0: every interface)")] = "127.0.0.1",
    model_name: Annotated[str | None, typer.Option(help="name clients send as 'model' (default: the path)")] = None,
    device: Annotated[str, typer.Option(help="torch device")] = "cpu",
    max_tokens: Annotated[int, typer.Option(help="max_tokens of a request that sets none")] = 256,
    max_concurrent_requests: Annotated[int, typer.Option(help="requests decoding at once; more wait")] = 4,
) -> None:
    """Serve a local model as an OpenAI-compatible chat endpoint: streaming, tools through the chat template, n,
    stop, logprobs (CPU is fine for small models; use vLLM on GPUs)."""
    from drgym.agents.hf_server import HFChatServer

    server = HFChatServer(str(model_path), host=host, port=port, model_name=model_name, device=device,
                          max_new_tokens=max_tokens, max_concurrent_requests=max_concurrent_requests)
    console.print(f"serving {server.model_name} at {server.url} (Ctrl-C stops)", highlight=False)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        server.stop()

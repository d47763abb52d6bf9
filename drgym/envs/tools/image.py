"""analyze_image: describes an image from a corpus page or the workspace.

With a vision back-end (any OpenAI-compatible chat endpoint serving a vision-language model) the image and the
question go to the model. Offline, the description is what the page says about the image (alt text and
caption) with its size and format. An image perceptually equal (imagehash) to one already analysed in the
episode is answered with a reference to the earlier one instead of a second description.
"""

from __future__ import annotations

import base64
import io
import os
from dataclasses import dataclass

from drgym.core.chat_client import ChatClient, ChatEndpoint
from drgym.core.clipping import preview
from drgym.envs.tools.base import EpisodeState, Tool, ToolError
from drgym.envs.tools.file import open_workspace_file
from drgym.errors import EndpointError
from drgym.web.corpus import Corpus

__all__ = ["AnalyzeImage", "VisionBackend"]

MAX_IMAGE_BYTES = 10_000_000
MAX_IMAGE_PIXELS = 25_000_000
"""Largest image decoded (a 5000×5000 chart): a small compressed file can declare a huge canvas."""
MAX_SOURCE_CHARS = 2048
"""Longest image url or path."""
MAX_QUESTION_CHARS = 2000
SAME_IMAGE_DISTANCE = 4
"""Perceptual-hash bits that may differ for two images to count as the same."""


@dataclass(frozen=True)
class VisionBackend:
    """An OpenAI-compatible chat-completions endpoint with a vision model (vLLM, or a hosted API)."""

    base_url: str
    """e.g. ``http://127.0.0.1:8000/v1``."""
    model: str
    api_key: str | None = None
    """Defaults to the OPENAI_API_KEY environment variable."""
    timeout_s: float = 60.0
    max_tokens: int = 400

    def describe(self, image: bytes, mime: str, question: str, *, timeout_s: float | None = None) -> str:
        """The model's description; `timeout_s` (the episode's time left) shortens the configured timeout."""
        timeout_s = self.timeout_s if timeout_s is None else min(self.timeout_s, timeout_s)
        data_uri = f"data:{mime};base64,{base64.b64encode(image).decode()}"
        payload = {"model": self.model, "max_tokens": self.max_tokens, "temperature": 0.0,
                   "messages": [{"role": "user", "content": [
                       {"type": "text", "text": question},
                       {"type": "image_url", "image_url": {"url": data_uri}}]}]}
        client = ChatClient(ChatEndpoint(self.base_url, api_key=self.api_key, timeout_s=self.timeout_s,
                                         max_retries=0))  # the agent decides whether to try again
        try:
            return client.complete(payload, timeout_s=timeout_s).content.strip()
        except EndpointError as e:
            raise ToolError(f"vision back-end: {e}; try again later.") from None


class AnalyzeImage(Tool):
    name = "analyze_image"

    def __init__(self, corpus: Corpus, vision: VisionBackend | None = None) -> None:
        self.corpus = corpus
        self.vision = vision

    def run(self, state: EpisodeState, *, source: str, question: str | None = None) -> str:
        """Look at an image: a chart or picture from a web page (its url, listed under the page's images) or an
        image file in your workspace (its path). Example: {"source": "https://example.org/charts/sales.png",
        "question": "What values does the chart show?"}.

        Args:
            source: the image's url, or a path inside the workspace.
            question: what to look for; by default, a general description.
        """
        if len(source) > MAX_SOURCE_CHARS:
            raise ToolError(f"source has at most {MAX_SOURCE_CHARS} characters, got {len(source):,} "
                            f"({preview(source, 40)}).")
        if question is not None and len(question) > MAX_QUESTION_CHARS:
            raise ToolError(f"question has at most {MAX_QUESTION_CHARS} characters, got {len(question):,}.")
        alt = caption = page_url = ""
        if source.startswith(("http://", "https://", "local://")):
            found = self.corpus.find_image(source)
            if found is None:
                raise ToolError(f"no image at {preview(source)}; use an image url listed on a page you read.")
            image_info, page_url = found
            alt, caption = image_info.alt, image_info.caption
            data = self.corpus.image_bytes(source)
        else:
            with open_workspace_file(state.workspace, source) as handle:
                if os.fstat(handle.fileno()).st_size > MAX_IMAGE_BYTES:
                    raise ToolError(f"{preview(source)} is larger than {MAX_IMAGE_BYTES} bytes.")
                try:
                    data = handle.read(MAX_IMAGE_BYTES + 1)
                except OSError as e:
                    raise ToolError(f"cannot read {preview(source)}: {e.strerror or type(e).__name__}.") from None
        picture, size_text, digest = None, "", None
        if data is not None:
            import imagehash  # on first use: most episodes never look at an image
            from PIL import Image, UnidentifiedImageError

            try:
                picture = Image.open(io.BytesIO(data))
                if picture.width * picture.height > MAX_IMAGE_PIXELS:  # checked from the header, before decoding
                    raise ToolError(f"{preview(source)} is {picture.width}×{picture.height} pixels; images of at "
                                    f"most {MAX_IMAGE_PIXELS:,} pixels are analysed.")
                picture.load()
            except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
                raise ToolError(f"{preview(source)} is not an image drgym can read (PNG, JPEG, GIF, WebP, …).") from None
            size_text = f"{picture.width}×{picture.height} pixels, {picture.format}"
            digest = imagehash.phash(picture)
            for seen_hash, seen_source in state.seen_image_hashes.items():
                if digest - imagehash.hex_to_hash(seen_hash) <= SAME_IMAGE_DISTANCE:
                    return (f"image {source}: the same image as {seen_source}, analysed earlier in this episode; "
                            "see that description.")
            state.seen_image_hashes[str(digest)] = source
        lines = [f"image {source}" + (f" ({size_text})" if size_text else "")]
        if page_url:
            lines.append(f"shown on {page_url}")
        if self.vision is not None and data is not None:
            mime = Image.MIME.get(picture.format, "image/png")
            time_left = state.seconds_left()
            if time_left is not None and time_left <= 0:
                raise ToolError("the episode's time budget (max_seconds) is spent; the image was not sent.")
            lines.append(self.vision.describe(data, mime, question or "Describe this image in detail.",
                                              timeout_s=time_left))
        else:
            if alt:
                lines.append(f"alt text: {alt}")
            if caption:
                lines.append(f"caption: {caption}")
            if not alt and not caption:
                lines.append("no description is available offline (no alt text or caption); configure a vision "
                             "back-end to look at the pixels.")
        return "\n".join(lines)

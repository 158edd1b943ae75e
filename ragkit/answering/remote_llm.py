"""`RemoteLLM`: the LLM seam over any OpenAI-compatible server (llama.cpp's
server, llama-cpp-python's, vLLM, Ollama). ragkit builds the same prompt as
for a local model (the model's chat template applied here) and sends it as a
raw completion, so retrieval, pruning, the token budget, citation checks and
"not found" behave exactly as locally."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ragkit.answering.llm import render_chat_template
from ragkit.cancel import CancelToken
from ragkit.errors import RagkitError
from ragkit.sse import sse_json

if TYPE_CHECKING:
    import httpx

    from ragkit.answering.llm import LlamaCppLLM

log = logging.getLogger(__name__)

# Characters per token when nothing can count them: low, so budgets err on the short side.
_CHARS_PER_TOKEN = 3.0


class LLMServerError(RagkitError):
    """The LLM server at llm_url cannot be reached or refused a request."""

    exit_code = 9


class RemoteLLM:
    """Generate with a model served over the OpenAI API.

    The token budget is counted with the server's own tokenizer when it has a
    tokenize endpoint (llama.cpp's `/tokenize`, llama-cpp-python's
    `/extras/tokenize`, vLLM's `/tokenize`), else with `vocab` (a local GGUF
    of the same model, read vocabulary-only), else estimated; `token_counter`
    says which. The chat template comes from `vocab`, else the server's
    `/props` (llama.cpp); without either, the completion prompt is used."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        model: str | None = None,
        vocab: LlamaCppLLM | None = None,
        n_ctx: int = 4096,
        timeout: float = 600.0,
    ) -> None:
        import httpx

        root = url.rstrip("/")
        self.root = root[: -len("/v1")] if root.endswith("/v1") else root
        self.url = url
        self._vocab = vocab
        self._n_ctx = n_ctx
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # Connecting fails fast; reading waits for a long prompt evaluation.
        self._http = httpx.Client(headers=headers, timeout=httpx.Timeout(timeout, connect=5.0))
        self._requested_model = model
        self._name: str | None = None
        self._counter_lock = threading.Lock()
        self._tokenize: tuple[str, str] | None = None  # (path, field) of the server's tokenize endpoint
        self.token_counter = ""
        """How prompts are counted: "server /tokenize", "local vocab" or "estimate" ("" until the first count)."""

    @property
    def name(self) -> str:
        """The served model: llm_model, else the first one the server lists (asked once)."""
        if self._name is None:
            self._name = self._requested_model or self._first_model()
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = value

    def _first_model(self) -> str:
        models = self._request("GET", "/v1/models").json().get("data") or []
        if not models:
            raise LLMServerError(f"the LLM server at {self.url} lists no model", "set llm_model")
        return str(models[0]["id"])

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        import httpx

        try:
            response = self._http.request(method, self.root + path, **kwargs)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code >= 400:
            raise LLMServerError(
                f"the LLM server at {self.url} answered {path} with {response.status_code}: {response.text[:200]}",
                "check llm_url, llm_model and llm_api_key",
            )
        return response

    def _unreachable(self, exc: Exception) -> LLMServerError:
        return LLMServerError(
            f"cannot reach the LLM server at {self.url}: {exc.__class__.__name__} {exc}".rstrip(),
            "start it, or fix llm_url",
        )

    @cached_property
    def _props(self) -> dict[str, Any]:
        """llama.cpp server's /props (chat template, special tokens); {} elsewhere."""
        import httpx

        try:
            response = self._http.get(self.root + "/props")
        except httpx.HTTPError:
            return {}
        if response.status_code != 200:
            return {}
        try:
            data = response.json()
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    @property
    def chat_template(self) -> str | None:
        if self._vocab is not None:
            return self._vocab.chat_template
        template = self._props.get("chat_template")
        return template if isinstance(template, str) and template else None

    @property
    def n_ctx_train(self) -> int:
        if self._vocab is not None:
            return self._vocab.n_ctx_train
        settings = self._props.get("default_generation_settings")
        if isinstance(settings, dict) and isinstance(settings.get("n_ctx"), int):
            return int(settings["n_ctx"])
        return self._n_ctx

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        if self._vocab is not None:
            return self._vocab.render_chat(messages)
        template = self.chat_template
        if template is None:
            raise ValueError(f"{self.name} has no chat template")
        return render_chat_template(
            template, messages, bos_token=str(self._props.get("bos_token", "")),
            eos_token=str(self._props.get("eos_token", "")),
        )  # fmt: skip

    def count_tokens(self, text: str) -> int:
        with self._counter_lock:
            if not self.token_counter:
                self._probe_tokenizer()
        if self._tokenize is not None:
            path, field = self._tokenize
            body = {field: text, "model": self.name, "add_special": True}
            tokens = self._request("POST", path, json=body).json().get("tokens")
            return len(tokens) if isinstance(tokens, list) else 0
        if self._vocab is not None:
            return self._vocab.count_tokens(text)
        return int(len(text) / _CHARS_PER_TOKEN) + 1

    def _probe_tokenizer(self) -> None:
        import httpx

        for path, field in (("/extras/tokenize", "input"), ("/tokenize", "content"), ("/tokenize", "prompt")):
            try:
                response = self._http.post(self.root + path, json={field: "ragkit", "model": self.name})
            except httpx.HTTPError:
                break
            if response.status_code == 200 and isinstance(response.json().get("tokens"), list):
                self._tokenize = (path, field)
                break
        if self._tokenize is not None:
            self.token_counter = f"server {self._tokenize[0]}"
        else:
            self.token_counter = "local vocab" if self._vocab is not None else "estimate"
        log.info("prompt tokens for %s counted by: %s", self.url, self.token_counter)

    def stream(
        self,
        prompt: str,
        *,
        n_ctx: int,
        max_tokens: int,
        temperature: float,
        stop: list[str],
        prefix: str | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[str]:
        # The server queues concurrent requests into its own slots; n_ctx and prefix are its business.
        body = {
            "model": self.name, "prompt": prompt, "max_tokens": max_tokens, "temperature": temperature,
            "stop": stop, "stream": True,
        }  # fmt: skip
        import httpx

        try:
            request = self._http.build_request("POST", self.root + "/v1/completions", json=body)
            response = self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code >= 400:
            detail = response.read().decode("utf-8", "replace")[:200]
            response.close()
            raise LLMServerError(
                f"the LLM server at {self.url} refused the completion ({response.status_code}): {detail}",
                "check llm_model and llm_api_key",
            )
        return self._tokens(response, cancel)

    def _tokens(self, response: httpx.Response, cancel: CancelToken | None) -> Iterator[str]:
        def broke_off(exc: Exception) -> LLMServerError:
            return LLMServerError(f"the LLM server at {self.url} broke off the answer: {exc}", "try again")

        for chunk in sse_json(response, cancel, broke_off):
            choices = chunk.get("choices") or []
            text = choices[0].get("text") if choices else None
            if text:
                yield text

    def close(self) -> None:
        self._http.close()

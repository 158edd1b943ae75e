"""The LLM seam. `LlamaCppLLM` runs a GGUF through llama-cpp-python: the
tokenizer and metadata come from a vocab-only load (no weights read), so the
prompt can be measured before the context is sized to it; the full model is
loaded once per process and reloaded only when a larger context is needed."""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from ragkit.errors import ModelNotFoundError

log = logging.getLogger(__name__)
llama_log = logging.getLogger("ragkit.llama_cpp")

# Rounding n_ctx up to a multiple of this lets one loaded context serve many prompts.
CTX_STEP = 512
# phi-3 128K GGUFs switch LongRoPE to its long factors above this context.
SHORT_ROPE_CTX = 4096


class LLM(Protocol):
    name: str

    @property
    def chat_template(self) -> str | None:
        """The model's chat template, or None for a base model."""
        ...

    @property
    def n_ctx_train(self) -> int: ...

    def count_tokens(self, text: str) -> int: ...

    def render_chat(self, messages: list[dict[str, str]]) -> str: ...

    def stream(
        self, prompt: str, *, n_ctx: int, max_tokens: int, temperature: float, stop: list[str]
    ) -> Iterator[str]: ...


_log_callback: Any = None


def _route_llama_logs() -> None:
    """Send llama.cpp's C-level log lines to Python logging instead of stderr:
    the library never writes to the terminal."""
    global _log_callback
    if _log_callback is not None:
        return
    import llama_cpp

    @llama_cpp.llama_log_callback  # type: ignore[misc,untyped-decorator]
    def callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        llama_log.debug("%s", text.decode("utf-8", "replace").rstrip("\n"))

    _log_callback = callback  # ctypes callbacks must outlive their registration
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))


class LlamaCppLLM:
    def __init__(self, model_path: Path, *, name: str | None = None, threads: int | None = None, gpu_layers: int = 0):
        if not model_path.is_file():
            raise ModelNotFoundError(f"model file {model_path} does not exist")
        self.model_path = model_path
        self.name = name or model_path.name
        self.threads = threads or os.cpu_count() or 1
        self.gpu_layers = gpu_layers
        self._llama: Any = None

    @cached_property
    def _vocab(self) -> Any:
        _route_llama_logs()
        import llama_cpp
        from llama_cpp._internals import LlamaModel

        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        try:
            return LlamaModel(path_model=str(self.model_path), params=params, verbose=False)
        except ValueError as exc:
            raise ModelNotFoundError(
                f"{self.model_path}: not a GGUF model llama.cpp can load ({exc})", "pass another --model"
            ) from exc

    @cached_property
    def metadata(self) -> dict[str, str]:
        return dict(self._vocab.metadata())

    @property
    def chat_template(self) -> str | None:
        return self.metadata.get("tokenizer.chat_template")

    @property
    def n_ctx_train(self) -> int:
        # A vocab-only load leaves hparams unset; the GGUF metadata has the value.
        arch = self.metadata.get("general.architecture", "")
        return int(self.metadata.get(f"{arch}.context_length", SHORT_ROPE_CTX))

    @cached_property
    def _add_bos(self) -> bool:
        import llama_cpp

        return bool(llama_cpp.llama_vocab_get_add_bos(self._vocab.vocab))

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` as llama-cpp-python will feed it (special tokens parsed)."""
        return len(self._vocab.tokenize(text.encode("utf-8"), add_bos=self._add_bos, special=True))

    def _token_text(self, token: int) -> str:
        return "" if token < 0 else self._vocab.token_get_text(token)

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        """Apply the chat template stored in the GGUF, as transformers would."""
        template = self.chat_template
        if template is None:
            raise ValueError(f"{self.name} has no chat template")
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message: str) -> None:
            raise ValueError(message)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = raise_exception
        return env.from_string(template).render(
            messages=messages,
            add_generation_prompt=True,
            bos_token=self._token_text(self._vocab.token_bos()),
            eos_token=self._token_text(self._vocab.token_eos()),
        )

    def _model_for(self, n_ctx: int) -> Any:
        if self._llama is not None and self._llama.n_ctx() >= n_ctx:
            return self._llama
        _route_llama_logs()
        from llama_cpp import Llama

        self._llama = None  # free the old context before allocating a larger one
        log.info("loading %s with n_ctx=%d", self.model_path, n_ctx)
        self._llama = Llama(
            model_path=str(self.model_path),
            n_ctx=n_ctx,
            n_batch=min(512, n_ctx),
            n_threads=self.threads,
            n_threads_batch=self.threads,
            n_gpu_layers=self.gpu_layers,
            verbose=False,
        )
        return self._llama

    def stream(self, prompt: str, *, n_ctx: int, max_tokens: int, temperature: float, stop: list[str]) -> Iterator[str]:
        llama = self._model_for(n_ctx)
        for part in llama.create_completion(
            prompt, max_tokens=max_tokens, temperature=temperature, stop=stop, stream=True
        ):
            text = part["choices"][0]["text"]
            if text:
                yield text


def choose_n_ctx(prompt_tokens: int, max_tokens: int, ctx_limit: int) -> int:
    """The smallest context, in CTX_STEP steps, that holds the prompt and the
    answer; never above ctx_limit. Staying small keeps the KV cache small and,
    for phi-3's 128K GGUFs, keeps the short RoPE factors in use."""
    needed = prompt_tokens + max_tokens
    return min(ctx_limit, -(-needed // CTX_STEP) * CTX_STEP)

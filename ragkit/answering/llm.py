"""The LLM seam. `LlamaCppLLM` runs a GGUF through llama-cpp-python: the
tokenizer and metadata come from a vocab-only load (no weights read), so the
prompt can be measured before the context is sized to it; the full model is
loaded once per process and reloaded only when a larger context is needed."""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from ragkit.answering.memory import ContextPlan, ModelShape, available_memory_bytes, plan_context
from ragkit.answering.turns import TurnQueue, TurnTokens
from ragkit.cancel import CancelToken
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
        """Generate from `prompt`. `prefix`, when given, is the start of the
        prompt that does not change between questions (system prompt and
        instructions): a backend may keep its evaluated state to skip it.
        When `cancel` is cancelled the tokens end soon after, also during
        the prompt's evaluation. Calls from several threads take turns in
        arrival order; a turn lasts until its tokens are read to the end or
        closed."""
        ...


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
    # With verbose=False, llama-cpp-python silences a load by pointing the whole process's stdout and stderr
    # (file descriptors 1 and 2, and sys.stdout/sys.stderr) at /dev/null while it lasts. With the model
    # loading on a background thread, that swallowed what the application printed meanwhile (a "not found"
    # answer, an error line). llama.cpp's lines already come here, so its loads need no silencing.
    import llama_cpp._internals
    import llama_cpp.llama

    for module in (llama_cpp._internals, llama_cpp.llama):
        setattr(module, "suppress_stdout_stderr", _StdStreamsLeftAlone)  # noqa: B010


class _StdStreamsLeftAlone:
    """Stands in for llama_cpp's suppress_stdout_stderr: leaves the process's streams as they are."""

    def __init__(self, disable: bool = True) -> None:
        pass

    def __enter__(self) -> _StdStreamsLeftAlone:
        return self

    def __exit__(self, *_: object) -> None:
        pass


class LlamaCppLLM:
    def __init__(
        self,
        model_path: Path,
        *,
        name: str | None = None,
        threads: int | None = None,
        gpu_layers: int = 0,
        kv_cache: str = "auto",
        flash_attn: str = "auto",
        prefix_cache_dir: Path | None = None,
    ):
        if not model_path.is_file():
            raise ModelNotFoundError(f"model file {model_path} does not exist")
        self.model_path = model_path
        self.name = name or model_path.name
        self.threads = threads or os.cpu_count() or 1
        self.gpu_layers = gpu_layers
        self.kv_cache = kv_cache
        self.flash_attn = flash_attn
        self.prefix_cache = PrefixCache(prefix_cache_dir) if prefix_cache_dir else None
        self._llama: Any = None
        self._plan: ContextPlan | None = None
        self._turns = TurnQueue()
        self._stop_watching: Callable[[], None] = lambda: None
        self._abort_callback: Any = None
        self._loading = threading.Lock()
        """Held while the model loads: a `stream` waits for a `preload` under way instead of reading the file again."""
        self.last_prefix_restored = 0
        """Prompt tokens the last `stream` restored from the prefix cache instead of evaluating."""

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
    def shape(self) -> ModelShape:
        return ModelShape.from_metadata(self.metadata)

    def plan(self, n_ctx: int) -> ContextPlan:
        """How a context of `n_ctx` would be allocated on this machine now;
        raises ContextMemoryError (naming the largest context that fits)
        instead of letting the OS kill the process."""
        free = available_memory_bytes()
        weights = 0 if self.gpu_layers and self.gpu_offload else self.model_path.stat().st_size
        if free is not None and self._plan is not None:
            free += self._plan.kv_bytes + weights  # a reload frees the loaded model and context first
        return plan_context(self.shape, weights, n_ctx, free, kv_cache=self.kv_cache, flash_attn=self.flash_attn)

    @cached_property
    def gpu_offload(self) -> bool:
        """Whether llama.cpp was built with a GPU backend, so `gpu_layers` takes effect."""
        import llama_cpp

        return bool(llama_cpp.llama_supports_gpu_offload())

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
        bos = self._token_text(self._vocab.token_bos())
        eos = self._token_text(self._vocab.token_eos())
        return render_chat_template(template, messages, bos_token=bos, eos_token=eos)

    def preload(self, n_ctx: int) -> bool:
        """Start loading the model, for contexts up to `n_ctx`, on a background
        thread and return at once, so the load overlaps retrieval (llama.cpp
        releases the GIL while it reads). A later `stream` waits for it; if its
        prompt needs a larger context the model is loaded again. Does nothing
        (False) when a model is loaded or loading already."""
        if self._llama is not None or not self._loading.acquire(blocking=False):
            return False

        def load() -> None:
            try:
                self._load(n_ctx)
            except Exception as exc:  # the stream that needs the model plans again and raises it clearly
                log.info("background load of %s failed: %s", self.model_path.name, exc)
            finally:
                self._loading.release()

        threading.Thread(target=load, name="ragkit-llm-load", daemon=True).start()
        return True

    def _model_for(self, n_ctx: int) -> Any:
        with self._loading:
            return self._load(n_ctx)

    def _load(self, n_ctx: int) -> Any:
        if self._llama is not None and self._plan is not None and self._plan.n_ctx >= n_ctx:
            return self._llama
        plan = self.plan(n_ctx)
        _route_llama_logs()
        import llama_cpp

        self._llama = None  # free the old context before allocating a larger one
        self._plan = None
        log.info(
            "loading %s with n_ctx=%d, %s KV cache (%.2f GiB), flash attention %s",
            self.model_path,
            plan.n_ctx,
            plan.kv_type,
            plan.kv_bytes / 1024**3,
            "on" if plan.flash_attn else "off",
        )
        kv_type = KV_GGML_TYPES[plan.kv_type]
        started = time.perf_counter()
        self._llama = llama_cpp.Llama(
            model_path=str(self.model_path),
            n_ctx=plan.n_ctx,
            n_batch=min(512, plan.n_ctx),
            n_threads=self.threads,
            n_threads_batch=self.threads,
            n_gpu_layers=self.gpu_layers,
            flash_attn=plan.flash_attn,
            type_k=kv_type,
            type_v=kv_type,
            # llama.cpp repacks quantized weights for the CPU's SIMD width into
            # its own buffers; with mmap the file pages stay mapped beside that
            # copy (peak RSS 5.4 vs 3.9 GB for phi-3-mini at 4K: bench/phi3_speed.py).
            use_mmap=False,
            verbose=False,
        )
        self._install_abort_callback(self._llama)
        log.debug("model loaded in %.2f s", time.perf_counter() - started)
        self._plan = plan
        return self._llama

    @property
    def loaded_plan(self) -> ContextPlan | None:
        """The context currently allocated, if any."""
        return self._plan

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
        # Answers take turns on the one context, in arrival order (ragkit.answering.turns).
        ticket = self._turns.take(cancel)
        if ticket is None:
            return iter(())  # stopped while waiting for its turn
        try:
            tokens = self._start(prompt, n_ctx, max_tokens, temperature, stop, prefix, cancel)
        except BaseException:
            self._turns.release(ticket)
            raise
        return TurnTokens(tokens, self._turns, ticket, cancel)

    def _start(
        self,
        prompt: str,
        n_ctx: int,
        max_tokens: int,
        temperature: float,
        stop: list[str],
        prefix: str | None,
        cancel: CancelToken | None,
    ) -> Iterator[str]:
        # Allocating (or refusing) the context happens here, before the first
        # token is asked for, so a memory error is raised by the call itself.
        waited = time.perf_counter()
        llama = self._model_for(n_ctx)
        log.debug("waited %.2f s for the model", time.perf_counter() - waited)
        self._watch(cancel)
        self.last_prefix_restored = 0
        try:
            if prefix and self.prefix_cache is not None and self._plan is not None:
                self.last_prefix_restored = self.prefix_cache.prepare(llama, self._identity(), prompt, prefix)
        except RuntimeError:
            self._unwatch()
            if cancel is not None and cancel.cancelled:
                self._forget_context(llama)
                return iter(())  # stopped while the prefix was evaluated
            raise
        log.debug("%d prompt tokens restored from the prefix cache; evaluating the rest", self.last_prefix_restored)
        from llama_cpp import StoppingCriteriaList

        parts = llama.create_completion(
            prompt, max_tokens=max_tokens, temperature=temperature, stop=stop, stream=True,
            stopping_criteria=StoppingCriteriaList([_token_limit(max_tokens, llama.n_ctx())]),
        )  # fmt: skip
        return self._until_cancelled(parts, cancel)

    def _until_cancelled(self, parts: Iterator[Any], cancel: CancelToken | None) -> Iterator[str]:
        """The completion's text; when `cancel` fires, llama.cpp aborts the batch it is
        computing (llama_decode returns 2) and the text simply ends."""
        try:
            for part in parts:
                if cancel is not None and cancel.cancelled:
                    return
                text = part["choices"][0]["text"]
                if text:
                    yield text
        except RuntimeError:
            if cancel is not None and cancel.cancelled:
                self._forget_context(self._llama)
                return
            raise
        finally:
            self._unwatch()
            close = getattr(parts, "close", None)
            if close is not None:
                close()

    @cached_property
    def _abort_flag(self) -> NativeAbortFlag:
        """Raised while the running call's cancel token is cancelled; llama.cpp reads it while it computes."""
        return NativeAbortFlag()

    def _watch(self, cancel: CancelToken | None) -> None:
        """Raise the abort flag when `cancel` is cancelled, for the running call."""
        self._stop_watching()
        self._abort_flag.lower()
        self._stop_watching = cancel.on_cancel(self._abort_flag.raise_) if cancel is not None else (lambda: None)

    def _unwatch(self) -> None:
        self._stop_watching()
        self._stop_watching = lambda: None
        self._abort_flag.lower()

    @staticmethod
    def _forget_context(llama: Any) -> None:
        """After an aborted batch, start the next call from an empty KV cache: once,
        on a CI machine, reusing the cache after an abort made the next evaluation
        fail ("llama_decode returned 1"). The prompt prefix comes back from the
        prefix cache on disk in milliseconds."""
        llama._ctx.kv_cache_clear()
        llama.n_tokens = 0

    def _install_abort_callback(self, llama: Any) -> None:
        """llama.cpp's CPU backend asks its abort callback between graph nodes while it evaluates a batch: a
        cancel takes effect within a node's time, not a 512-token batch's. The callback is native code reading
        a flag (`NativeAbortFlag`), never Python: see there why."""
        import llama_cpp

        self._abort_callback = self._abort_flag.callback  # kept alive with the model
        llama_cpp.llama_set_abort_callback(llama._ctx.ctx, self._abort_callback, self._abort_flag.data)

    def _identity(self) -> str:
        """What a saved KV state depends on: the model file and the cache layout."""
        stat = self.model_path.stat()
        plan = self._plan
        assert plan is not None
        return f"{self.model_path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{plan.kv_type}|fa={plan.flash_attn}"


class NativeAbortFlag:
    """A cancel flag llama.cpp reads without Python.

    llama.cpp asks its abort callback after every node of the graph it computes (about a thousand per batch for
    phi-3-mini) on its compute thread. A Python callback takes the GIL for each call, and while any other Python
    thread is running (an ingest or a watch sync, an app's own work, a server's requests) each call waits up to
    that thread's switch interval (5 ms) for it: prompt evaluation beside a busy thread took 1.6x as long on the
    stand-in model, every generated token waited seconds. This callback is the C library's `strlen` over a
    two-byte buffer: native code reading memory, no GIL, nothing to wait for. Its first byte is 0 (length 0: go on)
    or 1 (length 1: abort), the second always 0; llama.cpp takes the `bool` it expects from the low byte of the integer
    return register, where strlen's 0 or 1 stands on every ABI ragkit runs on (x86-64 System V and Windows,
    AArch64)."""

    def __init__(self) -> None:
        import llama_cpp

        self._buffer = ctypes.create_string_buffer(2)
        strlen = ctypes.cast(_c_library().strlen, ctypes.c_void_p).value
        assert strlen is not None
        self.callback = llama_cpp.ggml_abort_callback(strlen)
        self.data = ctypes.cast(self._buffer, ctypes.c_void_p)

    def raise_(self) -> None:
        self._buffer[0] = b"\x01"

    def lower(self) -> None:
        self._buffer[0] = b"\x00"

    @property
    def raised(self) -> bool:
        return self._buffer[0] != b"\x00"


def _c_library() -> ctypes.CDLL:
    """The C runtime's functions: the process's own symbols on Linux and macOS, msvcrt on Windows."""
    import sys

    if sys.platform == "win32":
        return ctypes.cdll.msvcrt
    return ctypes.CDLL(None)


def render_chat_template(template: str, messages: list[dict[str, str]], *, bos_token: str, eos_token: str) -> str:
    """A Hugging Face chat template (Jinja) rendered as transformers would, in a sandbox."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise ValueError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    return env.from_string(template).render(
        messages=messages, add_generation_prompt=True, bos_token=bos_token, eos_token=eos_token
    )


KV_GGML_TYPES = {"f16": 1, "q8_0": 8, "q4_0": 2}  # llama_cpp.GGML_TYPE_*, without importing llama_cpp


class PrefixCache:
    """The evaluated KV state of a prompt's fixed prefix (system prompt and
    instructions), one file per model, cache layout and prefix, so a new
    process restores it instead of evaluating those tokens again: on a CPU
    every prompt token costs prefill time before the first word."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def prepare(self, llama: Any, identity: str, prompt: str, prefix: str) -> int:
        """Make `llama`'s KV cache hold the prefix's tokens, from disk when
        saved before (else evaluate and save them); returns the number of
        tokens restored from disk. llama-cpp-python then evaluates only the
        rest of the prompt (it reuses a matching cached prefix)."""
        prompt_tokens = llama.tokenize(prompt.encode("utf-8"), special=True)
        prefix_tokens = llama.tokenize(prefix.encode("utf-8"), special=True)
        # The token at the seam may merge with what follows: keep what both agree on.
        shared = 0
        for a, b in zip(prefix_tokens, prompt_tokens):
            if a != b:
                break
            shared += 1
        shared = min(shared, len(prompt_tokens) - 1)  # the last prompt token must be evaluated for its logits
        if shared < 8:
            return 0
        tokens = prompt_tokens[:shared]
        if llama.n_tokens >= shared and list(llama.input_ids[:shared]) == tokens:
            return 0  # already in this process's context
        key = hashlib.sha256(f"{identity}|{tokens}".encode()).hexdigest()[:24]
        path = self.directory / f"{key}.kvstate"
        if path.is_file() and self._load(llama, path, tokens):
            return shared
        self._evaluate_and_save(llama, path, tokens)
        return 0

    def _load(self, llama: Any, path: Path, tokens: list[int]) -> bool:
        import llama_cpp

        llama._ctx.kv_cache_clear()
        out = (llama_cpp.llama_token * len(tokens))()
        count = ctypes.c_size_t(0)
        read = llama_cpp.llama_state_seq_load_file(
            llama._ctx.ctx, str(path).encode(), 0, out, len(tokens), ctypes.byref(count)
        )
        if read == 0 or list(out[: count.value]) != tokens:
            log.warning("prefix cache %s is unusable; evaluating the prefix again", path)
            llama._ctx.kv_cache_clear()
            llama.n_tokens = 0
            path.unlink(missing_ok=True)
            return False
        llama.input_ids[: len(tokens)] = tokens
        llama.n_tokens = len(tokens)
        llama._requires_eval = True  # logits are not part of the saved sequence
        return True

    def _evaluate_and_save(self, llama: Any, path: Path, tokens: list[int]) -> None:
        import llama_cpp

        llama.reset()
        llama._ctx.kv_cache_clear()
        llama.eval(tokens)
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.part")  # never a half-written state under the real name
        array = (llama_cpp.llama_token * len(tokens))(*tokens)
        if llama_cpp.llama_state_seq_save_file(llama._ctx.ctx, str(partial).encode(), 0, array, len(tokens)):
            os.replace(partial, path)
        else:
            partial.unlink(missing_ok=True)
            log.warning("could not save the prompt prefix state to %s", path)


def _token_limit(max_tokens: int, n_ctx: int) -> Callable[[Any, Any], bool]:
    """A stopping criterion that holds max_tokens even while llama-cpp-python
    waits for the rest of a multi-byte character (it skips its own max_tokens
    check then): a model emitting stray byte tokens ran on until the context
    was full and llama_decode failed."""
    first_length: list[int] = []

    def reached(input_ids: Any, _logits: Any) -> bool:
        length = len(input_ids)
        if not first_length:
            first_length.append(length - 1)
        # A few tokens of slack finish a character cut at max_tokens.
        return length - first_length[0] >= max_tokens + 4 or length >= n_ctx - 1

    return reached


def choose_n_ctx(prompt_tokens: int, max_tokens: int, ctx_limit: int) -> int:
    """The smallest context, in CTX_STEP steps, that holds the prompt and the
    answer; never above ctx_limit. Staying small keeps the KV cache small and,
    for phi-3's 128K GGUFs, keeps the short RoPE factors in use."""
    needed = prompt_tokens + max_tokens
    return min(ctx_limit, -(-needed // CTX_STEP) * CTX_STEP)

"""llama.cpp backend: contexts sized to memory, and the on-disk cache of the
prompt's fixed prefix (real llama.cpp, tiny random-weight phi3 GGUF)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragkit.answering import llm as llm_module
from ragkit.answering.llm import LlamaCppLLM
from ragkit.errors import ContextMemoryError

PREFIX = (
    "<|system|>\nYou answer questions using only the passages. Cite them by number.<|end|>\n<|user|>\nPassages:\n\n"
)


def greedy(llm: LlamaCppLLM, prompt: str, prefix: str | None = None) -> str:
    return "".join(llm.stream(prompt, n_ctx=512, max_tokens=12, temperature=0.0, stop=[], prefix=prefix))


def test_a_context_that_does_not_fit_is_refused_before_allocation(
    tiny_phi3: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm = LlamaCppLLM(tiny_phi3)
    size = tiny_phi3.stat().st_size
    # Room for the weights, the runtime and about 1,000 tokens of q4_0 cache (64 * 18/32 bytes each... per layer).
    monkeypatch.setattr(llm_module, "available_memory_bytes", lambda: size + 600 * 1024**2 + 100_000)
    with pytest.raises(ContextMemoryError) as refused:
        llm.stream("<|user|>\nhi<|end|>\n<|assistant|>\n", n_ctx=131072, max_tokens=8, temperature=0.0, stop=[])
    assert refused.value.largest < 131072 and f"fits is {refused.value.largest} tokens" in str(refused.value)
    assert llm.loaded_plan is None  # nothing was allocated


def test_quantized_kv_cache_with_flash_attention_runs_in_llama_cpp(tiny_phi3: Path) -> None:
    llm = LlamaCppLLM(tiny_phi3, kv_cache="q8_0")
    text = greedy(llm, "<|user|>\nhow do I rotate the api key<|end|>\n<|assistant|>\n")
    assert text and llm.loaded_plan is not None
    assert (llm.loaded_plan.kv_type, llm.loaded_plan.flash_attn) == ("q8_0", True)


def test_prefix_state_is_saved_and_restored_by_a_new_process_unchanged(tiny_phi3: Path, tmp_path: Path) -> None:
    prompt = PREFIX + "<passage>the key is rotated every 30 days</passage>\nQuestion: how often<|end|>\n<|assistant|>\n"
    expected = greedy(LlamaCppLLM(tiny_phi3), prompt)  # no cache at all

    first = LlamaCppLLM(tiny_phi3, prefix_cache_dir=tmp_path)
    assert greedy(first, prompt, PREFIX) == expected and first.last_prefix_restored == 0
    assert len(list(tmp_path.glob("*.kvstate"))) == 1

    second = LlamaCppLLM(tiny_phi3, prefix_cache_dir=tmp_path)  # as a new `ragkit ask` would
    assert greedy(second, prompt, PREFIX) == expected  # restoring changes nothing in the answer
    assert second.last_prefix_restored > 10

    other_question = prompt.replace("how often", "who rotates it")
    fresh = greedy(LlamaCppLLM(tiny_phi3), other_question)
    third = LlamaCppLLM(tiny_phi3, prefix_cache_dir=tmp_path)
    assert greedy(third, other_question, PREFIX) == fresh and third.last_prefix_restored > 10


def test_a_damaged_prefix_state_is_replaced_not_trusted(tiny_phi3: Path, tmp_path: Path) -> None:
    prompt = PREFIX + "<passage>x</passage>\nQuestion: y<|end|>\n<|assistant|>\n"
    expected = greedy(LlamaCppLLM(tiny_phi3), prompt)
    greedy(LlamaCppLLM(tiny_phi3, prefix_cache_dir=tmp_path), prompt, PREFIX)
    (state,) = tmp_path.glob("*.kvstate")
    state.write_bytes(b"garbage")
    llm = LlamaCppLLM(tiny_phi3, prefix_cache_dir=tmp_path)
    assert greedy(llm, prompt, PREFIX) == expected and llm.last_prefix_restored == 0
    assert state.stat().st_size > 1000  # saved again, whole


PRINT_WHILE_LOADING = """
import sys, time
from pathlib import Path
from ragkit.answering.llm import LlamaCppLLM
llm = LlamaCppLLM(Path(sys.argv[1]), threads=1)
llm.preload(512)
printed = 0
deadline = time.monotonic() + 60
while (llm.loaded_plan is None or printed < 200) and time.monotonic() < deadline:
    print(f"line {printed}", flush=True)
    print(f"err {printed}", file=sys.stderr, flush=True)
    printed += 1
print(f"printed {printed}", flush=True)
"""


def test_what_the_app_prints_while_the_model_loads_in_the_background_is_not_lost(standin: Path) -> None:
    # llama-cpp-python used to point the process's stdout and stderr at /dev/null during a load: a
    # "not found" answer printed while the model preloaded vanished.
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", PRINT_WHILE_LOADING, str(standin)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-500:]
    lines = result.stdout.splitlines()
    printed = int(lines[-1].split()[1])
    assert lines[:-1] == [f"line {n}" for n in range(printed)]
    assert result.stderr.splitlines() == [f"err {n}" for n in range(printed)]  # and nothing from llama.cpp


def test_the_thread_reading_an_answer_holds_its_turn(tiny_phi3: Path) -> None:
    """A server asks on one thread and streams on another: the asking thread's next question must wait
    for the answer being read, not close it under its reader."""
    import threading

    llm = LlamaCppLLM(tiny_phi3, threads=1)
    first = llm.stream("Once upon a time", n_ctx=512, max_tokens=12, temperature=0.0, stop=[])
    got: list[str] = []
    reading = threading.Event()
    go_on = threading.Event()

    def read() -> None:
        tokens = iter(first)
        got.append(next(tokens))
        reading.set()
        go_on.wait(30)
        got.extend(tokens)

    reader = threading.Thread(target=read)
    reader.start()
    assert reading.wait(30)
    threading.Timer(0.5, go_on.set).start()
    second = list(llm.stream("Twice upon a time", n_ctx=512, max_tokens=4, temperature=0.0, stop=[]))
    reader.join(30)
    assert len(got) > 1  # the first answer was read to its end, not cut after one token
    assert second


def test_a_prompt_is_evaluated_while_another_python_thread_holds_the_gil(tiny_phi3: Path) -> None:
    """llama.cpp asks its abort callback after every graph node. A Python callback needs the GIL for each call,
    so any busy Python thread (an ingest, an app's own work, a server's request) held the evaluation back node
    by node. Here, while llama.cpp works through a prompt in small batches, this thread keeps the GIL in C for a
    while (PyDLL calls keep it; a long switch interval keeps it from being handed over between them): the
    evaluation must go on meanwhile (its cache fills batch by batch), where a Python callback stops it dead."""
    import ctypes
    import sys
    import threading
    import time

    import llama_cpp

    llm = LlamaCppLLM(tiny_phi3, threads=2)
    llama = llama_cpp.Llama(str(tiny_phi3), n_ctx=2048, n_batch=2048, n_ubatch=4, n_threads=2, verbose=False)
    llm._install_abort_callback(llama)  # what ragkit gives llama.cpp
    tokens = llama.tokenize(b"The quick brown fox jumps over the lazy dog. " * 200)[:2000]
    library = ctypes.PyDLL(llama_cpp.llama_cpp._lib._name)  # the same functions, called with the GIL held
    library.llama_get_memory.restype = ctypes.c_void_p
    library.llama_get_memory.argtypes = [ctypes.c_void_p]
    library.llama_memory_seq_pos_max.restype = ctypes.c_int32
    library.llama_memory_seq_pos_max.argtypes = [ctypes.c_void_p, ctypes.c_int32]
    holding = ctypes.PyDLL(None)
    holding.usleep.argtypes = [ctypes.c_uint]
    memory = library.llama_get_memory(llama._ctx.ctx)
    worker = threading.Thread(target=llama.eval, args=(tokens,), daemon=True)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(30.0)
    try:
        worker.start()
        while library.llama_memory_seq_pos_max(memory, 0) < 0:  # until llama.cpp is at work
            time.sleep(0.0005)  # gives the GIL to the worker
        before = library.llama_memory_seq_pos_max(memory, 0)
        holding.usleep(2_000_000)
        after = library.llama_memory_seq_pos_max(memory, 0)
    finally:
        sys.setswitchinterval(interval)
    worker.join()
    assert before < len(tokens) - 1, "the prompt was evaluated before the GIL was taken: make it longer"
    assert after > before, f"evaluation stood still at token {before} of {len(tokens)} while the GIL was held"

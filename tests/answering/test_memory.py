"""KV cache arithmetic from GGUF metadata, and `ragkit doctor`."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from ragkit.answering.llm import LlamaCppLLM
from ragkit.answering.memory import ModelShape, largest_context, plan_context
from ragkit.errors import ContextMemoryError

PHI3_MINI = {
    "general.architecture": "phi3",
    "phi3.block_count": "32",
    "phi3.embedding_length": "3072",
    "phi3.attention.head_count": "32",
    "phi3.attention.head_count_kv": "32",
    "phi3.context_length": "131072",
}


def test_phi3_mini_kv_cache_costs_384_kib_a_token_in_f16() -> None:
    shape = ModelShape.from_metadata(PHI3_MINI)
    assert shape.kv_bytes_per_token("f16") == 384 * 1024
    assert shape.kv_bytes_per_token("f16") * 131072 == 48 * 1024**3  # the whole 128K context: 48 GiB
    assert shape.kv_bytes_per_token("q8_0") == 204 * 1024  # about half
    # 24 GiB free beside 2.4 GB of Q4_K_M weights: f16 stops near 58K tokens, q8_0 reaches about 110K.
    free, weights = 24 * 1024**3, 2_400_000_000
    assert 57_000 < largest_context(shape, weights, free, "f16") < 60_000
    assert 105_000 < largest_context(shape, weights, free, "q8_0") < 113_000
    assert largest_context(shape, weights, 1024**3, "f16") == 0  # not even the weights fit


def test_shape_is_read_from_a_real_gguf(tiny_phi3: Path) -> None:
    shape = ModelShape.from_metadata(LlamaCppLLM(tiny_phi3).metadata)
    assert (shape.architecture, shape.layers, shape.kv_heads, shape.head_dim_k) == ("phi3", 2, 2, 32)
    assert shape.kv_bytes_per_token("f16") == 2 * 2 * (32 + 32) * 2


def test_doctor_reports_the_machine_and_each_models_longest_context(
    cli: Callable[..., subprocess.CompletedProcess[str]], tiny_phi3: Path
) -> None:
    result = cli("doctor", "--model", str(tiny_phi3), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["threads"] >= 1 and report["available_memory_bytes"] > 0
    assert isinstance(report["gpu_offload"], bool) and report["cpu_features"]
    fit = report["models"][0]
    assert fit["kv_bytes_per_token"]["f16"] == 512 and fit["largest_context"]["f16"] == 131072
    table = cli("doctor")
    assert table.returncode == 0 and "memory available" in table.stdout and "ragkit models pull" in table.stdout


def test_plan_uses_f16_when_it_fits_then_quantized_caches_then_refuses() -> None:
    shape = ModelShape.from_metadata(PHI3_MINI)
    weights = 2_400_000_000
    # 4K on a 16 GiB laptop: an exact f16 cache, no flash attention needed.
    small = plan_context(shape, weights, 4096, 16 * 1024**3)
    assert (small.kv_type, small.flash_attn, small.kv_bytes) == ("f16", False, 1536 * 1024**2)
    # 64K needs 24 GiB in f16: q8_0 (half) with flash attention, which quantizing V requires.
    long = plan_context(shape, weights, 65536, 20 * 1024**3)
    assert (long.kv_type, long.flash_attn) == ("q8_0", True)
    assert plan_context(shape, weights, 65536, 10 * 1024**3).kv_type == "q4_0"
    # 128K on 8 GiB: refused up front, naming what would fit (about 50K with q4_0).
    with pytest.raises(ContextMemoryError) as refused:
        plan_context(shape, weights, 131072, 8 * 1024**3)
    largest = largest_context(shape, weights, 8 * 1024**3, "q4_0")
    assert refused.value.largest == largest and 45_000 < largest < 55_000
    assert f"largest context that fits is {largest} tokens" in str(refused.value)
    assert f"--ctx to {largest}" in str(refused.value)
    # Pinned choices are honoured.
    assert plan_context(shape, weights, 4096, None, kv_cache="q8_0").kv_type == "q8_0"
    assert plan_context(shape, weights, 4096, None, flash_attn="on").flash_attn is True
    assert plan_context(shape, weights, 65536, None).flash_attn is False  # f16: off, it halves generation speed

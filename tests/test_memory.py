"""KV cache arithmetic from GGUF metadata, and `ragkit doctor`."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from ragkit.llm import LlamaCppLLM
from ragkit.memory import ModelShape, largest_context

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
    assert (shape.architecture, shape.layers, shape.kv_heads, shape.head_dim_k) == ("phi3", 2, 4, 16)
    assert shape.kv_bytes_per_token("f16") == 2 * 4 * (16 + 16) * 2


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

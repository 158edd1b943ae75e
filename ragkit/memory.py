"""What a context costs in memory, from the GGUF's own metadata, and how
much this machine has. The KV cache holds a key and a value vector per
layer, per KV head, per token: phi-3-mini (32 layers, 32 KV heads of
dimension 96, no grouped-query attention) needs 384 KiB a token in f16,
48 GiB at 128K, so the largest usable context is a memory question."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

# Bytes per element of each llama.cpp KV cache type (q8_0 and q4_0 store a
# 2-byte scale per block of 32 values).
KV_TYPE_BYTES: dict[str, float] = {"f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}
# Compute buffers, the runtime and ragkit itself, beside weights and cache.
RUNTIME_OVERHEAD_BYTES = 600 * 1024**2


@dataclass(frozen=True)
class ModelShape:
    architecture: str
    layers: int
    kv_heads: int
    head_dim_k: int
    head_dim_v: int
    n_ctx_train: int

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str]) -> ModelShape:
        arch = metadata.get("general.architecture", "")

        def number(key: str, default: int | None = None) -> int:
            value = metadata.get(f"{arch}.{key}")
            if value is None:
                if default is None:
                    raise KeyError(f"{arch}.{key}")
                return default
            return int(value)

        heads = number("attention.head_count")
        head_dim = number("embedding_length") // heads
        return cls(
            architecture=arch,
            layers=number("block_count"),
            kv_heads=number("attention.head_count_kv", heads),
            head_dim_k=number("attention.key_length", head_dim),
            head_dim_v=number("attention.value_length", head_dim),
            n_ctx_train=number("context_length", 4096),
        )

    def kv_bytes_per_token(self, kv_type: str = "f16") -> int:
        """Key and value cache for one token, all layers."""
        elements = self.layers * self.kv_heads * (self.head_dim_k + self.head_dim_v)
        return int(elements * KV_TYPE_BYTES[kv_type])


def available_memory_bytes() -> int | None:
    """Memory the OS can give without swapping (MemAvailable on Linux), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def largest_context(shape: ModelShape, weights_bytes: int, free_bytes: int, kv_type: str = "f16") -> int:
    """The longest context (a multiple of 256, at most the trained length)
    whose KV cache fits beside the weights in `free_bytes`; 0 if none does."""
    room = free_bytes - weights_bytes - RUNTIME_OVERHEAD_BYTES
    if room <= 0:
        return 0
    tokens = room // shape.kv_bytes_per_token(kv_type)
    return int(min(shape.n_ctx_train, tokens // 256 * 256))

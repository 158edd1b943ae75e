"""What a context costs in memory, from the GGUF's own metadata, and how
much this machine has. The KV cache holds a key and a value vector per
layer, per KV head, per token: phi-3-mini (32 layers, 32 KV heads of
dimension 96, no grouped-query attention) needs 384 KiB a token in f16,
48 GiB at 128K, so the largest usable context is a memory question."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ragkit.errors import ConfigError, ContextMemoryError

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


KV_TYPES = ("f16", "q8_0", "q4_0")
# Flash attention is what lets llama.cpp quantize the V cache.
FLASH_ATTN_MODES = ("auto", "on", "off")
QUANT_BLOCK = 32


@dataclass(frozen=True)
class ContextPlan:
    """How a context is allocated: its length, KV cache type, flash attention."""

    n_ctx: int
    kv_type: str
    flash_attn: bool
    kv_bytes: int
    """The KV cache's size at n_ctx."""


def plan_context(
    shape: ModelShape,
    weights_bytes: int,
    n_ctx: int,
    free_bytes: int | None,
    *,
    kv_cache: str = "auto",
    flash_attn: str = "auto",
) -> ContextPlan:
    """The cheapest-to-run plan for `n_ctx` that fits in `free_bytes`: an f16
    cache when it fits (exact, and fastest to prefill), else q8_0, else q4_0
    (a half and a quarter of the memory; quantizing V needs flash attention).
    `kv_cache` pins one type; `flash_attn` "on" turns flash attention on for
    an f16 cache too ("off" cannot apply to a quantized one). Raises ContextMemoryError
    naming the largest context that would fit."""
    types = KV_TYPES if kv_cache == "auto" else (kv_cache,)
    if shape.head_dim_k % QUANT_BLOCK or shape.head_dim_v % QUANT_BLOCK:
        # llama.cpp quantizes the cache in blocks of 32 along each head.
        if kv_cache != "auto" and kv_cache != "f16":
            raise ConfigError(
                f"kv_cache {kv_cache} needs a head size divisible by {QUANT_BLOCK}; this model's is {shape.head_dim_k}",
                "use kv_cache = f16 or auto",
            )
        types = ("f16",)
    for kv_type in types:
        kv_bytes = shape.kv_bytes_per_token(kv_type) * n_ctx
        if free_bytes is None or weights_bytes + RUNTIME_OVERHEAD_BYTES + kv_bytes <= free_bytes:
            # Quantizing V needs flash attention; otherwise it is off unless asked
            # for: on this CPU build it cut generation from 7.0 to 4.0 tokens/s at
            # 1K and from 3.4 to 1.45 at 4K for phi-3-mini (bench/phi3_speed.py),
            # for the same prefill speed.
            use_fa = kv_type != "f16" or flash_attn == "on"
            return ContextPlan(n_ctx, kv_type, use_fa, kv_bytes)
    assert free_bytes is not None
    smallest = types[-1]
    largest = largest_context(shape, weights_bytes, free_bytes, smallest)
    need = weights_bytes + RUNTIME_OVERHEAD_BYTES + shape.kv_bytes_per_token(smallest) * n_ctx
    raise ContextMemoryError(
        f"a {n_ctx}-token context needs {gib(need)} of memory with a {smallest} KV cache, "
        f"but {gib(free_bytes)} is free; the largest context that fits is {largest} tokens",
        f"lower --ctx to {largest} or less, ask about less text, or free memory" if largest else "free memory",
        n_ctx=n_ctx,
        largest=largest,
    )


def gib(n_bytes: float) -> str:
    return f"{n_bytes / 1024**3:.1f} GiB"

"""`ragkit doctor`: what this machine can run. Returned as data; the CLI prints it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ragkit.answering.memory import KV_TYPE_BYTES, ModelShape, available_memory_bytes, largest_context


@dataclass(frozen=True)
class ModelFit:
    name: str
    path: str
    size_bytes: int
    kv_bytes_per_token: dict[str, int] = field(default_factory=dict)
    """KV cache per token by cache type (f16, q8_0, q4_0)."""
    largest_context: dict[str, int] = field(default_factory=dict)
    """Longest context that fits in the free memory now, by cache type."""
    n_ctx_train: int = 0
    error: str = ""


@dataclass(frozen=True)
class SystemReport:
    cpu_features: list[str]
    """Instruction sets llama.cpp was built to use and found (AVX2, FMA, ...)."""
    threads: int
    available_memory_bytes: int | None
    gpu_offload: bool
    """llama.cpp was built with a GPU backend: --gpu-layers takes effect."""
    models: list[ModelFit]


def _cpu_features() -> tuple[list[str], bool]:
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    # "CPU : SSE3 = 1 | AVX = 1 | ..." (the first entry carries the backend's name).
    features = sorted(
        {part.split("=")[0].split(":")[-1].strip() for part in info.split("|") if part.strip().endswith("= 1")}
    )
    return features, bool(llama_cpp.llama_supports_gpu_offload())


def model_fit(name: str, path: Path, free: int | None) -> ModelFit:
    from ragkit.answering.llm import LlamaCppLLM

    size = path.stat().st_size
    try:
        shape = ModelShape.from_metadata(LlamaCppLLM(path).metadata)
    except Exception as exc:  # a damaged or foreign file: report it, keep going
        return ModelFit(name, str(path), size, error=f"cannot read its metadata ({exc.__class__.__name__})")
    per_token = {kv: shape.kv_bytes_per_token(kv) for kv in KV_TYPE_BYTES}
    fits = {kv: largest_context(shape, size, free, kv) for kv in KV_TYPE_BYTES} if free else {}
    return ModelFit(name, str(path), size, per_token, fits, shape.n_ctx_train)


def system_report(models_dir: Path, extra: list[Path] | None = None) -> SystemReport:
    from ragkit.errors import ModelNotFoundError
    from ragkit.models import REGISTRY, is_downloaded, model_path

    for path in extra or []:
        if not path.is_file():
            raise ModelNotFoundError(
                f"{path}: no such model file",
                "give the path of a .gguf file, or see what is on disk: ragkit models list",
            )
    features, gpu = _cpu_features()
    free = available_memory_bytes()
    candidates = [
        (spec.name, model_path(spec, models_dir)) for spec in REGISTRY.values() if is_downloaded(spec, models_dir)
    ]
    candidates += [(p.name, p) for p in extra or []]
    return SystemReport(
        cpu_features=features,
        threads=os.cpu_count() or 1,
        available_memory_bytes=free,
        gpu_offload=gpu,
        models=[model_fit(name, path, free) for name, path in candidates],
    )

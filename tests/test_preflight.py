"""Checks before long work: output paths and memory, each refusal naming its flag."""

from __future__ import annotations

import pytest

from thermo_manifold import preflight


def test_a_directory_is_made_and_probed_and_a_file_in_its_place_is_refused(tmp_path):
    made = preflight.writable_directory(tmp_path / "a" / "b", "--out")
    assert made.is_dir() and list(made.iterdir()) == []  # the probe file is gone
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="--out .*file: exists and is not a directory"):
        preflight.writable_directory(tmp_path / "file", "--out")
    with pytest.raises(ValueError, match="--out /proc/nope: cannot write there"):
        preflight.writable_directory("/proc/nope", "--out")


def test_a_file_path_needs_a_writable_directory_and_must_not_be_one(tmp_path):
    assert preflight.writable_file(tmp_path / "new" / "v.gif", "--video").parent.is_dir()
    (tmp_path / "d.gif").mkdir()
    with pytest.raises(ValueError, match="--video .*d.gif: is a directory"):
        preflight.writable_file(tmp_path / "d.gif", "--video")
    with pytest.raises(ValueError, match="--video"):
        preflight.writable_file("/proc/none/v.gif", "--video")


def test_memory_lower_bound_counts_particle_and_grid_floats():
    # 1,000 particles x 22 floats + 10^3 cells x 4 floats, 4 bytes each.
    assert preflight.physics_bytes(1000, (10, 10, 10), 4) == (22_000 + 4_000) * 4
    assert preflight.physics_bytes(1, (1, 1, 1), 8) == (22 + 4) * 8


def test_a_run_larger_than_memory_is_refused_with_the_sizes():
    preflight.check_fits_in_memory(1000, (8, 8, 8), 4, "small", available=1e9)
    with pytest.raises(ValueError, match=r"big needs at least 0\.1 GiB .* has 0\.0 GiB"):
        preflight.check_fits_in_memory(10**6, (32, 32, 32), 4, "big", available=1e6)
    assert preflight.physical_memory_bytes() > 0

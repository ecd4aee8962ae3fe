from __future__ import annotations

import json
import math

import torch

from thermo_manifold.reporting import RunDirectory, headless_pyplot, image_is_blank


def test_run_directory_writes_json_tables_and_a_visible_figure(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.write_json("metrics.json", {"loss": torch.tensor(0.5), "curve": torch.arange(3),
                                    "bad": math.inf})
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics == {"loss": 0.5, "curve": [0, 1, 2], "bad": "inf"}

    rows = [{"model": "a_b", "bpb": 1.23456}, {"model": "c", "bpb": 2.0}]
    md, tex = run.write_table("results", rows, caption="Bits per byte")
    assert "| model | bpb |" in md.read_text() and "1.235" in md.read_text()
    assert r"a\_b" in tex.read_text() and r"\caption{Bits per byte}" in tex.read_text()

    plt = headless_pyplot()
    figure, axis = plt.subplots()
    axis.plot([0, 1, 2], [0, 1, 4])
    png = run.save_figure(figure, "curve", pdf=True)
    assert png.exists() and (png.parent / "curve.pdf").exists()
    assert not image_is_blank(png)

    empty, _ = plt.subplots()
    empty.gca().axis("off")
    assert image_is_blank(run.save_figure(empty, "empty"))

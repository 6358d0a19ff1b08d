#!/usr/bin/env python3
"""Prints the short table that ends scripts/gpu_check.sh: our training step vs PyTorch's, same card."""
import json
import re
import sys
from pathlib import Path


def batch_and_precision(name):
    """(batch, "fp32"|"tf32") of a train_step_bench name, or None (a CPU row): the path segment
    b<N> (or one starting N<N>_) and the segment fp32/tf32, wherever they sit, e.g.
    train_step/cuda/tf32/seed/N10_H256_W256/iterations:10/manual_time. Segments are stripped, so results saved
    while the names still had spaces ("run_train_step/cuda / seed_256 / b10 / tf32/...") read the
    same."""
    parts = [p.strip() for p in name.split("/")]
    if "cpu" in parts:
        return None
    batches = [int(m.group(1)) for p in parts if (m := re.match(r"(?:b|N)(\d+)(?:_|$)", p))]
    precisions = [p for p in parts if p in ("fp32", "tf32")]
    return (batches[0], precisions[0]) if batches and precisions else None


results = Path(sys.argv[1])
ours = {}
try:
    for b in json.loads((results / "train_step.json").read_text())["benchmarks"]:
        key = batch_and_precision(b["name"])
        if key:
            ours[key] = (b.get("img_per_s", 0.0), b.get("peak_GiB", 0.0))
except Exception as e:  # keep the table even when one side failed
    print(f"(no training-step results: {e})")
torch = {}
for line in (results / "torch.jsonl").read_text().splitlines() if (results / "torch.jsonl").exists() else []:
    try:
        r = json.loads(line)
    except json.JSONDecodeError:
        continue
    key = (r["batch"], r["precision"] + ("_cl" if r.get("channels_last") else ""))
    torch[key] = (r["images_per_s"], r.get("peak_mem_gib") or 0.0)

print(f"{'config':<24}{'ours img/s':>12}{'ours GiB':>10}{'torch img/s':>13}{'torch GiB':>11}{'ratio':>8}")
for batch, prec, tkey in [(10, "fp32", "fp32"), (10, "tf32", "tf32_cl"), (32, "fp32", "fp32"), (32, "tf32", "tf32_cl")]:
    o = ours.get((batch, prec), (0.0, 0.0))
    t = torch.get((batch, tkey), (0.0, 0.0))
    ratio = o[0] / t[0] if t[0] else 0.0
    name = f"seed b{batch} {prec}" + (" (torch CL)" if tkey.endswith("_cl") else "")
    print(f"{name:<24}{o[0]:>12.1f}{o[1]:>10.2f}{t[0]:>13.1f}{t[1]:>11.2f}{ratio:>8.2f}")

#!/usr/bin/env python3
"""Our CPU training step and inference against PyTorch on the same machine, side by side.

Each round runs, in turn, for every config: ours with the default variant table, ours with im2col
everywhere (UNET_VARIANT=conv2d_cpu=1, the engine before the variant tables), then for each
PyTorch interpreter given (--python, default Debian's /usr/bin/python3 with torch 1.13) PyTorch in
its default (NCHW) layout and channels-last. PyTorch's anchor is the fastest of all its runs in
each round. Prints medians with the per-round values and per-round ratios, and writes every time
to a JSON file. Run it on a quiet machine.

  /usr/bin/python3 bench/cpu_vs_torch.py --build build [--rounds 3] [--threads 2]
      [--configs train_seed_b1,train_base16_b10,infer_seed,infer_seed_bn] [--out FILE]
      [--python /usr/bin/python3,/path/to/venv/bin/python]

Ours: build/bench/train_step_bench (3 timed iterations after a warm-up; inference rows run the
eval-mode forward, batch norm folded for the _bn_folded row). PyTorch: bench/torch_reference.py
(--steps 3 --warmup 1), with the same network, loss and optimiser.
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# name: (train_step_bench row, torch_reference.py arguments)
CONFIGS = {
    "train_seed_b1": ("train_step/cpu/fp32/seed/N1_H256_W256", ["--batch", "1", "--size", "256"]),
    "train_base16_b10": ("train_step/cpu/fp32/base16/N10_H128_W128",
                         ["--batch", "10", "--size", "128", "--base", "16"]),
    "infer_seed": ("inference/cpu/seed/N10_H256_W256",
                   ["--inference", "--batch", "10", "--size", "256"]),
    "infer_seed_bn": ("inference/cpu/seed_bn_folded/N10_H256_W256",
                      ["--inference", "--batchnorm", "--batch", "10", "--size", "256"]),
}


def run_ours(build, row, threads, env_extra):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), **env_extra)
    cmd = [os.path.join(build, "bench", "train_step_bench"),
           "--benchmark_filter=^" + row.replace("/", "/") + "/", "--benchmark_format=json"]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    rows = [b for b in json.loads(out)["benchmarks"] if b.get("run_type", "iteration") == "iteration"]
    if len(rows) != 1:
        sys.exit(f"cpu_vs_torch.py: expected one row for {row}, got {len(rows)}")
    b = rows[0]
    scale = {"ms": 1.0, "us": 1e-3, "ns": 1e-6, "s": 1e3}[b["time_unit"]]
    return b["real_time"] * scale


def torch_version(python):
    return subprocess.run([python, "-c", "import torch; print(torch.__version__)"], check=True,
                          capture_output=True, text=True).stdout.strip()


def run_torch(python, args_extra, threads, channels_last):
    cmd = [python, os.path.join(HERE, "torch_reference.py"), "--device", "cpu",
           "--threads", str(threads), "--steps", "3", "--warmup", "1"] + args_extra
    if channels_last:
        cmd.append("--channels-last")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["step_ms_median"] if "step_ms_median" in result else result["forward_ms_median"]


def fmt(values):
    return "%.0f (%s)" % (statistics.median(values), ", ".join("%.0f" % v for v in values))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--out", default=None)
    ap.add_argument("--python", default="/usr/bin/python3",
                    help="comma-separated interpreters, each with a torch to measure")
    args = ap.parse_args()
    pythons = args.python.split(",")
    versions = {py: torch_version(py) for py in pythons}
    names = args.configs.split(",")
    for n in names:
        if n not in CONFIGS:
            sys.exit(f"cpu_vs_torch.py: unknown config {n} (known: {', '.join(CONFIGS)})")
    torch_kinds = []
    for py in pythons:
        torch_kinds += [(f"torch {versions[py]}", py, False),
                        (f"torch {versions[py]} channels-last", py, True)]
    kinds = ["ours", "ours_im2col"] + [k for k, _, _ in torch_kinds]
    times = {n: {k: [] for k in kinds} for n in names}
    for r in range(args.rounds):
        for n in names:
            row, targs = CONFIGS[n]
            t = times[n]
            t["ours"].append(run_ours(args.build, row, args.threads, {}))
            t["ours_im2col"].append(
                run_ours(args.build, row, args.threads, {"UNET_VARIANT": "conv2d_cpu=1"}))
            for kind, py, channels_last in torch_kinds:
                t[kind].append(run_torch(py, targs, args.threads, channels_last))
            print(f"round {r + 1}/{args.rounds} {n}: " +
                  ", ".join(f"{k} {t[k][-1]:.0f} ms" for k in kinds), file=sys.stderr, flush=True)
    names_row = " | ".join(k.replace("torch", "PyTorch") for k, _, _ in torch_kinds)
    print("| config | ours (table) | ours (im2col only) | " + names_row +
          " | PyTorch best / ours (per round) | im2col / table |")
    print("|" + " --- |" * (5 + len(torch_kinds)))
    summary = {}
    for n in names:
        t = times[n]
        best = [min(vals) for vals in zip(*(t[k] for k, _, _ in torch_kinds))]
        ratio = [b / o for b, o in zip(best, t["ours"])]
        gain = statistics.median(t["ours_im2col"]) / statistics.median(t["ours"])
        summary[n] = {"ms": t, "torch_best_over_ours": ratio}
        torch_cells = " | ".join(fmt(t[k]) for k, _, _ in torch_kinds)
        print(f"| {n} | {fmt(t['ours'])} | {fmt(t['ours_im2col'])} | {torch_cells} | "
              "%.2f (%s) | %.2f |" %
              (statistics.median(ratio), ", ".join("%.2f" % x for x in ratio), gain))
    out = args.out or os.path.join(
        HERE, "results", f"cpu_vs_torch_{datetime.date.today().isoformat()}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"date": datetime.datetime.now().isoformat(timespec="seconds"),
                   "threads": args.threads, "rounds": args.rounds, "torch": versions,
                   "results": summary}, f, indent=1)
    print(f"written: {out}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""PyTorch's time per 3x3 conv layer and pass on the CPU, for the per-layer side by side with ours.

For each 3x3 / pad 1 layer of the base-16 U-Net at 128x128 (batch 10) and of the seed U-Net at
256x256 (batch 1), in channels-last (NHWC, as our engine stores activations): the forward
(torch.nn.functional.conv2d with bias), the backward-data (torch.nn.grad.conv2d_input) and the
backward-weight (torch.nn.grad.conv2d_weight), each the median of --reps timed calls after one
warm-up. Prints one JSON line per layer and pass; bench/conv_layers_vs_torch.py puts them next to
conv_cpu_bench's rows.

  /opt/torch2/bin/python bench/torch_conv_layers.py --threads 2 [--reps 5] > torch_layers.jsonl
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

# (N, H, C, K): every distinct 3x3 layer of the two networks (the decoder's second convs repeat
# encoder shapes).
LAYERS = {
    "base16_n10": [(10, 128, 1, 16), (10, 128, 16, 16), (10, 64, 16, 32), (10, 64, 32, 32),
                   (10, 32, 32, 64), (10, 32, 64, 64), (10, 16, 64, 128), (10, 16, 128, 128),
                   (10, 8, 128, 256), (10, 8, 256, 256), (10, 16, 256, 128), (10, 32, 128, 64),
                   (10, 64, 64, 32), (10, 128, 32, 16)],
    "seed_n1": [(1, 256, 1, 32), (1, 256, 32, 32), (1, 128, 32, 64), (1, 128, 64, 64),
                (1, 64, 64, 128), (1, 64, 128, 128), (1, 32, 128, 256), (1, 32, 256, 256),
                (1, 16, 256, 512), (1, 16, 512, 512), (1, 32, 512, 256), (1, 64, 256, 128),
                (1, 128, 128, 64), (1, 256, 64, 32)],
}


def timed(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    for net, layers in LAYERS.items():
        for n, hw, c, k in layers:
            cl = torch.channels_last
            x = torch.rand(n, c, hw, hw, generator=g).contiguous(memory_format=cl)
            w = torch.rand(k, c, 3, 3, generator=g).contiguous(memory_format=cl)
            b = torch.rand(k, generator=g)
            dy = torch.rand(n, k, hw, hw, generator=g).contiguous(memory_format=cl)
            passes = {
                "fwd": lambda: F.conv2d(x, w, b, padding=1),
                "bwd_data": lambda: torch.nn.grad.conv2d_input(x.shape, w, dy, padding=1),
                "bwd_weight": lambda: torch.nn.grad.conv2d_weight(x, w.shape, dy, padding=1),
            }
            with torch.no_grad():
                for name, fn in passes.items():
                    ms = timed(fn, args.reps)
                    print(json.dumps({"net": net, "N": n, "H": hw, "C": c, "K": k, "pass": name,
                                      "ms": round(ms, 4), "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()

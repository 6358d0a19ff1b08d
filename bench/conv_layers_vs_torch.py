#!/usr/bin/env python3
"""Per 3x3 conv layer and pass: ours (the variant our table runs) against PyTorch, same machine.

Inputs: conv_cpu_bench JSON with the /cpu/, /winograd/ and /direct/ rows of the layers (one file
per layer set and batch) and the JSON lines of bench/torch_conv_layers.py. Ours is the time of
the variant conv2d_cpu_default_variant picks (the committed table: `--choice` gives the C++ file
to read it from), so the sum is what a training step spends in 3x3 convs. Each layer counts as
often as the network uses it (a C -> C shape twice above the bottleneck: the encoder's second conv
and the decoder's; no backward-data for the 1-channel input layer, whose input needs no gradient).
PyTorch's rows are timed in its own process, not interleaved with ours: compare the totals with
the whole-step side by side (bench/cpu_vs_torch.py), which is interleaved.

  /usr/bin/python3 bench/conv_layers_vs_torch.py --ours ours_base16.json ours_seed.json \
      --torch torch_layers.jsonl
"""
import argparse
import collections
import json
import math
import re
import statistics

NAME = re.compile(r"conv2d/(fwd|bwd_data|bwd_weight)/(cpu|winograd|direct)/"
                  r"N(\d+)_H(\d+)_W\d+_C(\d+)_K(\d+)_R3_S3")
ROW = re.compile(r"\{(\d+), (\d+), (\d+), (\d+), (\d+), \{(\w\w), (\w\w), (\w\w)\}\}")
KIND = {"IM": "cpu", "WG": "winograd", "DI": "direct"}
PASSES = ["fwd", "bwd_data", "bwd_weight"]


def table(path):
    rows = {}
    for m in ROW.finditer(open(path).read()):
        n, h, _, c, k = (int(g) for g in m.groups()[:5])
        rows[(n, h, c, k)] = [KIND[v] for v in m.groups()[5:]]
    return rows


def chosen(rows, n, h, c, k, pi):
    same = [key for key in rows if key[1:] == (h, c, k)]
    if not same:
        return "cpu"
    best = min(same, key=lambda key: abs(math.log(n / key[0])))  # the nearest measured batch
    return rows[best][pi]


def uses(h, c, k, bottom):
    """How often a training step runs this 3x3 shape: a C -> C conv twice (encoder and decoder)
    except at the bottleneck (the smallest H), every other shape once."""
    return 2 if c == k and h != bottom else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--ours", nargs="+", required=True)
    ap.add_argument("--torch", required=True)
    ap.add_argument("--choice", default="kernels/conv2d/conv2d_cpu_choice.cpp")
    args = ap.parse_args()
    rows = table(args.choice)
    ours = collections.defaultdict(list)
    for path in args.ours:
        for b in json.load(open(path))["benchmarks"]:
            if b.get("run_type", "iteration") != "iteration":
                continue
            m = NAME.match(b["name"])
            if m:
                p, kind, n, h, c, k = m.group(1), m.group(2), *(int(g) for g in m.groups()[2:])
                ours[(n, h, c, k, p, kind)].append(b["real_time"])
    theirs = {}
    version = ""
    for line in open(args.torch):
        r = json.loads(line)
        theirs[(r["N"], r["H"], r["C"], r["K"], r["pass"])] = r["ms"]
        version = r["torch"]
    nets = collections.OrderedDict()
    for (n, h, c, k, p) in theirs:
        if (h, c, k) not in nets.setdefault(n, []):
            nets[n].append((h, c, k))
    for n, layers in nets.items():
        print(f"\nbatch {n}: ms per call, ours (variant) / PyTorch {version} / PyTorch time over ours")
        print("| layer (H, C -> K) | uses | forward | backward-data | backward-weight |")
        print("|---|---|---|---|---|")
        tot_ours = tot_theirs = 0.0
        bottom = min(h for h, _, _ in layers)
        for h, c, k in layers:
            first = c == 1
            u = uses(h, c, k, bottom)
            cells = []
            for pi, p in enumerate(PASSES):
                kind = chosen(rows, n, h, c, k, pi)
                t_ours = ours.get((n, h, c, k, p, kind))
                t_theirs = theirs.get((n, h, c, k, p))
                if not t_ours or t_theirs is None:
                    cells.append("-")
                    continue
                mo = statistics.median(t_ours)
                if not (first and p == "bwd_data"):
                    tot_ours += mo * u
                    tot_theirs += t_theirs * u
                cells.append("%.2f (%s) / %.2f / %.2f" % (mo, kind, t_theirs, t_theirs / mo))
            print("| %d, %d -> %d | %d | %s |" % (h, c, k, u, " | ".join(cells)))
        print(f"| all 3x3 convs of a step | | ours {tot_ours:.0f} ms, PyTorch {tot_theirs:.0f} ms, "
              f"PyTorch / ours {tot_theirs / tot_ours:.2f} | | |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Derives the CPU conv variant table (kernels/conv2d/conv2d_cpu_choice.cpp) from conv_cpu_bench runs.

Input: Google Benchmark JSON files of conv_cpu_bench, run with --benchmark_repetitions=R and
--benchmark_enable_random_interleaving=true (scripts/measure_conv_cpu_choice.sh), each holding the
/cpu/ (im2col), /winograd/ and /direct/ rows of one layer set and batch.

For every layer, pass and batch it prints the median time of each variant, each variant's median
speed-up over im2col with its per-round range, and the choice, by this rule: a variant replaces
im2col only if its median is at least 1.10x faster and it was faster in every round (parity and
noise stay on im2col); of the variants that qualify, the one with the lowest median wins.

  bench/conv_cpu_choice.py bench/results/conv_cpu_choice_*.json           (a table, markdown)
  bench/conv_cpu_choice.py --cpp bench/results/conv_cpu_choice_*.json     (C++ rows to paste)
  bench/conv_cpu_choice.py --by-layer ...   (one markdown row per layer: per pass, the speed-up of
                                             Winograd / direct over im2col and the choice)

Later files override earlier ones for the same layer and pass (a rerun with more rounds).
"""
import argparse
import collections
import json
import re
import statistics
import sys

NAME = re.compile(r"conv2d/(fwd|bwd_data|bwd_weight)/(cpu|winograd|direct)/"
                  r"N(\d+)_H(\d+)_W(\d+)_C(\d+)_K(\d+)_R3_S3")
# --convt: the 2x2 stride-2 transposed convs (GEMM path "cpu" against "direct").
NAME_CONVT = re.compile(r"conv_transpose2d/(fwd|bwd_data|bwd_weight)/(cpu|direct)/"
                        r"N(\d+)_H(\d+)_W(\d+)_C(\d+)_K(\d+)_R2_S2")
PASSES = ["fwd", "bwd_data", "bwd_weight"]
KINDS = ["cpu", "winograd", "direct"]
MIN_SPEEDUP = 1.10


def load(paths, name=NAME):
    # times[(n, h, w, c, k)][pass][kind] = [real_time of round 0, 1, ...]
    times = collections.defaultdict(lambda: collections.defaultdict(dict))
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        fresh = set()  # (layer, pass, kind) first seen in this file: a rerun replaces older rounds
        for b in data["benchmarks"]:
            if b.get("run_type") != "iteration":
                continue
            m = name.match(b["name"])
            if not m:
                continue
            p, kind = m.group(1), m.group(2)
            layer = tuple(int(g) for g in m.groups()[2:])
            if (layer, p, kind) not in fresh:
                fresh.add((layer, p, kind))
                times[layer][p][kind] = []
            times[layer][p][kind].append(b["real_time"])
    return times


def choose(rounds):
    """rounds[kind] = list of times; returns (choice, {kind: (median, speedups)})."""
    base = rounds.get("cpu")
    info = {}
    best, best_median = "cpu", statistics.median(base) if base else None
    for kind, ts in rounds.items():
        med = statistics.median(ts)
        ratios = [b / t for b, t in zip(base, ts)] if base else []
        info[kind] = (med, ratios)
        if kind == "cpu" or not ratios:
            continue
        if base and statistics.median(base) / med >= MIN_SPEEDUP and min(ratios) > 1.0:
            if med < best_median:
                best, best_median = kind, med
    return best, info


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("json", nargs="+")
    ap.add_argument("--cpp", action="store_true", help="print C++ table rows")
    ap.add_argument("--by-layer", action="store_true", help="one markdown row per layer")
    ap.add_argument("--convt", action="store_true",
                    help="the transposed convs' rows (GEMM 'cpu' vs 'direct'; C++ letters GM/DI)")
    args = ap.parse_args()
    times = load(args.json, NAME_CONVT if args.convt else NAME)
    if not times:
        sys.exit("conv_cpu_choice.py: no conv2d 3x3 rows in " + " ".join(args.json))
    letter = {"cpu": "GM" if args.convt else "IM", "winograd": "WG", "direct": "DI"}
    if args.by_layer:
        short = {"cpu": "GEMM" if args.convt else "im2col", "winograd": "**Winograd**",
                 "direct": "**direct**"}
        if args.convt:
            print("| N | H x W (input), C -> K | forward: D | backward-data: D | backward-weight: D |")
        else:
            print("| N | H x W, C -> K | forward: W / D | backward-data: W / D | backward-weight: D |")
        print("|---|---|---|---|---|")
        for layer in sorted(times, key=lambda l: (l[0], -l[1], l[3], l[4])):
            n, h, w, c, k = layer
            cells = []
            for p in PASSES:
                rounds = times[layer].get(p, {})
                if "cpu" not in rounds:
                    cells.append("-")
                    continue
                choice, info = choose(rounds)
                ratios = " / ".join("%.2fx" % (info["cpu"][0] / info[kind][0])
                                    for kind in ("winograd", "direct") if kind in info)
                cells.append("%s: %s" % (ratios, short[choice]))
            print("| %d | %dx%d, %d -> %d | %s |" % (n, h, w, c, k, " | ".join(cells)))
        return
    if not args.cpp:
        print("| N | H | C | K | pass | im2col ms | winograd | direct | choice |")
        print("|---|---|---|---|---|---|---|---|---|")
    for layer in sorted(times, key=lambda l: (l[0], -l[1], l[3], l[4])):
        n, h, w, c, k = layer
        choices = []
        for p in PASSES:
            rounds = times[layer].get(p, {})
            if "cpu" not in rounds:
                choices.append("IM")
                continue
            choice, info = choose(rounds)
            choices.append(letter[choice])
            if not args.cpp:
                def cell(kind):
                    if kind not in info:
                        return "-"
                    med, ratios = info[kind]
                    return "%.2fx (%.2f-%.2f)" % (info["cpu"][0] / med, min(ratios), max(ratios))
                print("| %d | %d | %d | %d | %s | %.2f | %s | %s | %s |" %
                      (n, h, c, k, p, info["cpu"][0], cell("winograd"), cell("direct"), choice))
        if args.cpp:
            print("    {%d, %d, %d, %d, %d, {%s}}," % (n, h, w, c, k, ", ".join(choices)))


if __name__ == "__main__":
    main()

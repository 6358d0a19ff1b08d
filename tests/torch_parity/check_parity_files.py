#!/usr/bin/env python3
"""Reads a parity folder written by `bench/torch_reference.py --export-init DIR` back and checks it.

Checks, each independent of the code path that wrote the files:
  1. config.json, init.safetensors, step.safetensors, input.npy, target.npy exist and parse
     (our own safetensors reader; input/target are float32 NCHW with C = 1, targets in {0, 1}).
  2. init holds exactly the model's state_dict names and shapes (load_state_dict(strict=True)).
  3. step holds loss [1], logits [N,1,H,W], and grad.<p> / after_adam.<p> for every parameter p,
     each with p's shape.
  4. Recomputing forward + backward in float32 from the files reproduces loss and gradients
     (tolerance below: float32 vs the float64 oracle).
  5. after_adam equals Adam's first step written out by hand: p - lr * g / (|g| + eps), because
     after one step m_hat = g and v_hat = g^2 exactly (bias correction cancels (1 - beta)).
Prints one line per failed check and exits 1 on any failure, 0 when all pass.

Usage: /usr/bin/python3 tests/torch_parity/check_parity_files.py DIR
"""

import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import torch_reference as ref  # noqa: E402

# Errors are measured tensor-wise: max|a - b| / max|b| (a per-element relative error explodes on
# values near zero, which batch norm and the sums in the gradients produce freely). A float32
# recomputation of float64 results is ~1e-6 off by this measure at these tiny sizes; 1e-4 leaves
# room for batch norm dividing by small standard deviations, while a wrong layout, name or formula
# is O(1) off. With batch norm the conv biases' gradients are exactly zero in exact arithmetic (the
# norm subtracts the mean), so float32 leaves ~1e-9 of noise there: absolute errors under ABS_FLOOR
# pass whatever the reference magnitude.
TOL = 1e-4
ABS_FLOOR = 1e-7


def max_rel_error(a, b):
    """Tensor-wise relative error of a against the reference b."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size == 0:
        return 0.0
    err = float(np.max(np.abs(a - b)))
    return 0.0 if err <= ABS_FLOOR else err / max(float(np.max(np.abs(b))), 1e-30)


def check(folder):
    """Returns a list of failure messages (empty when the folder is consistent)."""
    failures = []
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    init = ref.read_safetensors(os.path.join(folder, cfg["files"]["init"]))
    step = ref.read_safetensors(os.path.join(folder, cfg["files"]["step"]))
    x = np.load(os.path.join(folder, cfg["files"]["input"]))
    t = np.load(os.path.join(folder, cfg["files"]["target"]))
    shape = (cfg["batch"], 1, cfg["size"], cfg["size"])
    for name, a in (("input", x), ("target", t)):
        if a.dtype != np.float32 or a.shape != shape:
            failures.append(f"{name}.npy: {a.dtype} {a.shape}, expected float32 {shape}")
    if not np.all((t == 0) | (t == 1)):
        failures.append("target.npy: values other than 0 and 1")

    torch.manual_seed(0)
    model = ref.UNet(cfg["depth"], cfg["base"], cfg["batchnorm"])
    try:
        ref.load_checkpoint(model, os.path.join(folder, cfg["files"]["init"]))
    except RuntimeError as e:
        return failures + [str(e)]
    params = dict(model.named_parameters())
    expected = {"loss": (1,), "logits": shape}
    for n, p in params.items():
        expected[f"grad.{n}"] = tuple(p.shape)
        expected[f"after_adam.{n}"] = tuple(p.shape)
    for name, shp in expected.items():
        if name not in step:
            failures.append(f"step: missing tensor '{name}'")
        elif step[name].shape != shp or step[name].dtype != np.float32:
            failures.append(f"step: '{name}' is {step[name].dtype} {step[name].shape}, "
                            f"expected float32 {shp}")
    extra = [n for n in step if n not in expected and not n.startswith("after_step.")]
    if extra:
        failures.append(f"step: unexpected tensors {extra[:5]}")
    if failures:
        return failures

    # 4. Independent float32 recomputation from the files.
    logits = model(torch.from_numpy(x))
    loss = ref.make_loss(cfg["loss"])(logits, torch.from_numpy(t))
    loss.backward()
    recomputed = {"loss": np.array([loss.item()]), "logits": logits.detach().numpy()}
    recomputed.update({f"grad.{n}": p.grad.numpy() for n, p in params.items()})
    for name, value in recomputed.items():
        err = max_rel_error(value, step[name])
        if err > TOL:
            failures.append(f"{name}: float32 recomputation differs, max rel error {err:.3g}")

    # 5. Adam's first step by hand.
    opt = cfg["optimizer"]
    for n in params:
        g = step[f"grad.{n}"].astype(np.float64)
        want = init[n].astype(np.float64) - opt["lr"] * g / (np.abs(g) + opt["eps"])
        err = max_rel_error(want, step[f"after_adam.{n}"])
        if err > TOL:
            failures.append(f"after_adam.{n}: differs from p - lr*g/(|g|+eps), rel error {err:.3g}")
    return failures


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} PARITY_DIR", file=sys.stderr)
        return 2
    failures = check(argv[1])
    for line in failures:
        print(f"FAIL {line}")
    if not failures:
        print(f"OK {argv[1]}: all tensors present, float32 recomputation and hand-written Adam "
              "agree")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

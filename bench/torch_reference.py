#!/usr/bin/env python3
"""PyTorch reference for the seed U-Net: side-by-side benchmarks and cross-framework parity files.

The network, loss and optimiser are the ones in docs/DESIGN section 1, with parameter names equal to
our checkpoint names (enc{l}.conv{1,2}, up{l}, dec{l}.conv{1,2}, head; PyTorch layouts OIHW and, for
ConvTranspose2d, IOHW), so a checkpoint written by our engine loads here with
load_state_dict(strict=True) and the other way round.

Three modes:
  benchmark (default)  times full training steps (forward, loss, backward, Adam step) and prints ONE
                       JSON line on stdout. Everything else goes to stderr.
  --inference          times eval-mode forward passes under torch.no_grad() (as unet_predict runs
                       ours) and prints ONE JSON line, with seconds per 50-slice volume.
  --export-init DIR    writes init weights, an input batch, its target, and the loss, gradients and
                       post-Adam parameters of one step (see tests/torch_parity/README.md).

Runs with Debian's python3-torch 1.13 (CPU) and PyTorch 2.x with CUDA. Dependencies: torch, numpy.
Seed U-Net arithmetic: 7,759,521 parameters; about 24 GFLOP forward per 256x256 image and about 3x
that per training step (backward computes both data and weight gradients).
"""

import argparse
import json
import math
import os
import statistics
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SEED_PARAMS = 7_759_521  # Keras model.summary() of the original notebook

# --------------------------------------------------------------------------------------------------
# safetensors, written and read by hand (the safetensors package is not installed here).
# Layout: u64 little-endian header length N, N bytes of JSON header, then raw little-endian data.
# data_offsets are relative to the start of the data section.

_DTYPE_TO_TAG = {
    np.dtype("float32"): "F32",
    np.dtype("float64"): "F64",
    np.dtype("float16"): "F16",
    np.dtype("int64"): "I64",
    np.dtype("int32"): "I32",
    np.dtype("uint8"): "U8",
}
_TAG_TO_DTYPE = {tag: dt.newbyteorder("<") for dt, tag in _DTYPE_TO_TAG.items()}


def write_safetensors(path, named_arrays):
    """Writes [(name, ndarray), ...] in the given order; atomic (temp file, fsync, rename)."""
    header = {}
    blobs = []
    offset = 0
    for name, array in named_arrays:
        array = np.asarray(array)
        if array.dtype not in _DTYPE_TO_TAG:
            raise ValueError(f"write_safetensors: tensor '{name}' has unsupported dtype "
                             f"{array.dtype}; convert it to float32/float64/int64 first")
        data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
        header[name] = {
            "dtype": _DTYPE_TO_TAG[array.dtype],
            "shape": [int(d) for d in array.shape],
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    # Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
    header_bytes += b" " * (-len(header_bytes) % 8)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(len(header_bytes).to_bytes(8, "little"))
            f.write(header_bytes)
            for blob in blobs:
                f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_safetensors(path):
    """Returns {name: ndarray} in file order; rejects malformed files with a message naming path."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"read_safetensors: '{path}' is {len(blob)} bytes, too short for the "
                         "8-byte header length; is it a safetensors file?")
    header_len = int.from_bytes(blob[:8], "little")
    if header_len > len(blob) - 8:
        raise ValueError(f"read_safetensors: '{path}' declares a {header_len}-byte header but "
                         f"holds {len(blob) - 8} bytes after the length; the file is truncated or "
                         "corrupt")
    try:
        header = json.loads(blob[8:8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"read_safetensors: '{path}' header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise ValueError(f"read_safetensors: '{path}' header is not a JSON object")
    data = memoryview(blob)[8 + header_len:]
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        where = f"read_safetensors: '{path}' tensor '{name}'"
        try:
            tag, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{where}: entry needs dtype, shape and data_offsets [begin, end]")
        if tag not in _TAG_TO_DTYPE:
            raise ValueError(f"{where}: dtype {tag} is not supported (supported: "
                             f"{', '.join(sorted(_TAG_TO_DTYPE))})")
        dtype = _TAG_TO_DTYPE[tag]
        count = math.prod(shape)
        if not (0 <= begin <= end <= len(data)) or end - begin != count * dtype.itemsize:
            raise ValueError(f"{where}: data_offsets [{begin}, {end}] do not match shape {shape} "
                             f"of {tag} inside {len(data)} data bytes")
        out[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(shape).copy()
    return out


# --------------------------------------------------------------------------------------------------
# The network.


class Block(nn.Module):
    """Two 3x3 convs (padding 1), each followed by optional batch norm and ReLU."""

    def __init__(self, cin, cout, batchnorm):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        if batchnorm:
            self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        if batchnorm:
            self.bn2 = nn.BatchNorm2d(cout)
        self.batchnorm = batchnorm

    def forward(self, x):
        x = self.conv1(x)
        if self.batchnorm:
            x = self.bn1(x)
        x = F.relu(x)
        x = self.conv2(x)
        if self.batchnorm:
            x = self.bn2(x)
        return F.relu(x)


class UNet(nn.Module):
    """depth levels of widths base*2^l; enc{depth-1} is the bottleneck; up{l}/dec{l} join skip l."""

    def __init__(self, depth=5, base=32, batchnorm=False, in_channels=1, out_channels=1):
        super().__init__()
        if depth < 1 or base < 1:
            raise ValueError(f"UNet: depth {depth} and base {base} must both be >= 1")
        self.depth = depth
        widths = [base * 2**level for level in range(depth)]
        cin = in_channels
        for level, width in enumerate(widths):
            setattr(self, f"enc{level}", Block(cin, width, batchnorm))
            cin = width
        for level in reversed(range(depth - 1)):
            # Transposed conv halves the channels; the concat doubles them back (up output first).
            setattr(self, f"up{level}", nn.ConvTranspose2d(widths[level + 1], widths[level], 2, 2))
            setattr(self, f"dec{level}", Block(2 * widths[level], widths[level], batchnorm))
        self.head = nn.Conv2d(widths[0], out_channels, 1)
        self.reset_parameters()

    def reset_parameters(self):
        # Keras defaults: glorot-uniform kernels, zero biases. Glorot depends on fan_in + fan_out
        # only, so PyTorch's IOHW-vs-OIHW fan convention for ConvTranspose2d does not change it.
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x):
        skips = []
        for level in range(self.depth - 1):
            x = getattr(self, f"enc{level}")(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = getattr(self, f"enc{self.depth - 1}")(x)
        for level in reversed(range(self.depth - 1)):
            x = getattr(self, f"up{level}")(x)
            x = torch.cat([x, skips[level]], dim=1)
            x = getattr(self, f"dec{level}")(x)
        return self.head(x)  # logits; the sigmoid lives inside the loss


def forward_gflop(depth, base, size, in_channels=1, out_channels=1):
    """2 x multiply-adds of convs, transposed convs and head for one image (pool, ReLU ignored)."""
    flop = 0
    cin, hw = in_channels, size * size
    widths = [base * 2**level for level in range(depth)]
    for level, width in enumerate(widths):
        flop += 2 * hw * 9 * (cin * width + width * width)
        cin = width
        if level < depth - 1:
            hw //= 4
    for level in reversed(range(depth - 1)):
        hw *= 4
        flop += 2 * hw * widths[level + 1] * widths[level]  # 2x2 stride 2: 1 tap per output pixel
        flop += 2 * hw * 9 * (2 * widths[level] * widths[level] + widths[level] * widths[level])
    flop += 2 * hw * widths[0] * out_channels
    return flop / 1e9


def state_dict_arrays(model):
    """[(name, ndarray)] of the state dict in module order, float32 parameters, int64 counters."""
    return [(n, v.detach().cpu().contiguous().numpy()) for n, v in model.state_dict().items()]


def count_params(model):
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------------------------------
# Loss and one training step.


def dice_loss(logits, target, smooth=1.0):
    """Seed loss: batch-global soft Dice on sigmoid(logits), negated (minimum -1)."""
    p = torch.sigmoid(logits)
    return -(2.0 * (p * target).sum() + smooth) / (p.sum() + target.sum() + smooth)


def make_loss(name):
    if name == "dice":
        return dice_loss
    if name == "dice_bce":
        # Equal weights; BCE is the mean over all pixels (binary_cross_entropy_with_logits default).
        return lambda logits, t: (dice_loss(logits, t) +
                                  F.binary_cross_entropy_with_logits(logits, t))
    raise ValueError(f"unknown loss '{name}': use dice or dice_bce")


def random_batch(batch, size, device, dtype, seed):
    """Normal(0,1) images (the seed normalises by mean/std) and i.i.d. 0/1 targets, NCHW, C=1."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 1, size, size, generator=gen)
    t = (torch.rand(batch, 1, size, size, generator=gen) < 0.5).float()
    return x.to(device=device, dtype=dtype), t.to(device=device, dtype=dtype)


def build_model(args, device, dtype=torch.float32):
    torch.manual_seed(args.seed)
    model = UNet(args.depth, args.base, args.batchnorm)
    if args.depth == 5 and args.base == 32 and not args.batchnorm:
        assert count_params(model) == SEED_PARAMS, (
            f"seed U-Net has {count_params(model)} parameters, expected {SEED_PARAMS}")
    if args.load:
        load_checkpoint(model, args.load)
    return model.to(device=device, dtype=dtype)


def load_checkpoint(model, path):
    arrays = read_safetensors(path)
    state = {name: torch.from_numpy(a) for name, a in arrays.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise RuntimeError(f"--load '{path}' does not match the model (depth/base/--batchnorm?): "
                           f"{' '.join(line.strip() for line in first)[:600]}") from None


# --------------------------------------------------------------------------------------------------
# Benchmark mode.


def set_precision(device, precision):
    """fp32: tensor cores off for matmul and cuDNN conv; tf32: both on. Returns what took effect."""
    allow = precision == "tf32"
    with warnings.catch_warnings():
        # PyTorch >= 2.9 warns that allow_tf32 will give way to fp32_precision; it still works.
        warnings.simplefilter("ignore")
        torch.backends.cuda.matmul.allow_tf32 = allow
        torch.backends.cudnn.allow_tf32 = allow
        return {"matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
                "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32)}


def run_benchmark(args):
    if args.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: torch.cuda.is_available() is False (torch "
                           f"{torch.__version__}); use --device cpu or a CUDA build of PyTorch")
    device = torch.device(args.device)
    effective = set_precision(device, args.precision)
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True  # pick the fastest conv algorithms, as users do
    model = build_model(args, device)
    params = count_params(model)
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    x, t = random_batch(args.batch, args.size, device, torch.float32, args.seed + 1)
    x = x.contiguous(memory_format=memory_format)
    t = t.contiguous(memory_format=memory_format)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = make_loss(args.loss)
    step_model = model
    if args.compile:
        if not hasattr(torch, "compile"):
            raise RuntimeError(f"--compile needs PyTorch >= 2.0, this is {torch.__version__}")
        step_model = torch.compile(model)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(step_model(x), t)
        loss.backward()
        optimizer.step()
        return loss

    if args.device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    for _ in range(args.warmup):
        step()
    if args.device == "cuda":
        torch.cuda.synchronize()
    times_ms = []
    for _ in range(args.steps):
        if args.device == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            loss = step()
            end.record()
            end.synchronize()  # one step at a time, as a loop that logs the loss would run
            times_ms.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            loss = step()
            times_ms.append((time.perf_counter() - t0) * 1e3)
    final_loss = float(loss.detach().float().cpu())
    median = statistics.median(times_ms)
    gflop_step = 3.0 * forward_gflop(args.depth, args.base, args.size) * args.batch
    result = {
        "framework": "pytorch",
        "torch": torch.__version__,
        "device": device_name(args.device),
        "batch": args.batch,
        "size": args.size,
        "base": args.base,
        "depth": args.depth,
        "batchnorm": args.batchnorm,
        "loss": args.loss,
        "precision": args.precision,
        "channels_last": args.channels_last,
        "compile": args.compile,
        "threads": torch.get_num_threads() if args.device == "cpu" else None,
        "warmup": args.warmup,
        "steps": args.steps,
        "step_ms_median": round(median, 4),
        "step_ms_min": round(min(times_ms), 4),
        "step_ms_max": round(max(times_ms), 4),
        "images_per_s": round(args.batch / (median / 1e3), 3),
        "tflop_per_s": round(gflop_step / median, 4),  # GFLOP / ms = TFLOP/s, 3x forward estimate
        "peak_mem_gib": (round(torch.cuda.max_memory_allocated() / 2**30, 4)
                         if args.device == "cuda" else None),
        "params": params,
        "final_loss": final_loss,
        "tf32": effective,
    }
    print(json.dumps(result), flush=True)


def run_inference(args):
    """Eval-mode forward passes under torch.no_grad(), as unet_predict runs ours: ONE JSON line."""
    device = torch.device(args.device)
    model = build_model(args, device, torch.float32)  # --load: the weights of a checkpoint
    model.eval()
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    x, _ = random_batch(args.batch, args.size, device, torch.float32, args.seed + 1)
    x = x.contiguous(memory_format=memory_format)
    times_ms = []
    with torch.no_grad():
        for i in range(args.warmup + args.steps):
            t0 = time.perf_counter()
            model(x)
            if args.device == "cuda":
                torch.cuda.synchronize()
            if i >= args.warmup:
                times_ms.append((time.perf_counter() - t0) * 1e3)
    median = statistics.median(times_ms)
    print(json.dumps({
        "framework": "pytorch", "mode": "inference", "torch": torch.__version__,
        "device": device_name(args.device), "batch": args.batch, "size": args.size,
        "base": args.base, "depth": args.depth, "batchnorm": args.batchnorm,
        "channels_last": args.channels_last,
        "threads": torch.get_num_threads() if args.device == "cpu" else None,
        "warmup": args.warmup, "passes": args.steps,
        "forward_ms_median": round(median, 4), "forward_ms_min": round(min(times_ms), 4),
        "forward_ms_max": round(max(times_ms), 4),
        "images_per_s": round(args.batch / (median / 1e3), 3),
        "s_per_50_slices": round(median / 1e3 * 50 / args.batch, 4),
    }), flush=True)


def device_name(device):
    if device == "cuda":
        return torch.cuda.get_device_name(torch.cuda.current_device())
    return f"cpu ({os.cpu_count()} logical cores)"


# --------------------------------------------------------------------------------------------------
# Parity mode.


def to_numpy_f32(tensor):
    return tensor.detach().to("cpu", torch.float32).contiguous().numpy()


def run_export(args):
    """One forward+backward and one Adam step on CPU; results rounded to float32 at the end."""
    out_dir = args.export_init
    os.makedirs(out_dir, exist_ok=True)
    compute = torch.float64 if args.parity_dtype == "fp64" else torch.float32
    model = build_model(args, torch.device("cpu"), torch.float32)
    # The float32 init is the shared truth: write it before any cast so both engines start equal.
    init = state_dict_arrays(model)
    model = model.to(compute)
    x, t = random_batch(args.batch, args.size, "cpu", torch.float32, args.seed + 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=args.eps)
    optimizer.zero_grad(set_to_none=True)
    logits = model(x.to(compute))
    loss = make_loss(args.loss)(logits, t.to(compute))
    loss.backward()
    named = list(model.named_parameters())
    grads = [(f"grad.{n}", to_numpy_f32(p.grad)) for n, p in named]
    optimizer.step()
    after = [(f"after_adam.{n}", to_numpy_f32(p)) for n, p in named]
    # Batch norm updated its running statistics during the training-mode forward.
    buffers = [(f"after_step.{n}", to_numpy_f32(b)) for n, b in model.named_buffers()
               if b.is_floating_point()]

    write_safetensors(os.path.join(out_dir, "init.safetensors"), init)
    np.save(os.path.join(out_dir, "input.npy"), x.numpy())
    np.save(os.path.join(out_dir, "target.npy"), t.numpy())
    step = [("loss", np.array([loss.item()], dtype=np.float32)), ("logits", to_numpy_f32(logits))]
    write_safetensors(os.path.join(out_dir, "step.safetensors"), step + grads + after + buffers)
    config = {
        "depth": args.depth, "base": args.base, "size": args.size, "batch": args.batch,
        "batchnorm": args.batchnorm, "bn_eps": 1e-5, "bn_momentum": 0.1,
        "in_channels": 1, "out_channels": 1, "loss": args.loss, "dice_smooth": 1.0,
        "optimizer": {"name": "adam", "lr": args.lr, "beta1": 0.9, "beta2": 0.999,
                      "eps": args.eps, "weight_decay": 0.0},
        "seed": args.seed, "compute_dtype": args.parity_dtype, "loaded_from": args.load,
        "torch": torch.__version__, "params": count_params(model), "loss_value": loss.item(),
        "files": {"init": "init.safetensors", "input": "input.npy", "target": "target.npy",
                  "step": "step.safetensors"},
    }
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    print(json.dumps({"export": out_dir, "loss": loss.item(), "params": count_params(model),
                      "tensors_step": len(step) + len(grads) + len(after) + len(buffers)}))


# --------------------------------------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--size", type=int, default=256, help="input height = width")
    p.add_argument("--base", type=int, default=32, help="filters of level 0")
    p.add_argument("--depth", type=int, default=5, help="levels including the bottleneck")
    p.add_argument("--batchnorm", action="store_true", help="conv -> BN -> ReLU in every block")
    p.add_argument("--loss", choices=["dice", "dice_bce"], default="dice")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--precision", choices=["fp32", "tf32"], default="fp32")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (torch >= 2)")
    p.add_argument("--threads", type=int, default=None, help="CPU intra-op threads")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--load", metavar="FILE", help="safetensors weights to start from (strict)")
    p.add_argument("--export-init", metavar="DIR", help="parity mode: write files to DIR")
    p.add_argument("--inference", action="store_true",
                   help="time eval-mode forward passes under no_grad (--steps passes)")
    p.add_argument("--parity-dtype", choices=["fp32", "fp64"], default="fp64",
                   help="parity mode: compute the step in this precision (fp64 = tighter oracle)")
    p.add_argument("--eps", type=float, default=1e-8, help="Adam epsilon (PyTorch default)")
    args = p.parse_args(argv)
    for name in ("batch", "size", "base", "depth", "steps"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.warmup < 0:
        p.error(f"--warmup must be >= 0, got {args.warmup}")
    if args.threads is not None and args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    if args.size % 2**(args.depth - 1):
        p.error(f"--size {args.size} must be divisible by 2^(depth-1) = {2**(args.depth - 1)} "
                f"so that every max-pool halves exactly; pick another --size or --depth")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        if args.export_init:
            run_export(args)
        elif args.inference:
            run_inference(args)
        else:
            run_benchmark(args)
    except (ValueError, RuntimeError, OSError) as e:
        print(f"torch_reference.py: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Trains Custos's plate OCR model (CNN + CTC) and exports it to ONNX.

Data: synthetic crops from `plategen` (Rust, reusing the test cameras' plate renderer, degraded
like real cameras degrade plates) plus the real crops in ../shared/data/train-real (90 % for
training, 10 % held out). Evaluated on the held-out real crops and on the OpenALPR benchmark's US
crops (alpr-bench/ocr-crops). `--bench-train-tenths` and `--bench-scene-tenths` train on part of
the benchmark's crops and scene boxes; the rest stay held out (lists in target/) and are the only
ones to report.

    python3 models/train.py --minutes 40          # CPU, ~40 min on 2 cores
    python3 models/train.py --minutes 10 --device cuda
    python3 models/train.py --minutes 30 --resume target/ocr-train.pt   # train on
    python3 models/train.py --minutes 30 --resume models/ocr.onnx       # train on the committed model

Writes models/ocr.onnx and models/ocr-metrics.json. A developer step, never part of CI.
"""
import argparse
import csv
import hashlib
import io
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper
from PIL import Image, ImageFilter

CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
BLANK = 0  # CTC blank is class 0; CHARSET[i] is class i + 1
HEIGHT, WIDTH = 48, 160
ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


class PlateOcr(nn.Module):
    """Fully convolutional CRNN: 40 time steps across the plate, 37 classes each.

    Takes raw grey values (0–255) so that callers need no normalisation step."""

    def __init__(self):
        super().__init__()

        def block(cin, cout, pool):
            layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            if pool:
                layers.append(nn.MaxPool2d(pool))
            return layers

        # Small enough to train on two CPU cores in under an hour (~40 M multiply-adds a crop).
        self.features = nn.Sequential(
            *block(1, 16, (2, 2)),      # 24 × 80
            *block(16, 32, (2, 2)),     # 12 × 40
            *block(32, 64, (2, 1)),     # 6 × 40
            *block(64, 96, (2, 1)),     # 3 × 40
            nn.Conv2d(96, 128, (3, 1), bias=False),  # 1 × 40
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
        )
        # Whole-plate context (third run): dilated 1-D convolutions let each step see the plate's
        # layout, which is what tells a Brazilian bare-bar 1 from an I and an O from a 0. Residual,
        # with its last layer starting at zero, so resumed weights keep their behaviour.
        self.context = nn.Sequential(
            nn.Conv1d(128, 128, 3, padding=2, dilation=2),
            nn.ReLU(inplace=True),
            nn.Conv1d(128, 128, 3, padding=4, dilation=4),
            nn.ReLU(inplace=True),
            nn.Conv1d(128, 128, 3, padding=8, dilation=8),
        )
        nn.init.zeros_(self.context[-1].weight)
        nn.init.zeros_(self.context[-1].bias)
        self.head = nn.Sequential(
            nn.Conv1d(128, 128, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Dropout(0.1),
            nn.Conv1d(128, len(CHARSET) + 1, 1),
        )

    def forward(self, x):  # x: N × 1 × 48 × 160, 0..255
        x = x / 127.5 - 1.0
        f = self.features(x).squeeze(2)  # N × 128 × 40
        f = f + self.context(f)
        return self.head(f).permute(0, 2, 1)  # N × 40 × 37 logits


class Exported(nn.Module):
    """What ships: per-step class probabilities, N × 40 × 37."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, images):
        return F.softmax(self.model(images), dim=-1)


def state_from_onnx(path, samples):
    """Training weights rebuilt from an exported model, which is all a fresh clone has (checkpoints
    are not committed). The export folded each batch norm into the convolution before it, so the
    folded weights go into the convolutions, and each batch norm is set to pass its input through
    plus the folded bias: its running statistics are those of its input over `samples` (crops,
    text), and its scale and shift undo them. Eval output is the exported model's; in training
    the batch statistics are close to these, so the first steps do not undo what was learnt."""
    graph = onnx.load(path).graph
    values = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in graph.initializer}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    model = PlateOcr().eval()
    modules = [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d))]
    if len(convs) != len(modules):
        raise SystemExit(f"{path}: {len(convs)} convolutions, the network has {len(modules)}")
    folded_bias = {}
    with torch.no_grad():
        for node, module in zip(convs, modules):
            weight, bias = (values[name] for name in node.input[1:3])
            if weight.shape != module.weight.shape:
                raise SystemExit(f"{path}: {node.input[1]} is {list(weight.shape)}, not {list(module.weight.shape)}")
            module.weight.copy_(weight)
            if module.bias is None:
                folded_bias[module] = bias
            else:
                module.bias.copy_(bias)
        h = torch.from_numpy(np.stack([img for img, _ in samples])).float().unsqueeze(1) / 127.5 - 1.0
        layers = list(model.features)
        for layer, after in zip(layers, layers[1:] + [None]):
            if isinstance(after, nn.BatchNorm2d):
                h = layer(h)
                mean, var = h.mean((0, 2, 3)), h.var((0, 2, 3), unbiased=False)
                after.running_mean.copy_(mean)
                after.running_var.copy_(var)
                after.weight.copy_(torch.sqrt(var + after.eps))
                after.bias.copy_(folded_bias[layer] + mean)
            else:
                h = layer(h)
    return model.state_dict()


def clean(text):
    return "".join(c for c in text.upper() if c in CHARSET)


def load_crop(path):
    return load_image(Image.open(path).convert("L"))


def load_image(im):
    # As the runtime resizes (ocr/src/preprocess.rs): area averaging when shrinking, else bilinear.
    shrink = im.width >= WIDTH and im.height >= HEIGHT
    return np.asarray(im.resize((WIDTH, HEIGHT), Image.BOX if shrink else Image.BILINEAR), dtype=np.uint8)


def held_out(name, tenths):
    """A fixed split by file name: the same crops are held out on every run."""
    return hashlib.sha256(name.encode()).digest()[0] % 10 < tenths


def load_real():
    rows = list(csv.DictReader(open(DATA / "train-real" / "labels.tsv"), delimiter="\t"))
    train, held = [], []
    for r in rows:
        text = clean(r["plate"])
        if not 1 <= len(text) <= 10:
            continue
        img = load_crop(DATA / "train-real" / r["image"])
        (held if held_out(r["image"], 1) else train).append((img, text))
    return train, held


def load_bench(train_tenths):
    """OpenALPR US crops: `train_tenths` of them may be trained on; the rest are held out and
    written to target/ocr-bench-held.tsv so `custos eval ocr` can score exactly those."""
    d = DATA / "alpr-bench" / "ocr-crops"
    header, rows = read_tsv(d / "labels.tsv")
    train, held, held_lines = [], [], [header]
    for row in rows:
        sample = (load_crop(d / row[0]), clean(row[-1]))
        if held_out(row[0], 10 - train_tenths):
            held.append(sample)
            held_lines.append("\t".join(row) + "\n")
        else:
            train.append(sample)
    write_target("ocr-bench-held.tsv", held_lines)
    return train, held


def load_scene_boxes(train_tenths):
    """OpenALPR scene boxes (alpr-bench/MANIFEST.tsv), cut as `custos eval ocr --manifest` cuts
    them: `train_tenths` of the images may be trained on; the rest are written to
    target/manifest-held.tsv (image paths relative to alpr-bench/) for `custos eval ocr`."""
    d = DATA / "alpr-bench"
    header, rows = read_tsv(d / "MANIFEST.tsv")
    train, held_lines = [], [header]
    for row in rows:
        if held_out(row[0], 10 - train_tenths):
            held_lines.append("\t".join(row) + "\n")
            continue
        image = Image.open(d / row[0]).convert("L")
        x, y, w, h = (max(0, int(v)) for v in row[2:6])
        # The margin the evaluation adds (src/cmd/eval_ocr.rs).
        mx, my = w // 20 + 1, h // 8 + 1
        box = (max(0, x - mx), max(0, y - my), min(image.width, x + w + mx), min(image.height, y + h + my))
        train.append((load_image(image.crop(box)), clean(row[-1])))
    if train:  # with none trained on, the held-out set is MANIFEST.tsv itself
        write_target("manifest-held.tsv", held_lines)
    return train


def read_tsv(path):
    """The header line (kept for the held-out lists) and the tab-separated rows of a label file."""
    with open(path) as f:
        header = f.readline()
        return header, [line.rstrip("\n").split("\t") for line in f if line.strip()]


def write_target(name, lines):
    out = ROOT / "target" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(lines))


def synth(count, seed):
    # The generator's version is part of the cache key, so a changed generator is rerun.
    out = ROOT / "target" / "plategen" / f"v7-{count}-{seed}"
    if not (out / "regions.txt").exists():
        subprocess.run(
            ["cargo", "run", "--release", "-q", "-p", "custos-plategen", "--bin", "plategen", "--", "--out", str(out),
             "--count", str(count), "--seed", str(seed), "--height", str(HEIGHT), "--width", str(WIDTH)],
            cwd=ROOT, check=True)
    crops = np.load(out / "crops.npy")
    labels = (out / "labels.txt").read_text().split("\n")[: len(crops)]
    regions = np.array((out / "regions.txt").read_text().split("\n")[: len(crops)])
    return crops, labels, regions


def augment_real(img, rng):
    """Light jitter for the few real crops: shift, scale, brightness, contrast."""
    h, w = img.shape
    im = Image.fromarray(img)
    sx, sy = rng.uniform(0.9, 1.1), rng.uniform(0.9, 1.1)
    dx, dy = rng.uniform(-0.05, 0.05) * w, rng.uniform(-0.08, 0.08) * h
    angle = rng.uniform(-0.06, 0.06)
    c, s = math.cos(angle), math.sin(angle)
    a, b, cc = c / sx, -s / sx, 0
    d, e, ff = s / sy, c / sy, 0
    cx, cy = w / 2, h / 2
    cc = cx - a * cx - b * cy + dx
    ff = cy - d * cx - e * cy + dy
    im = im.transform((w, h), Image.AFFINE, (a, b, cc, d, e, ff), resample=Image.BILINEAR, fillcolor=int(img.mean()))
    arr = np.asarray(im, dtype=np.float32)
    arr = (arr - 128) * rng.uniform(0.7, 1.3) + 128 + rng.uniform(-30, 30)
    return np.clip(arr, 0, 255).astype(np.uint8)


def degrade_real(img, rng):
    """A real crop as a distant or poor camera delivers it: the plate 45–120 px wide, then
    interlacing, blur, noise and JPEG, as plategen degrades its plates; back at model size.
    (The crop is already squeezed to the model's 160 × 48; a US plate is about twice as wide as
    tall, so the camera saw about half as many lines as columns.)"""
    h, w = img.shape
    lw = int(rng.uniform(45, 120))
    lh = max(8, round(lw * rng.uniform(0.4, 0.55)))
    small = np.asarray(Image.fromarray(img).resize((lw, lh), Image.BOX), dtype=np.float32).copy()
    if rng.random() < 0.3:
        # The second field shifted sideways, as on a moving vehicle.
        xs = np.arange(lw) - rng.uniform(0.005, 0.035) * lw * rng.choice([-1, 1])
        x0 = np.clip(np.floor(xs).astype(int), 0, lw - 1)
        x1 = np.clip(x0 + 1, 0, lw - 1)
        f = xs - np.floor(xs)
        odd = small[1::2]
        small[1::2] = odd[:, x0] * (1 - f) + odd[:, x1] * f
    small += rng.normal(0, rng.uniform(0, 8), small.shape)
    im = Image.fromarray(np.clip(small, 0, 255).astype(np.uint8))
    if rng.random() < 0.4:
        im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.0)))
    if rng.random() < 0.6:
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=int(rng.integers(20, 86)))
        im = Image.open(io.BytesIO(buf.getvalue()))
    return np.asarray(im.resize((w, h), Image.BILINEAR), dtype=np.uint8)


def greedy(probs):
    """Best path decoding: argmax per step, collapse repeats, drop blanks."""
    best = probs.argmax(-1)
    out = []
    for row in best:
        text, prev = [], BLANK
        for k in row.tolist():
            if k != prev and k != BLANK:
                text.append(CHARSET[k - 1])
            prev = k
        out.append("".join(text))
    return out


def evaluate(model, samples, device, us_o_is_zero):
    model.eval()
    hits = 0
    with torch.no_grad():
        for i in range(0, len(samples), 256):
            batch = samples[i:i + 256]
            x = torch.from_numpy(np.stack([s[0] for s in batch])).float().unsqueeze(1).to(device)
            texts = greedy(model(x).cpu())
            for t, (_, truth) in zip(texts, batch):
                if us_o_is_zero:
                    t, truth = t.replace("O", "0"), truth.replace("O", "0")
                hits += t == truth
    model.train()
    return hits / max(1, len(samples))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=40)
    ap.add_argument("--synthetic", type=int, default=120_000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--real-share", type=float, default=0.25, help="share of each batch drawn from real crops")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--real-degrade", type=float, default=0.0,
                    help="share of real crops shrunk to a distant camera's plate size and degraded")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(ROOT / "models" / "ocr.onnx"))
    ap.add_argument("--checkpoint", default=str(ROOT / "target" / "ocr-train.pt"),
                    help="weights are saved here at the end (not committed)")
    ap.add_argument("--resume", help="start from the weights of an earlier run's --checkpoint, or of an "
                                     "exported model (.onnx, e.g. the committed one)")
    ap.add_argument("--lr", type=float, default=2e-3,
                    help="peak learning rate (lower it when resuming, or the warm-up undoes what was learnt)")
    ap.add_argument("--br-share", type=float,
                    help="share of the synthetic crops of each batch that are Brazilian (default: as generated, ~24 %%)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--bench-train-tenths", type=int, default=0, choices=range(0, 10),
                    help="tenths of alpr-bench/ocr-crops to train on (the rest is held out and scored)")
    ap.add_argument("--bench-scene-tenths", type=int, default=0, choices=range(0, 10),
                    help="tenths of the alpr-bench/MANIFEST.tsv images whose boxes are trained on "
                         "(the rest are listed in target/manifest-held.tsv)")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    started = time.time()
    crops, labels, regions = synth(args.synthetic, args.seed)
    is_br = regions == "br"
    br_idx, other_idx = np.flatnonzero(is_br), np.flatnonzero(~is_br)
    real_train, real_held = load_real()
    bench_train, bench = load_bench(args.bench_train_tenths)
    scene_train = load_scene_boxes(args.bench_scene_tenths)
    real_train += bench_train + scene_train
    print(f"data: {len(crops)} synthetic, {len(real_train)} real train ({len(bench_train)} benchmark crops, "
          f"{len(scene_train)} benchmark scene boxes), {len(real_held)} real held out, {len(bench)} benchmark crops held out "
          f"({time.time() - started:.0f} s)", flush=True)

    device = torch.device(args.device)
    model = PlateOcr().to(device)
    if args.resume:
        # Not strict: a checkpoint from before the context layers lacks them (they start at zero).
        state = (state_from_onnx(args.resume, real_train) if args.resume.endswith(".onnx")
                 else torch.load(args.resume, map_location=device))
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or any(not k.startswith("context.") for k in missing):
            raise SystemExit(f"{args.resume}: does not fit: missing {missing}, unexpected {unexpected}")
        print(f"resumed from {args.resume}" + (f" (new: {', '.join(missing)})" if missing else ""), flush=True)
    print(f"parameters: {sum(p.numel() for p in model.parameters()):,}", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    ctc = nn.CTCLoss(blank=BLANK, zero_infinity=True)
    budget = args.minutes * 60
    n_real = int(args.batch * args.real_share)
    step, t0 = 0, time.time()
    while True:
        elapsed = time.time() - t0
        if elapsed > budget:
            break
        # Cosine learning rate over the time budget, with a short warm-up.
        frac = elapsed / budget
        lr = args.lr * min(1.0, step / 300) * 0.5 * (1 + math.cos(math.pi * frac))
        for g in opt.param_groups:
            g["lr"] = max(lr, args.lr / 100)
        n_synth = args.batch - n_real
        if args.br_share is None:
            idx = rng.integers(0, len(crops), n_synth)
        else:
            n_br = rng.binomial(n_synth, args.br_share)
            idx = np.concatenate([rng.choice(br_idx, n_br), rng.choice(other_idx, n_synth - n_br)])
        imgs = [crops[i] for i in idx]
        texts = [labels[i] for i in idx]
        for j in rng.integers(0, len(real_train), n_real):
            img, text = real_train[j]
            if rng.random() < args.real_degrade:
                img = degrade_real(img, rng)
            imgs.append(augment_real(img, rng))
            texts.append(text)
        x = torch.from_numpy(np.stack(imgs)).float().unsqueeze(1).to(device)
        targets = torch.tensor([CHARSET.index(c) + 1 for t in texts for c in t], dtype=torch.long)
        target_lengths = torch.tensor([len(t) for t in texts], dtype=torch.long)
        logits = model(x)  # N × T × C
        log_probs = logits.log_softmax(-1).permute(1, 0, 2)  # T × N × C
        input_lengths = torch.full((len(texts),), log_probs.shape[0], dtype=torch.long)
        loss = ctc(log_probs.cpu(), targets, input_lengths, target_lengths)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        step += 1
        if step % 200 == 0:
            held = evaluate(model, real_held, device, False)
            print(f"step {step} {elapsed / 60:.1f} min loss {loss.item():.3f} lr {lr:.2e} real-held {held:.3f}"
                  f" bench-held {evaluate(model, bench, device, True):.3f}", flush=True)
    # The final weights, not the best-scoring ones: choosing by a held-out set would tune to it,
    # and the cosine schedule ends at a low learning rate anyway.
    model.eval()
    metrics = {
        "real_held_out_exact": evaluate(model, real_held, device, False),
        "alpr_bench_ocr_crops_held_out_exact_o_is_0": evaluate(model, bench, device, True),
        "steps": step,
        "batch": args.batch,
        "train_minutes": round((time.time() - started) / 60, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {args.device}, torch {torch.__version__}",
        "synthetic": len(crops),
        "synthetic_br_share": args.br_share if args.br_share is not None else round(float(is_br.mean()), 3),
        "real_train": len(real_train),
        "bench_crops_trained_on": len(bench_train),
        "bench_crops_held_out": len(bench),
        "bench_scene_boxes_trained_on": len(scene_train),
        "real_held_out": len(real_held),
    }
    print(json.dumps(metrics), flush=True)

    Path(args.checkpoint).parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.checkpoint)
    export(model, args.out, metrics)


def export(model, out, metrics):
    """Writes the ONNX model (dynamic batch, opset 17) and `ocr-metrics.json` beside it."""
    model.cpu().eval()
    dummy = torch.zeros(1, 1, HEIGHT, WIDTH)
    torch.onnx.export(
        Exported(model), dummy, out, input_names=["images"], output_names=["probs"],
        dynamic_axes={"images": {0: "batch"}, "probs": {0: "batch"}}, opset_version=17, dynamo=False)
    Path(out).with_name("ocr-metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"wrote {out} ({os.path.getsize(out) / 1e6:.1f} MB)", flush=True)


if __name__ == "__main__":
    sys.exit(main())

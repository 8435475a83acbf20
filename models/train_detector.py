#!/usr/bin/env python3
"""Trains Custos's plate detector and writes it to models/plate-detector.json.

The detector is a tiny fully-convolutional network (FCOS-style): it reads one grey pyramid level
and, on a grid of stride 8, predicts whether each cell lies on a plate and the distances from the
cell centre to the plate's four edges. Run at pyramid levels 1–3 it finds plates 12 to 190 px
tall in the frame; the kernels crate runs it natively and in WGSL, from the JSON this writes.

Data (read from ../shared/data at run time, never copied):
  * detect-dashcam-ro frames, minus a held-out quarter (whole stretches of drive, by time block);
  * synthetic road scenes from `scenegen` (models/plategen);
  * real plate crops from train-real pasted onto those backgrounds.
alpr-bench is never trained on: it measures.

    python3 models/train_detector.py --minutes 40      # this 2-core machine, ~40 min

Deterministic for a seed (up to thread scheduling); logs wall time and machine.
"""
import argparse
import csv
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
PATCH = 192
STRIDE = 8
BOX_SCALE = 16.0
# Plate heights (px at the level) the detector is trained to report; others are ignored.
MIN_H, MAX_H = 6.0, 24.0
LEVELS = [1, 2, 3]
CHANNELS = [8, 16, 24, 24, 24, 24]
DILATIONS = [1, 1, 1, 1, 2, 4]
STRIDES = [2, 2, 2, 1, 1, 1]


class Detector(nn.Module):
    def __init__(self):
        super().__init__()
        layers, cin = [], 1
        for cout, d, s in zip(CHANNELS, DILATIONS, STRIDES):
            layers += [nn.Conv2d(cin, cout, 3, s, padding=d, dilation=d, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
            cin = cout
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Conv2d(cin, 5, 1)

    def forward(self, x):
        return self.head(self.trunk((x - 128.0) / 64.0))


# ---------------------------------------------------------------- data

def dashcam(held):
    rows = list(csv.DictReader(open(DATA / "detect-dashcam-ro" / "boxes.tsv"), delimiter="\t"))
    by_image = {}
    for r in rows:
        by_image.setdefault(r["image"], []).append([float(r[k]) for k in "xywh"])
    out = []
    for name, boxes in sorted(by_image.items()):
        drive, t = name.rsplit("_t", 1)
        block = f"{drive}/{int(t.split('.')[0]) // 200}"
        is_held = hashlib.sha256(block.encode()).digest()[0] % 4 == 0
        if is_held == held:
            img = np.asarray(Image.open(DATA / "detect-dashcam-ro" / name).convert("L"))
            out.append((img, np.array(boxes, dtype=np.float32)))
    return out


def scenes(count, seed):
    out_dir = ROOT / "target" / "scenegen" / f"{count}-{seed}"
    if not (out_dir / "frames.npy").exists():
        subprocess.run(["cargo", "run", "--release", "-q", "-p", "custos-plategen", "--bin", "scenegen", "--",
                        "--out", str(out_dir), "--count", str(count), "--seed", str(seed)], cwd=ROOT, check=True)
    frames = np.load(out_dir / "frames.npy")
    boxes = [[] for _ in range(len(frames))]
    for r in csv.DictReader(open(out_dir / "boxes.tsv"), delimiter="\t"):
        boxes[int(r["frame"])].append([float(r[k]) for k in "xywh"])
    return [(f, np.array(b, dtype=np.float32).reshape(-1, 4)) for f, b in zip(frames, boxes)]


def real_crops():
    rows = list(csv.DictReader(open(DATA / "train-real" / "labels.tsv"), delimiter="\t"))
    return [np.asarray(Image.open(DATA / "train-real" / r["image"]).convert("L")) for r in rows]


def paste(background, boxes, crops, rng):
    """A real plate crop pasted onto a background frame: real plate texture in new places."""
    img = background.copy()
    h, w = img.shape
    crop = crops[rng.integers(len(crops))]
    ph = float(np.exp(rng.uniform(np.log(14), np.log(150))))
    pw = ph * crop.shape[1] / crop.shape[0] * rng.uniform(0.85, 1.15)
    pw, ph = int(min(pw, w * 0.6)), int(min(ph, h * 0.4))
    if pw < 8 or ph < 4:
        return img, boxes
    x, y = int(rng.integers(0, w - pw)), int(rng.integers(0, h - ph))
    patch = np.asarray(Image.fromarray(crop).resize((pw, ph), Image.BILINEAR), dtype=np.float32)
    patch = (patch - patch.mean()) * rng.uniform(0.5, 1.2) + rng.uniform(60, 200)
    img[y:y + ph, x:x + pw] = np.clip(patch, 0, 255).astype(np.uint8)
    return img, np.concatenate([boxes.reshape(-1, 4), [[x, y, pw, ph]]]).astype(np.float32)


def sample(sources, crops, rng):
    """One PATCH × PATCH training patch at a random scale, and its plate boxes in patch pixels."""
    img, boxes = sources[rng.integers(len(sources))]
    if rng.random() < 0.35:
        img, boxes = paste(img, boxes, crops, rng)
    h, w = img.shape
    if len(boxes) and rng.random() < 0.75:
        b = boxes[rng.integers(len(boxes))]
        target_h = float(np.exp(rng.uniform(np.log(MIN_H - 1), np.log(MAX_H + 4))))
        scale = max(b[3] / target_h, 0.7)
        cx = b[0] + b[2] / 2 + rng.uniform(-0.4, 0.4) * PATCH * scale
        cy = b[1] + b[3] / 2 + rng.uniform(-0.4, 0.4) * PATCH * scale
    else:
        scale = float(np.exp(rng.uniform(np.log(0.8), np.log(10))))
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    side = PATCH * scale
    x0, y0 = cx - side / 2, cy - side / 2
    # The part of the window inside the image, resized (area-averaged when shrinking, like the
    # pyramid); the rest of the patch is the image's mean grey.
    canvas = Image.new("L", (PATCH, PATCH), int(img.mean()))
    ix0, iy0 = max(0.0, x0), max(0.0, y0)
    ix1, iy1 = min(float(w), x0 + side), min(float(h), y0 + side)
    px0, py0 = int(round((ix0 - x0) / scale)), int(round((iy0 - y0) / scale))
    px1, py1 = int(round((ix1 - x0) / scale)), int(round((iy1 - y0) / scale))
    if px1 > px0 and py1 > py0:
        part = Image.fromarray(img).resize((px1 - px0, py1 - py0), Image.BOX if scale > 1 else Image.BILINEAR,
                                           box=(ix0, iy0, ix1, iy1))
        canvas.paste(part, (px0, py0))
    arr = np.asarray(canvas, dtype=np.float32)
    arr = (arr - 128) * rng.uniform(0.6, 1.4) + 128 + rng.uniform(-40, 40)
    arr += rng.normal(0, rng.uniform(0, 6), arr.shape)
    pb = (boxes.reshape(-1, 4) - [x0, y0, 0, 0]) / scale
    if rng.random() < 0.5:
        arr = arr[:, ::-1]
        pb[:, 0] = PATCH - pb[:, 0] - pb[:, 2]
    return np.clip(arr, 0, 255).astype(np.float32), pb


def targets(boxes):
    """Per cell: class (1 plate, 0 background, -1 ignore) and ltrb distances / BOX_SCALE."""
    n = PATCH // STRIDE
    cls = np.zeros((n, n), np.float32)
    reg = np.zeros((4, n, n), np.float32)
    centres = np.arange(n) * STRIDE + 0.5
    # Smallest boxes first, so that a cell on two plates learns the smaller (nearer the camera
    # plates overlap rarely; this only matters for pasted crops).
    for x, y, w, h in sorted(boxes.tolist(), key=lambda b: -b[2] * b[3]):
        inside_x = (centres >= x) & (centres <= x + w)
        inside_y = (centres >= y) & (centres <= y + h)
        if MIN_H <= h <= MAX_H:
            # The central part of the plate, and always the cell holding its centre.
            core_x = np.abs(centres - (x + w / 2)) <= max(w * 0.35, STRIDE / 2)
            core_y = np.abs(centres - (y + h / 2)) <= max(h * 0.5, STRIDE / 2)
            m = np.outer(core_y, core_x)
            cls[m] = 1
            cy, cx = np.meshgrid(centres, centres, indexing="ij")
            reg[0][m] = (cx - x)[m] / BOX_SCALE
            reg[1][m] = (cy - y)[m] / BOX_SCALE
            reg[2][m] = (x + w - cx)[m] / BOX_SCALE
            reg[3][m] = (y + h - cy)[m] / BOX_SCALE
        else:
            cls[np.outer(inside_y, inside_x) & (cls != 1)] = -1
    return cls, reg


def iou_loss(pred, target):
    pl, pt, pr, pb = pred.clamp(min=0).unbind(0)
    tl, tt, tr, tb = target.unbind(0)
    inter = (torch.min(pl, tl) + torch.min(pr, tr)) * (torch.min(pt, tt) + torch.min(pb, tb))
    union = (pl + pr) * (pt + pb) + (tl + tr) * (tt + tb) - inter
    return -torch.log((inter + 1e-4) / (union + 1e-4))


# ---------------------------------------------------------------- inference (as the kernels run it)

def pyramid(img):
    levels, cur = [], img.astype(np.float32)
    for _ in range(max(LEVELS)):
        h, w = cur.shape[0] // 2, cur.shape[1] // 2
        cur = cur[:2 * h, :2 * w].reshape(h, 2, w, 2).mean(axis=(1, 3))
        levels.append(cur)
    return levels


def detect(model, img, threshold=0.3, nms=0.4, top=10):
    found = []
    pyr = pyramid(img)
    with torch.no_grad():
        for level in LEVELS:
            lv = pyr[level - 1]
            if lv.shape[0] < 16 or lv.shape[1] < 16:
                continue
            out = model(torch.from_numpy(lv)[None, None])[0].numpy()
            score = 1 / (1 + np.exp(-out[0]))
            ys, xs = np.nonzero(score > threshold)
            for i, j in zip(ys, xs):
                l, t, r, b = np.maximum(out[1:, i, j], 0) * BOX_SCALE
                cx, cy = j * STRIDE + 0.5, i * STRIDE + 0.5
                h = t + b
                if not (MIN_H - 2 <= h <= MAX_H + 6):
                    continue
                k = 2 ** level
                found.append((score[i, j], (cx - l) * k, (cy - t) * k, (l + r) * k, h * k))
    found.sort(key=lambda f: -f[0])
    kept = []
    for f in found:
        if all(iou(f[1:], g[1:]) <= nms for g in kept):
            kept.append(f)
        if len(kept) == top:
            break
    return kept


def iou(a, b):
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / max(1e-6, a[2] * a[3] + b[2] * b[3] - inter)


def recall(model, images):
    model.eval()
    hits50 = hits30 = total = cands = 0
    for img, boxes in images:
        found = detect(model, img)
        cands += len(found)
        for b in boxes:
            best = max((iou(f[1:], b) for f in found), default=0)
            hits50 += best >= 0.5
            hits30 += best >= 0.3
            total += 1
    model.train()
    return hits50 / max(1, total), hits30 / max(1, total), cands / max(1, len(images))


def alpr_bench():
    rows = list(csv.DictReader(open(DATA / "alpr-bench" / "MANIFEST.tsv"), delimiter="\t"))
    return [(np.asarray(Image.open(DATA / "alpr-bench" / r["image"]).convert("L")),
             np.array([[float(r[k]) for k in "xywh"]], np.float32)) for r in rows]


# ---------------------------------------------------------------- export

def export(model, path, metrics):
    """Folds batch norm into the convolutions and writes the layers the kernels crate runs."""
    model.eval()
    layers = []
    mods = list(model.trunk)
    for i in range(0, len(mods), 3):
        conv, bn = mods[i], mods[i + 1]
        s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        w = conv.weight * s[:, None, None, None]
        b = bn.bias - bn.running_mean * s
        layers.append(layer(conv, w, b, True))
    layers.append(layer(model.head, model.head.weight, model.head.bias, False))
    doc = {
        "format": "custos-plate-detector/1",
        "about": "Plate detector for the kernels crate; trained by models/train_detector.py",
        "input": {"subtract": 128.0, "divide": 64.0},
        "stride": STRIDE,
        "box_scale": BOX_SCALE,
        "levels": LEVELS,
        "min_height": MIN_H - 2,
        "max_height": MAX_H + 6,
        "layers": layers,
        "metrics": metrics,
    }
    Path(path).write_text(json.dumps(doc, separators=(",", ":")) + "\n")


def layer(conv, w, b, relu):
    return {
        "in": conv.in_channels, "out": conv.out_channels, "kernel": conv.kernel_size[0],
        "stride": conv.stride[0], "dilation": conv.dilation[0], "relu": relu,
        "weights": [round(float(v), 6) for v in w.detach().flatten()],
        "bias": [round(float(v), 6) for v in b.detach().flatten()],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=40)
    ap.add_argument("--scenes", type=int, default=600)
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(ROOT / "models" / "plate-detector.json"))
    ap.add_argument("--checkpoint", default=str(ROOT / "target" / "detector-train.pt"))
    ap.add_argument("--resume", help="start from the weights of an earlier run's --checkpoint")
    ap.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    started = time.time()
    train = dashcam(held=False)
    held = dashcam(held=True)
    synthetic = scenes(args.scenes, args.seed)
    crops = real_crops()
    # Real frames weigh as much as synthetic ones although there are fewer.
    sources = train * max(1, len(synthetic) // max(1, len(train))) + synthetic
    print(f"data: {len(train)} dashcam frames, {len(held)} held out, {len(synthetic)} synthetic scenes, "
          f"{len(crops)} real crops to paste ({time.time() - started:.0f} s)", flush=True)

    device = torch.device(args.device)
    model = Detector().to(device)
    if args.resume:
        model.load_state_dict(torch.load(args.resume, map_location=device))
        print(f"resumed from {args.resume}", flush=True)
    print(f"parameters: {sum(p.numel() for p in model.parameters()):,}", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    budget = args.minutes * 60
    step, t0 = 0, time.time()
    while time.time() - t0 < budget:
        frac = (time.time() - t0) / budget
        lr = args.lr * min(1.0, step / 200) * 0.5 * (1 + math.cos(math.pi * frac))
        for g in opt.param_groups:
            g["lr"] = max(lr, args.lr / 100)
        imgs, cls, reg = [], [], []
        for _ in range(args.batch):
            img, boxes = sample(sources, crops, rng)
            c, r = targets(boxes)
            imgs.append(img)
            cls.append(c)
            reg.append(r)
        x = torch.from_numpy(np.stack(imgs))[:, None].to(device)
        cls_t = torch.from_numpy(np.stack(cls)).to(device)
        reg_t = torch.from_numpy(np.stack(reg)).to(device)
        out = model(x)
        valid = cls_t >= 0
        pos = cls_t == 1
        # Focal loss: most cells are easy background.
        logit = out[:, 0]
        p = torch.sigmoid(logit)
        ce = F.binary_cross_entropy_with_logits(logit, cls_t.clamp(min=0), reduction="none")
        pt = torch.where(pos, p, 1 - p)
        alpha = torch.where(pos, 0.75, 0.25)
        focal = (alpha * (1 - pt) ** 2 * ce)[valid].sum() / max(1, int(pos.sum()))
        if pos.any():
            box = iou_loss(out[:, 1:].permute(1, 0, 2, 3)[:, pos], reg_t.permute(1, 0, 2, 3)[:, pos]).mean()
        else:
            box = torch.zeros((), device=device)
        loss = focal + box
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        step += 1
        if step % 100 == 0:
            print(f"step {step} {(time.time() - t0) / 60:.1f} min loss {focal.item():.3f} + {box.item():.3f} "
                  f"lr {lr:.1e}", flush=True)
        if step % 1000 == 0:
            r50, r30, c = recall(model.cpu(), held)
            model.to(device)
            print(f"  dashcam held out: recall@.5 {r50:.3f} @.3 {r30:.3f} candidates/image {c:.1f}", flush=True)
    model = model.cpu()
    Path(args.checkpoint).parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.checkpoint)
    r50, r30, c = recall(model, held)
    b50, b30, bc = recall(model, alpr_bench())
    metrics = {
        "dashcam_held_out_recall_iou50": round(r50, 4),
        "dashcam_held_out_recall_iou30": round(r30, 4),
        "dashcam_held_out_candidates_per_image": round(c, 2),
        "alpr_bench_recall_iou50": round(b50, 4),
        "alpr_bench_recall_iou30": round(b30, 4),
        "alpr_bench_candidates_per_image": round(bc, 2),
        "steps": step,
        "batch": args.batch,
        "train_minutes": round((time.time() - started) / 60, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {args.device}, torch {torch.__version__}",
        "dashcam_train_frames": len(train),
        "dashcam_held_out_frames": len(held),
        "synthetic_scenes": len(synthetic),
    }
    print(json.dumps(metrics), flush=True)
    export(model, args.out, metrics)
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e3:.0f} kB)", flush=True)


if __name__ == "__main__":
    sys.exit(main())

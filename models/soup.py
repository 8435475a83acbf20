#!/usr/bin/env python3
"""Averages the weights of OCR training runs that started from the same checkpoint (a uniform
"model soup") and exports the result as train.py does.

Runs resumed from one checkpoint stay in one basin, so their mean is a model of the same size and
speed that is usually steadier than any one of them; it costs nothing at inference.

    python3 models/soup.py --out models/ocr.onnx target/ocr11/ocr-train.pt target/ocr14/ocr-train.pt ...

Writes the ONNX model, `ocr-metrics.json` beside it (scored on the same held-out sets as
train.py) and, with --checkpoint, the averaged weights to resume from.
"""
import argparse
import json
import os
import platform
import sys

import torch

import train


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+", help="train.py --checkpoint files of runs from one start")
    ap.add_argument("--out", default=str(train.ROOT / "models" / "ocr.onnx"))
    ap.add_argument("--checkpoint", help="also save the averaged weights here")
    ap.add_argument("--bench-train-tenths", type=int, default=5, choices=range(0, 10),
                    help="as the runs were trained: which alpr-bench crops count as held out")
    args = ap.parse_args()
    if len(args.checkpoints) < 2:
        raise SystemExit("give at least two checkpoints to average")

    states = [torch.load(c, map_location="cpu") for c in args.checkpoints]
    keys = states[0].keys()
    for path, state in zip(args.checkpoints[1:], states[1:]):
        if state.keys() != keys or any(state[k].shape != states[0][k].shape for k in keys):
            raise SystemExit(f"{path}: not the same network as {args.checkpoints[0]}")
    # Batch-norm counters are integers: averaged as floats, then cast back.
    mean = {k: (sum(s[k].double() for s in states) / len(states)).to(states[0][k].dtype) for k in keys}
    model = train.PlateOcr()
    model.load_state_dict(mean)
    if args.checkpoint:
        torch.save(mean, args.checkpoint)

    _, real_held = train.load_real()
    _, bench = train.load_bench(args.bench_train_tenths)
    device = torch.device("cpu")
    metrics = {
        "real_held_out_exact": train.evaluate(model, real_held, device, False),
        "alpr_bench_ocr_crops_held_out_exact_o_is_0": train.evaluate(model, bench, device, True),
        "soup_of": [os.path.relpath(c, train.ROOT) for c in args.checkpoints],
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, cpu, torch {torch.__version__}",
        "bench_crops_held_out": len(bench),
        "real_held_out": len(real_held),
    }
    print(json.dumps(metrics), flush=True)
    train.export(model, args.out, metrics)


if __name__ == "__main__":
    sys.exit(main())

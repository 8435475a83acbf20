#!/usr/bin/env python3
"""End-to-end accuracy on real plates: real photos -> H.264 clip -> VLC's RTSP server (a server
nobody here wrote) -> `custos serve` -> `custos agency export` -> a score per vehicle pass.

  /opt/custos/venv/bin/python3 benches/realcam.py [--set alpr-bench|train-real] [--n 40]
      [--split test|val] [--seed S] [--loops 2] [--bin target/release/custos] [--work DIR]
      [--extra-config FILE]

`--split test` (the default) scores the 40 boxes every reported figure uses; `--split val` draws
`--n` of the other boxes (by `--seed`): choose thresholds there, and read the test split once
per change.

Run from the project root after `cargo build --release`. Each labelled photo is one vehicle pass
(2 s, slowly zooming and drifting as a car approaching a fixed camera, then 0.5 s of empty road).
`alpr-bench` uses the dev half's scene photos with their plate boxes; `train-real` pastes real
plate crops onto a plain vehicle-sized background (a harder, smaller-plate camera). Two benchmark
photos that are the same pictures as trained crops (us/us3.jpg, us/us4.jpg) are never scored.

Scored per plate over L loops of the clip (every pass is seen L times, +-1 at the edges):
- read: some stored read equals the truth (letters and digits; O = 0);
- junk: a stored read that equals no plate; split into misreads (within two edits of a plate of
  the clip) and non-plates (all others);
- over-read: a plate stored more than L + 1 times (a pass stored twice).
Prints a table, the drop reasons from `/metrics`, then one JSON line last.
"""
import argparse
import collections
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "..", "shared", "data")
W, H, FPS = 1280, 720, 15
# Same photographs as crops the OCR model was trained on: scoring them would flatter it.
EXCLUDED = {"us/us3.jpg", "us/us4.jpg"}


TEST_SEED, TEST_N = 7, 40


def norm(s):
    return "".join(c for c in s.upper() if c.isalnum()).replace("O", "0")


def edits(a, b):
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def passes(args):
    """(PIL image, region, plate box x y w h, text) for each pass."""
    rnd = random.Random(args.seed)
    if args.set == "alpr-bench":
        base = os.path.join(DATA, "alpr-bench")
        rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(base, "MANIFEST.tsv"))][1:]
        rows = [r for r in rows if r[0] not in EXCLUDED]
        # The test split is the 40 boxes the baseline was scored on; validation draws from the
        # rest, so thresholds chosen there are not chosen on what is reported.
        random.Random(TEST_SEED).shuffle(rows)
        if args.split == "test":
            rows = rows[:TEST_N]
        else:
            rows = rows[TEST_N:]
            rnd.shuffle(rows)
        for image, region, x, y, w, h, plate in rows[: args.n]:
            yield Image.open(os.path.join(base, image)).convert("RGB"), region, (int(x), int(y), int(w), int(h)), plate
    else:
        base = os.path.join(DATA, "train-real")
        rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(base, "labels.tsv"))][1:]
        rnd.shuffle(rows)
        for image, source, plate in rows[: args.n]:
            crop = Image.open(os.path.join(base, image)).convert("RGB")
            # A plate about a sixth of a 640-pixel-wide vehicle rear, as a street camera sees it.
            pw = 110
            ph = max(8, round(crop.height * pw / crop.width))
            canvas = Image.new("RGB", (640, 400), (rnd.randint(60, 200),) * 3)
            x, y = (640 - pw) // 2, 260
            canvas.paste(crop.resize((pw, ph), Image.BILINEAR), (x, y))
            yield canvas, source, (x, y, pw, ph), plate


def make_clip(args, out):
    os.makedirs(out, exist_ok=True)
    clip = os.path.join(out, "clip.mp4")
    enc = subprocess.Popen(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}",
         "-r", str(FPS), "-i", "-", "-c:v", "libx264", "-preset", "veryfast", "-g", str(2 * FPS),
         "-pix_fmt", "yuv420p", clip],
        stdin=subprocess.PIPE)
    per_pass, gap = int(2.0 * FPS), int(0.5 * FPS)
    blank = Image.new("RGB", (W, H), (40, 40, 40)).tobytes()
    truth, frame_no = [], 0
    for im, region, (x, y, w, h), plate in passes(args):
        fit = min(W / im.width, H / im.height)
        first = frame_no
        for k in range(per_pass):
            s = fit * (0.8 + 0.2 * k / (per_pass - 1))
            sw, sh = int(im.width * s), int(im.height * s)
            ox, oy = (W - sw) // 2 + int(20 * (k / per_pass - 0.5)), (H - sh) // 2
            frame = Image.new("RGB", (W, H), (40, 40, 40))
            frame.paste(im.resize((sw, sh), Image.BILINEAR), (ox, oy))
            enc.stdin.write(frame.tobytes())
            frame_no += 1
        truth.append({"plate": plate, "region": region, "first_frame": first, "last_frame": frame_no - 1,
                      "plate_height_px": round(h * fit)})
        for _ in range(gap):
            enc.stdin.write(blank)
            frame_no += 1
    enc.stdin.close()
    if enc.wait() != 0:
        sys.exit("realcam: ffmpeg failed to encode the clip")
    return clip, truth, frame_no / FPS


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_custos(args, work, clip, clip_s):
    binary = os.path.abspath(args.bin)
    if not os.path.exists(binary):
        sys.exit(f"realcam: {binary} is missing: cargo build --release first")
    data = os.path.join(work, "data")
    subprocess.run([binary, "agency", "create", "--data-dir", data, "--agency", "city"], check=True,
                   stdout=subprocess.DEVNULL)
    rtsp, grpc, metrics = free_port(), free_port(), free_port()
    cfg = os.path.join(work, "custos.toml")
    with open(cfg, "w") as f:
        f.write(f"""[ingest]
analysis_fps = 8

[[cameras]]
id = "realcam"
url = "rtsp://127.0.0.1:{rtsp}/cam0"
transport = "udp"

[store]
data_dir = "{data}"
agency = "city"

[metrics]
listen = "127.0.0.1:{metrics}"

[grpc]
listen = "127.0.0.1:{grpc}"
""")
        if args.extra_config:
            f.write(open(args.extra_config).read())
    sout = f"#rtp{{sdp=rtsp://127.0.0.1:{rtsp}/cam0}}"
    vlc_cmd = ["cvlc", "--quiet", "--loop", clip, "--sout", sout, "--sout-keep"]
    if os.geteuid() == 0:  # VLC refuses to run as root
        vlc_cmd = ["runuser", "-u", "nobody", "--"] + vlc_cmd
    vlc = subprocess.Popen(vlc_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    serve, metrics_text = None, ""
    try:
        time.sleep(3)
        serve = subprocess.Popen([binary, "serve", "--config", cfg, "--insecure-dev"],
                                 stdout=open(os.path.join(work, "serve.out"), "w"),
                                 stderr=open(os.path.join(work, "serve.err"), "w"))
        time.sleep(clip_s * args.loops + 6)
        try:
            metrics_text = urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=5).read().decode()
        except OSError as e:
            print(f"realcam: /metrics not reachable: {e}", file=sys.stderr)
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
    finally:
        if serve and serve.poll() is None:
            serve.kill()
        os.killpg(vlc.pid, signal.SIGTERM)
        vlc.wait(timeout=10)
    if serve.returncode != 0:
        sys.exit(f"realcam: custos serve exited {serve.returncode}: see {work}/serve.err")
    export = os.path.join(work, "export")
    subprocess.run([binary, "agency", "export", "--data-dir", data, "--agency", "city", "--out", export],
                   check=True, stdout=subprocess.DEVNULL)
    reads = [json.loads(l) for l in open(os.path.join(export, "reads.jsonl"))]
    return reads, metrics_text


def drop_reasons(metrics_text):
    """`custos_reads_dropped_total{reason=...}` summed over cameras."""
    out = collections.Counter()
    for line in metrics_text.splitlines():
        if line.startswith("custos_reads_dropped_total{"):
            labels, value = line.rsplit(" ", 1)
            reason = labels.split('reason="', 1)[1].split('"', 1)[0]
            out[reason] += int(float(value))
    return dict(out)


def score(truth, reads, loops):
    want = {norm(t["plate"]): t for t in truth}
    got = collections.Counter(norm(r["plate"]) for r in reads)
    read = [p for p in want if got[p] > 0]
    junk = {p: n for p, n in got.items() if p not in want}
    misreads = {p: n for p, n in junk.items() if min(edits(p, q) for q in want) <= 2}
    over = {p: got[p] for p in want if got[p] > loops + 1}
    per_region = collections.defaultdict(lambda: [0, 0])
    for p, t in want.items():
        per_region[t["region"]][1] += 1
        per_region[t["region"]][0] += got[p] > 0
    return {
        "plates": len(want), "plates_read": len(read), "share_read": round(len(read) / max(1, len(want)), 3),
        "reads": len(reads), "junk_reads": sum(junk.values()),
        "junk_share": round(sum(junk.values()) / max(1, len(reads)), 3),
        "misreads": sum(misreads.values()), "non_plates": sum(junk.values()) - sum(misreads.values()),
        "over_read_plates": len(over),
        "per_region": {r: f"{k}/{n}" for r, (k, n) in sorted(per_region.items())},
        "missed": sorted(p for p in want if got[p] == 0),
        "junk": {p: n for p, n in sorted(junk.items())},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", choices=["alpr-bench", "train-real"], default="alpr-bench")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--loops", type=float, default=2.0)
    ap.add_argument("--split", choices=["test", "val"], default="test",
                    help="alpr-bench: the reported 40 boxes (test) or the others (val, for choosing thresholds)")
    ap.add_argument("--seed", type=int, default=7, help="which val boxes (and train-real crops) are drawn")
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "custos"))
    ap.add_argument("--work")
    ap.add_argument("--extra-config", help="TOML appended to the generated config (e.g. an [analysis.gate] section)")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="realcam-")
    os.makedirs(work, exist_ok=True)
    os.chmod(work, 0o755)  # VLC runs as nobody: it must reach the clip
    clip, truth, clip_s = make_clip(a, os.path.join(work, "clip"))
    os.chmod(os.path.dirname(clip), 0o755)
    os.chmod(clip, 0o644)
    reads, metrics_text = run_custos(a, work, clip, clip_s)
    s = score(truth, reads, a.loops)
    s["dropped"] = drop_reasons(metrics_text)
    print(f"{'set':<12}{'plates read':>14}{'stored':>8}{'junk':>8}{'misread':>9}{'non-plate':>11}{'over-read':>11}")
    print(f"{a.set:<12}{s['plates_read']:>8}/{s['plates']:<5}{s['reads']:>8}{s['junk_reads']:>8}"
          f"{s['misreads']:>9}{s['non_plates']:>11}{s['over_read_plates']:>11}")
    print("per region:", " ".join(f"{r} {v}" for r, v in s["per_region"].items()))
    print("missed:", " ".join(s["missed"]) or "-")
    print("junk:", " ".join(f"{p}x{n}" for p, n in s["junk"].items()) or "-")
    print("dropped before storing:", " ".join(f"{r}={n}" for r, n in sorted(s["dropped"].items())) or "-")
    print(json.dumps({"bench": "realcam", "set": a.set, "split": a.split, "n": a.n, "loops": a.loops, "seed": a.seed,
                      **{k: v for k, v in s.items() if k not in ("missed", "junk")}}))


if __name__ == "__main__":
    main()

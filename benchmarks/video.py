"""Satellite video SR on the real clip ../shared/data/video/clip1 (issue 20): the clip's last 20 frames,
never used in training (``configs/swvsr_x4.yaml``: the `video` dataset's test split), degraded by MATLAB
bicubic x4, super-resolved by the sliding-window ``swvsr`` and by the single-image ``edsr`` (edsr_x4) run
on each frame, bicubic in the same run (``satsr.evaluate.video.video_evaluate``, what ``satsr evaluate
video`` prints): per-frame PSNR/SSIM and temporal consistency (flicker vs the HR's, temporal error).

Prints one JSON object. Needs ../shared/data (research use only).
Usage: .venv/bin/python benchmarks/video.py [--models swvsr,edsr] [--last 20]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from satsr.evaluate.video import video_evaluate

CLIP = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "video" / "clip1"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="swvsr,edsr", help="comma-separated models (bicubic always runs)")
    ap.add_argument("--last", type=int, default=20, help="evaluate the clip's last N frames")
    args = ap.parse_args()
    report = video_evaluate(CLIP, [m for m in args.models.split(",") if m], 4, last=args.last)
    rows = {r["model"]: r for r in report["rows"]}
    if "swvsr" in rows and "edsr" in rows:
        gains = [a - b for a, b in zip(rows["swvsr"]["psnr_per_frame"], rows["edsr"]["psnr_per_frame"], strict=True)]
        report["swvsr_vs_edsr"] = {"psnr_gain_mean": round(sum(gains) / len(gains), 4),
                                   "psnr_gain_min_frame": round(min(gains), 4),
                                   "flicker_ratio": round(rows["swvsr"]["flicker"] / rows["edsr"]["flicker"], 4)}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

"""Run the opensr-test package itself on saved arrays; print its metrics as JSON.

NOT part of satsr and never imported by it: run with the Python of a throwaway virtual environment
that has opensr-test 1.3.3 installed (see BENCHMARKS.md, "Trustworthy SR (issue 5)"), e.g.

    /tmp/osrvenv/bin/python benchmarks/opensr_reference.py ARRAYS.npz VALUE_SCALE

ARRAYS.npz holds ``lr`` (C, h, w), ``sr`` and ``hr`` (C, H, W) in file units; they are divided by
VALUE_SCALE and passed as float32 tensors to ``opensr_test.Metrics().compute`` (default Config:
"nd" correctness distance, 16-px border, pixel aggregation). ``bench_trust.py --reference-python``
calls this script on the same arrays satsr scores.
"""

import json
import sys
import warnings

import numpy as np
import torch

warnings.filterwarnings("ignore")
import opensr_test  # noqa: E402

data = np.load(sys.argv[1])
scale = float(sys.argv[2])
lr, sr, hr = (torch.from_numpy(data[k].astype(np.float32) / scale) for k in ("lr", "sr", "hr"))
out = opensr_test.Metrics().compute(lr=lr, sr=sr, hr=hr)
names = {"ha_metric": "hallucination", "om_metric": "omission", "im_metric": "improvement"}
print(json.dumps({"opensr_test": opensr_test.__version__, **{names.get(k, k): float(v) for k, v in out.items()}}))

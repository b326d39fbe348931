"""Network interpolation (ESRGAN, Wang et al. 2018, section 3.4): blend a PSNR-trained and a GAN-trained
set of weights of the same architecture, ``alpha * gan + (1 - alpha) * psnr``, tensor by tensor.

One scalar trades invented texture against fidelity without retraining: alpha = 1 is the GAN, 0 the
PSNR model. The result is written like any export (safetensors + card, atomically); its card is the
GAN's card with the blend recorded under ``training.interpolation``.

    python -m satsr.train.interpolate PSNR.safetensors GAN.safetensors --alpha 0.8 --out OUT.safetensors
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from safetensors.torch import load_file, save_file

from satsr.errors import InputError
from satsr.models.registry import sha256_of


def interpolate_weights(psnr: Path, gan: Path, alpha: float, out: Path) -> Path:
    """Write ``alpha * gan + (1 - alpha) * psnr`` to ``out`` (and its card beside it); returns ``out``."""
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"--alpha {alpha}: must lie in [0, 1] (1 = the GAN weights, 0 = the PSNR weights)")
    a, b = load_file(str(psnr)), load_file(str(gan))
    if a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in a):
        raise InputError(f"{psnr} and {gan}: not the same architecture (tensor names or shapes differ); "
                         "interpolate two trainings of one config")
    blend = {k: (alpha * b[k].double() + (1.0 - alpha) * a[k].double()).to(b[k].dtype) for k in b}
    card = json.loads(gan.with_suffix(".json").read_text())
    tmp = out.with_suffix(".tmp")
    save_file(blend, str(tmp), metadata={"id": card["id"], "model": card["model"]})
    tmp.replace(out)
    card["training"]["interpolation"] = {
        "alpha": alpha, "psnr_weights": {"file": psnr.name, "sha256": sha256_of(psnr)},
        "gan_weights": {"file": gan.name, "sha256": sha256_of(gan)},
        "command": f"python -m satsr.train.interpolate {psnr.name} {gan.name} --alpha {alpha} --out {out.name}"}
    card["sha256"] = sha256_of(out)
    card_tmp = out.with_suffix(".json.tmp")
    card_tmp.write_text(json.dumps(card, indent=2) + "\n")
    card_tmp.replace(out.with_suffix(".json"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("psnr", type=Path)
    ap.add_argument("gan", type=Path)
    ap.add_argument("--alpha", type=float, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    print(interpolate_weights(args.psnr, args.gan, args.alpha, args.out))


if __name__ == "__main__":
    main()

"""Random-forest super-resolution (``rfsr``), after Schulter, Leistner & Bischof, CVPR 2015, "Fast and
Accurate Image Upscaling with Super-Resolution Forests".

Each low-res pixel's ``(2r+1)^2`` neighbourhood, normalised by its own mean and contrast, is mapped by an
extra-trees regression forest (scikit-learn) to the ``s x s`` block of high-res detail over MATLAB
bicubic that the pixel covers, in the same contrast units. The mapping is unit-free (any dtype, any value
range) and run band by band (any band count). Two modes:

* trained (default): the shipped forests (``weights/rfsr_x2``, ``rfsr_x4``), fitted on UC Merced train by
  ``satsr train-rfsr`` in minutes on a CPU, or a user's own forest with ``--weights``;
* ``self=true``: zero-shot, the forest is fitted on the input itself and its own downscaled copy (all 8
  flips/rotations), once per scene through the ``fit`` hook (``satsr.api.upscale`` calls it). x4 is done
  gradually, as ZSSR does: a x2 forest (learnt from 4 times more pixels than a x4 one could be) applied
  twice.

A forest is stored as plain arrays in a ``.safetensors`` file (children, split feature and threshold per
node, leaf values), never as a pickle: loading one cannot run code. Departures from the paper: constant
leaves (the paper fits a linear model per leaf) and raw normalised pixels as features.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from satsr.arrays import Array, to_numpy
from satsr.errors import ModelError, OptionError
from satsr.models.base import FitProgress, ModelCard, Upscaler
from satsr.models.registry import WEIGHTS_DIR, register
from satsr.ops.filters import DEGRADATIONS, degrade
from satsr.ops.geometry import dihedral
from satsr.ops.resize import imresize

SCALES = (2, 3, 4)
RADIUS = 2  # LR px each side of the centre pixel: 5 x 5 neighbourhoods
BICUBIC_REACH = 3  # LR px the bicubic interpolation of one block reads each side (classical.MARGINS)
REL_FLOOR = 0.01  # contrast floor, relative to the local mean (flat areas do not blow up)
ARRAYS = ("left", "right", "feature", "threshold", "leaf_values", "roots")


# ----------------------------------------------------------------------------- features and targets


def lr_features(lr: np.ndarray, radius: int = RADIUS) -> tuple[np.ndarray, np.ndarray]:
    """Features of every pixel of ``lr`` ``(h, w)``: its ``(2r+1)^2`` neighbourhood (symmetric borders)
    minus the neighbourhood mean, divided by the neighbourhood contrast (std, floored at ``REL_FLOOR`` x
    |mean|). Returns ``(h*w, (2r+1)^2)`` float32 and the contrast ``(h*w,)`` float64 (targets' unit)."""
    lr = np.asarray(lr, np.float64)
    h, w = lr.shape
    k = 2 * radius + 1
    padded = np.pad(lr, radius, mode="symmetric")
    win = np.lib.stride_tricks.sliding_window_view(padded, (k, k)).reshape(h * w, k * k)
    mean = win.mean(1, keepdims=True)
    sd = np.sqrt(win.var(1, keepdims=True) + (REL_FLOOR * mean) ** 2 + 1e-12)
    return ((win - mean) / sd).astype(np.float32), sd[:, 0]


def to_blocks(x: np.ndarray, scale: int) -> np.ndarray:
    """``(h*s, w*s)`` -> ``(h*w, s*s)``: the high-res block of each low-res pixel, in raster order."""
    h, w = x.shape[0] // scale, x.shape[1] // scale
    return x.reshape(h, scale, w, scale).transpose(0, 2, 1, 3).reshape(h * w, scale * scale)


def from_blocks(blocks: np.ndarray, h: int, w: int, scale: int) -> np.ndarray:
    """Inverse of ``to_blocks``."""
    return blocks.reshape(h, w, scale, scale).transpose(0, 2, 1, 3).reshape(h * scale, w * scale)


def bicubic(lr: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB bicubic upsampling of ``(..., h, w)`` by ``scale`` (float64)."""
    h, w = lr.shape[-2:]
    return np.asarray(imresize(np.asarray(lr, np.float64), (h * scale, w * scale)), np.float64)


def training_samples(hr: np.ndarray, lr: np.ndarray, scale: int, hr_valid: np.ndarray | None = None,
                     count: int | None = None, rng: np.random.Generator | None = None,
                     radius: int = RADIUS) -> tuple[np.ndarray, np.ndarray]:
    """Features and targets of one HR/LR pair ``(C, H, W)`` / ``(C, H/s, W/s)``: every LR pixel of every band
    (or ``count`` of them drawn by ``rng`` with probability growing with local contrast, where the detail
    is), without pixels whose HR block holds an invalid pixel (``hr_valid``)."""
    c, h, w = lr.shape
    up = bicubic(lr, scale)
    feats, targets = [], []
    for b in range(c):
        f, sd = lr_features(lr[b], radius)
        t = to_blocks(hr[b] - up[b], scale) / sd[:, None]
        keep = np.ones(h * w, bool) if hr_valid is None else to_blocks(hr_valid[b], scale).all(1)
        feats.append(f[keep])
        targets.append(t[keep].astype(np.float32))
        if count is not None:
            feats[-1], targets[-1] = _draw(feats[-1], targets[-1], sd[keep], max(1, count // c), rng)
    return np.concatenate(feats), np.concatenate(targets)


def _draw(f: np.ndarray, t: np.ndarray, sd: np.ndarray, n: int,
          rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray]:
    if len(f) <= n:
        return f, t
    rng = rng or np.random.default_rng(0)
    weight = sd - sd.min() + 1e-3 * (sd.max() - sd.min()) + 1e-12
    idx = np.sort(rng.choice(len(f), size=n, replace=False, p=weight / weight.sum()))
    return f[idx], t[idx]


# ----------------------------------------------------------------------------- the forest as arrays


@dataclass
class Forest:
    """A regression forest as flat arrays over all its trees (the ``.safetensors`` layout).

    ``left``/``right``: child node indices; a leaf has ``left = -(row of its value) - 1``. ``feature`` and
    ``threshold``: the split (go left when ``x[feature] <= threshold``, as scikit-learn). ``roots``: each
    tree's first node. Prediction is the mean of the trees' leaf values. Traversal is written here in
    vectorised numpy (rather than rebuilding scikit-learn estimators) because scikit-learn can only restore
    a fitted tree from a pickle.
    """

    left: np.ndarray  # (nodes,) int32
    right: np.ndarray  # (nodes,) int32
    feature: np.ndarray  # (nodes,) int32
    threshold: np.ndarray  # (nodes,) float64
    leaf_values: np.ndarray  # (leaves, outputs) float32
    roots: np.ndarray  # (trees,) int32

    @property
    def n_features(self) -> int:
        internal = self.left >= 0
        return int(self.feature[internal].max()) + 1 if internal.any() else 0

    @property
    def n_outputs(self) -> int:
        return int(self.leaf_values.shape[1])

    @property
    def n_nodes(self) -> int:
        return int(self.left.size)

    @classmethod
    def from_sklearn(cls, estimators: list[Any]) -> Forest:
        """The fitted trees of a scikit-learn forest (``forest.estimators_``) as arrays."""
        lefts, rights, feats, thresholds, values, roots = [], [], [], [], [], []
        offset = leaves = 0
        for est in estimators:
            tree = est.tree_
            cl, cr = tree.children_left.astype(np.int64), tree.children_right.astype(np.int64)
            leaf = cl < 0
            rows = np.cumsum(leaf) - 1 + leaves
            lefts.append(np.where(leaf, -rows - 1, cl + offset))
            rights.append(np.where(leaf, -1, cr + offset))
            feats.append(np.where(leaf, 0, tree.feature))
            thresholds.append(np.where(leaf, 0.0, tree.threshold))
            values.append(tree.value.reshape(tree.node_count, -1)[leaf])
            roots.append(offset)
            offset += tree.node_count
            leaves += int(leaf.sum())
        return cls(np.concatenate(lefts).astype(np.int32), np.concatenate(rights).astype(np.int32),
                   np.concatenate(feats).astype(np.int32), np.concatenate(thresholds).astype(np.float64),
                   np.concatenate(values).astype(np.float32), np.asarray(roots, np.int32))

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {name: np.ascontiguousarray(getattr(self, name)) for name in ARRAYS}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], where: str) -> Forest:
        """A forest from stored arrays, checked so that a corrupt or hostile file is one ``ModelError``:
        types and shapes, and every child after its parent (traversal always ends)."""
        missing = [n for n in ARRAYS if n not in arrays]
        if missing:
            raise ModelError(f"{where}: not an rfsr forest (missing arrays {', '.join(missing)})")
        try:
            forest = cls(np.asarray(arrays["left"], np.int32), np.asarray(arrays["right"], np.int32),
                         np.asarray(arrays["feature"], np.int32), np.asarray(arrays["threshold"], np.float64),
                         np.asarray(arrays["leaf_values"], np.float32), np.asarray(arrays["roots"], np.int32))
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{where}: not an rfsr forest ({exc})") from exc
        forest.check(where)
        return forest

    def check(self, where: str) -> None:
        n = self.n_nodes
        same = {self.right.size, self.feature.size, self.threshold.size}
        if self.left.ndim != 1 or same != {n} or self.leaf_values.ndim != 2 or self.roots.ndim != 1 or not n:
            raise ModelError(f"{where}: the forest's arrays do not fit together (shapes differ)")
        idx = np.arange(n)
        internal = self.left >= 0
        leaf_rows = -self.left[~internal] - 1
        bad = (np.any((self.left[internal] <= idx[internal]) | (self.left[internal] >= n))
               or np.any((self.right[internal] <= idx[internal]) | (self.right[internal] >= n))
               or np.any(self.feature[internal] < 0)
               or np.any(leaf_rows >= len(self.leaf_values))
               or np.any((self.roots < 0) | (self.roots >= n)) or not self.roots.size)
        if bad:
            raise ModelError(f"{where}: the forest's node links are invalid (corrupt file)")

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Mean leaf value of the trees for each row of ``X`` ``(n, features)`` -> ``(n, outputs)`` float32."""
        X = np.asarray(X, np.float32)
        n = X.shape[0]
        out = np.zeros((n, self.n_outputs), np.float64)
        for root in self.roots:
            node = np.full(n, root, np.int64)
            todo = np.arange(n) if self.left[root] >= 0 else np.arange(0)
            while todo.size:  # children always follow their parent: at most tree-depth rounds
                at = node[todo]
                go_left = X[todo, self.feature[at]] <= self.threshold[at]
                nxt = np.where(go_left, self.left[at], self.right[at])
                node[todo] = nxt
                todo = todo[self.left[nxt] >= 0]
            out += self.leaf_values[-self.left[node] - 1]
        return (out / len(self.roots)).astype(np.float32)


def fit_forest(X: np.ndarray, Y: np.ndarray, *, trees: int = 8, leaves: int | None = 4000, min_leaf: int = 20,
               seed: int = 0, jobs: int = 1) -> Forest:
    """An extra-trees regression forest fitted on ``X -> Y`` (scikit-learn), as arrays."""
    from sklearn.ensemble import ExtraTreesRegressor

    model = ExtraTreesRegressor(n_estimators=trees, max_leaf_nodes=leaves, min_samples_leaf=min_leaf,
                                random_state=seed, n_jobs=jobs)
    model.fit(X, Y)
    return Forest.from_sklearn(model.estimators_)


def load_forest(path: Path, card: ModelCard) -> Forest:
    """The forest in a ``.safetensors`` file (plain arrays: loading runs no code), checked against ``card``."""
    from safetensors.numpy import load_file

    try:
        arrays = load_file(str(path))
    except Exception as exc:  # safetensors raises its own types for files that are not safetensors
        raise ModelError(f"{path}: cannot read rfsr weights ({' '.join(str(exc).split())}); give a .safetensors "
                         "file written by `satsr train-rfsr`") from exc
    forest = Forest.from_arrays(arrays, str(path))
    radius = int(card.arch.get("radius", RADIUS))
    if forest.n_outputs != card.scale ** 2 or forest.n_features > (2 * radius + 1) ** 2:
        raise ModelError(f"{path}: the forest predicts {forest.n_outputs} values from {forest.n_features} features; "
                         f"card {card.id} (x{card.scale}, radius {radius}) needs {card.scale ** 2}")
    return forest


# ----------------------------------------------------------------------------- the upscaler


class RFSR(Upscaler):
    """Random-forest SR (module docstring): a trained forest, or one fitted on the input (``self_fit``)."""

    name = "rfsr"
    scales = SCALES
    bands = None

    def __init__(self, scale: int, forest: Forest | None, card: ModelCard | None, self_fit: bool = False,
                 degradation: str = "bicubic", trees: int = 16, min_leaf: int = 20, samples: int = 200_000,
                 seed: int = 0, radius: int = RADIUS) -> None:
        self.scale = int(scale)
        self.scales = (self.scale,)
        self.card = card
        self.forest = forest
        self.self_fit = self_fit
        self.degradation = degradation
        self.trees, self.min_leaf, self.samples, self.seed = trees, min_leaf, samples, seed
        self.radius = radius
        # the forest's own factor and how many times it runs: self-fitted x4 is x2 twice
        self.stage, self.stages = (2, 2) if self_fit and self.scale == 4 else (self.scale, 1)
        reach = max(radius, BICUBIC_REACH) + 1
        self.margin = reach + (reach + 1) // 2 if self.stages == 2 else reach

    def describe(self) -> str:
        return f"{self.name} x{self.scale}" + (" (fitted on its input)" if self.self_fit else "")

    def fit(self, x: np.ndarray | None, valid: np.ndarray | None = None,
            progress: FitProgress | None = None) -> None:
        """``self=true``: fit the forest on ``x`` and its downscaled copy (8 flips/rotations), HR blocks with
        an invalid pixel left out; None forgets it. Trained forests ignore this."""
        if not self.self_fit:
            return
        self.forest = None if x is None else self._fit_self(np.asarray(x), valid, progress)

    def _fit_self(self, x: np.ndarray, valid: np.ndarray | None, progress: FitProgress | None) -> Forest:
        s = self.stage
        if min(x.shape[-2:]) < 2 * s:
            raise OptionError(f"rfsr self=true needs an input of at least {2 * s} px a side to learn x{s} from")
        rng = np.random.default_rng(self.seed)
        feats, targets = [], []
        for k in range(8):
            hr, lr = degrade(dihedral(x, k), self.stage, self.degradation)
            hv = None if valid is None else dihedral(valid, k)[:, :hr.shape[1], :hr.shape[2]]
            f, t = training_samples(hr, lr, self.stage, hv, self.samples // 8, rng, self.radius)
            feats.append(f)
            targets.append(t)
            if progress is not None:
                progress((k + 1) / 10)
        X, Y = np.concatenate(feats), np.concatenate(targets)
        if len(X) < 2 * self.min_leaf:
            raise OptionError(f"rfsr self=true: the input has too few valid pixels ({len(X)} blocks) to learn from")
        forest = fit_forest(X, Y, trees=self.trees, leaves=None, min_leaf=self.min_leaf, seed=self.seed)
        if progress is not None:
            progress(1.0)
        return forest

    def call_masked(self, x: np.ndarray, valid: np.ndarray | None) -> Array:
        """Without a prior ``fit``, ``self=true`` fits on this very input (each call learns from its own)."""
        forest = self.forest
        if forest is None and self.self_fit:
            forest = self._fit_self(np.asarray(to_numpy(x)), valid, None)
        return self._run(x, forest)

    def __call__(self, x: Array) -> Array:
        return self.call_masked(np.asarray(to_numpy(x)), None)

    def _run(self, x: Array, forest: Forest | None) -> np.ndarray:
        lr = np.asarray(to_numpy(x))
        if lr.ndim != 3:
            raise ValueError(f"expected (bands, h, w), got shape {lr.shape}")
        if forest is None:
            raise ModelError("rfsr: no forest (no weights for this scale, and self=true not set)")
        dtype = np.float64 if lr.dtype == np.float64 else np.float32
        y = lr
        for _ in range(self.stages):
            y = self._stage(y, forest)
        return y.astype(dtype)

    def _stage(self, lr: np.ndarray, forest: Forest) -> np.ndarray:
        """One pass of the forest: bicubic by ``self.stage`` plus the predicted detail, float64."""
        c, h, w = lr.shape
        s = self.stage
        feats, contrast = zip(*(lr_features(lr[b], self.radius) for b in range(c)), strict=True)
        detail = forest.predict(np.concatenate(feats)) * np.concatenate(contrast)[:, None]
        up = bicubic(lr, s)
        for b in range(c):
            up[b] += from_blocks(detail[b * h * w:(b + 1) * h * w], h, w, s)
        return up


def build_rfsr(scale: int, card: ModelCard | None = None, weights_path: Path | None = None, self: bool = False,
               degradation: str | None = None, trees: int = 16, min_leaf: int = 20, samples: int = 200_000,
               seed: int = 0) -> RFSR:
    """The registry's factory: the card's forest, or (``self=True``) one fitted on each input."""
    if degradation is not None and not self:
        raise OptionError("rfsr: --set degradation applies to self=true (a trained forest has its card's)")
    if degradation is not None and degradation not in DEGRADATIONS:
        raise OptionError(f"rfsr: unknown degradation {degradation!r}; use {' or '.join(DEGRADATIONS)}")
    if self:
        if weights_path is not None and weights_path.parent.resolve() != WEIGHTS_DIR.resolve():
            raise OptionError("rfsr: give either --weights or self=true, not both")
        return RFSR(scale, None, None, True, degradation or "bicubic", trees, min_leaf, samples, seed)
    if card is None or weights_path is None:
        raise ModelError(f"model 'rfsr' has no trained forest for scale {scale} (shipped: x2, x4); use --set "
                         "self=true to fit one on the input, or train one with `satsr train-rfsr`")
    forest = load_forest(weights_path, card)
    return RFSR(scale, forest, card, radius=int(card.arch.get("radius", RADIUS)))


register("rfsr", kind="sisr", neural=False, learned=True, scales=SCALES, margin=max(RADIUS, BICUBIC_REACH) + 1,
         description="random-forest SR: extra-trees from normalised 5x5 LR patches to detail over bicubic; "
                     "shipped forests (UC Merced) or self=true (fitted on the input)",
         paper="Schulter et al. 2015, Fast and Accurate Image Upscaling with Super-Resolution Forests")(build_rfsr)

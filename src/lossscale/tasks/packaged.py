"""scikit-learn's packaged datasets and a seeded train/test split, without importing it.

Importing scikit-learn costs a training job about a second (most of it SciPy), and a
study runs dozens of jobs; the data are two small gzipped text files in the installed
package, read here with NumPy. The split draws one permutation from NumPy's legacy
``RandomState(seed)``, so the unstratified split is scikit-learn's ``train_test_split``
with ``random_state=seed`` (tests/test_tasks.py checks both against scikit-learn).
"""

from __future__ import annotations

import gzip
import importlib.util
import math
from pathlib import Path

import numpy as np


def data_dir() -> Path:
    """``sklearn/datasets/data`` of the installed scikit-learn (located, not imported)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "scikit-learn is not installed; the diabetes and digits tasks read its packaged "
            "data (pip install -r requirements.lock)"
        )
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data"


def _table(name: str, delimiter: str | None = None) -> np.ndarray:
    with gzip.open(data_dir() / name, "rt") as fh:
        return np.loadtxt(fh, delimiter=delimiter, ndmin=2)


def diabetes() -> tuple[np.ndarray, np.ndarray]:
    """442 patients' 10 baseline variables (unscaled) and disease progression a year on."""
    return _table("diabetes_data_raw.csv.gz"), _table("diabetes_target.csv.gz")[:, 0]


def digits() -> tuple[np.ndarray, np.ndarray]:
    """1797 8x8 images of handwritten digits (pixels 0..16, flattened) and their labels."""
    table = _table("digits.csv.gz", delimiter=",")
    return table[:, :-1], table[:, -1].astype(np.int64)


def split(
    n: int, test_fraction: float, seed: int, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices of ``n`` examples, a fraction ``test_fraction`` of them test.

    Without ``labels``: the first ``ceil(test_fraction * n)`` indices of one permutation
    are the test set, the rest in permuted order the training set. With
    ``labels`` (stratified): each class gives ``round(test_fraction * its count)`` of its
    examples, drawn in class order from the same generator; indices come back sorted.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(
            f"test_fraction: value {test_fraction!r} is not allowed; allowed: 0 < x < 1"
        )
    rng = np.random.RandomState(seed)
    if labels is None:
        order = rng.permutation(n)
        n_test = math.ceil(test_fraction * n)
        return order[n_test:], order[:n_test]
    test = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        test.append(rng.permutation(members)[: round(test_fraction * len(members))])
    test_idx = np.sort(np.concatenate(test))
    return np.setdiff1d(np.arange(n), test_idx), test_idx

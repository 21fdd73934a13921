"""Tasks and their per-replica losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_diabetes, load_digits
from sklearn.model_selection import train_test_split

from lossscale.tasks import packaged
from lossscale.tasks.digits import digits_task
from lossscale.tasks.losses import cross_entropy, error_rate, focal, mse
from lossscale.tasks.teacher_student import teacher_student_task


@pytest.fixture(scope="module")
def logits():
    gen = torch.Generator().manual_seed(0)
    return torch.randn(3, 7, 4, generator=gen, dtype=torch.float64) * 3


Y = torch.tensor([0, 1, 2, 3, 0, 1, 2])


def test_cross_entropy_equals_torch_per_replica(logits):
    expected = torch.stack([F.cross_entropy(logits[r], Y) for r in range(3)])
    torch.testing.assert_close(cross_entropy(logits, Y), expected, rtol=1e-14, atol=0)


def test_focal_loss_by_hand_and_limits(logits):
    p = torch.softmax(logits, dim=-1)[:, torch.arange(7), Y]
    by_hand = (-((1 - p) ** 2) * torch.log(p)).mean(dim=1)
    torch.testing.assert_close(focal(logits, Y), by_hand, rtol=1e-12, atol=0)
    torch.testing.assert_close(focal(logits, Y, gamma=0.0), cross_entropy(logits, Y))
    assert (focal(logits, Y) < cross_entropy(logits, Y)).all()


def test_error_rate_and_mse():
    logits = torch.tensor([[[2.0, 0.0], [0.0, 1.0]], [[0.0, 2.0], [0.0, 1.0]]])
    assert error_rate(logits, torch.tensor([0, 1])).tolist() == [0.0, 0.5]
    pred = torch.tensor([[1.0, 3.0], [0.0, 0.0]])
    assert mse(pred, torch.tensor([1.0, 1.0])).tolist() == [2.0, 1.0]


def test_packaged_data_are_scikit_learns():
    x, y = packaged.diabetes()
    x_ref, y_ref = load_diabetes(return_X_y=True, scaled=False)
    assert np.array_equal(x, x_ref) and np.array_equal(y, y_ref) and x.shape == (442, 10)
    x, y = packaged.digits()
    x_ref, y_ref = load_digits(return_X_y=True)
    assert np.array_equal(x, x_ref) and np.array_equal(y, y_ref) and y.dtype == np.int64


@pytest.mark.parametrize("n, fraction, seed", [(442, 0.2, 0), (442, 0.25, 7), (10, 0.33, 3)])
def test_split_is_train_test_split(n, fraction, seed):
    train, test = packaged.split(n, fraction, seed)
    ref_train, ref_test = train_test_split(np.arange(n), test_size=fraction, random_state=seed)
    assert np.array_equal(train, ref_train) and np.array_equal(test, ref_test)


def test_stratified_split_keeps_each_class_share():
    labels = np.repeat([0, 1, 2], [40, 20, 10])
    train, test = packaged.split(70, 0.25, 0, labels=labels)
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(70))
    assert np.bincount(labels[test]).tolist() == [10, 5, 2]  # round(0.25 x 10) = 2
    assert not np.array_equal(test, packaged.split(70, 0.25, 1, labels=labels)[1])
    with pytest.raises(ValueError, match=r"test_fraction: value 1\.0 is not allowed"):
        packaged.split(70, 1.0, 0)


def test_digits_task_is_a_standardized_stratified_split():
    args = dict(hidden=[16], test_fraction=0.25, split_seed=0, activation="tanh", channels=[8, 16])
    task = digits_task(**args, objective="cross_entropy", model="mlp")
    assert task.model.args["sizes"] == (64, 16, 10) and task.classification
    assert task.y_train.dtype == torch.long and set(task.y_test.tolist()) == set(range(10))
    assert len(task.y_train) + len(task.y_test) == 1797
    assert abs(float(task.x_train.mean())) < 1e-12
    assert digits_task(**args, objective="focal", model="mlp").objective == "focal"
    images = digits_task(**args, objective="cross_entropy", model="cnn")
    assert images.x_train.shape == (len(task.y_train), 1, 8, 8)
    assert torch.equal(images.x_train.flatten(1), task.x_train) and images.model.name == "cnn"


def test_modular_task_holds_every_pair_once():
    from lossscale.tasks.modular import modular_task

    args = dict(modulus=7, train_fraction=0.5, data_seed=0, width=8, heads=2, blocks=1)
    task = modular_task(**args, objective="cross_entropy", dtype=torch.float32, device="cpu")
    tokens = torch.cat([task.x_train, task.x_test])
    labels = torch.cat([task.y_train, task.y_test])
    assert len(tokens) == 49 and len(task.y_train) == round(0.5 * 49)
    assert len({tuple(t.tolist()) for t in tokens}) == 49 and (tokens[:, 2] == 7).all()
    assert torch.equal(labels, (tokens[:, 0] + tokens[:, 1]) % 7)
    assert task.dtype == torch.float32 and task.x_train.dtype == torch.long
    assert task.model.args["vocab"] == 8 and task.model.args["classes"] == 7


def test_teacher_student_is_deterministic_and_scaled():
    args = dict(inputs=5, teacher_hidden=8, hidden=[8], examples=200, test_fraction=0.25,
                noise=0.1, target_scale=1e-3, data_seed=3, activation="tanh")  # fmt: skip
    a, b = teacher_student_task(**args), teacher_student_task(**args)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert len(a.y_test) == 50
    assert float(a.y_train.std(correction=0)) == pytest.approx(1e-3, rel=1e-12)
    assert a.model.args["output_scale"] == 1e-3 and a.metric_scale == pytest.approx(1e-6)

import gc
import tracemalloc
import weakref

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sktorchcw import ClassWeightedLoss, criterion_formats, resolve_class_weight


def focal_loss(logits, target, gamma=2.0):
    """A user-written focal loss with no ``reduction`` argument: one loss per sample."""
    log_p = torch.log_softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1)
    return -((1 - log_p.exp()) ** gamma) * log_p


FOCAL = dict(criterion=focal_loss, input_format="logits", target_format="index")

# Every criterion of GUIDE.md section 2, plus a user focal loss and a functional loss.
CRITERIA = {
    "CrossEntropyLoss": dict(criterion=nn.CrossEntropyLoss()),
    "MultiMarginLoss": dict(criterion=nn.MultiMarginLoss()),
    "NLLLoss": dict(criterion=nn.NLLLoss()),
    "KLDivLoss": dict(criterion=nn.KLDivLoss()),
    "BCEWithLogitsLoss": dict(criterion=nn.BCEWithLogitsLoss()),
    "BCELoss": dict(criterion=nn.BCELoss()),
    "L1Loss": dict(criterion=nn.L1Loss()),
    "MSELoss": dict(criterion=nn.MSELoss()),
    "SmoothL1Loss": dict(criterion=nn.SmoothL1Loss()),
    "HuberLoss": dict(criterion=nn.HuberLoss(delta=0.5)),
    "F.l1_loss": dict(criterion=F.l1_loss),
    "focal": FOCAL,
}


def make_batch(n=12, n_classes=3, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, n_classes, generator=gen, dtype=dtype)
    y = torch.randint(0, n_classes, (n,), generator=gen)
    return logits, y


def what_criterion_receives(name, logits, y):
    """The input and target GUIDE.md section 2 prescribes, built by hand."""
    n_classes = logits.shape[1]
    onehot = F.one_hot(y, n_classes).to(logits.dtype)
    if name in ("CrossEntropyLoss", "MultiMarginLoss"):
        return logits, y
    if name == "NLLLoss":
        return torch.log_softmax(logits, 1), y
    if name == "KLDivLoss":
        return torch.log_softmax(logits, 1), onehot
    if name == "BCEWithLogitsLoss":
        return logits, onehot
    return torch.softmax(logits, 1), onehot


# --- exact agreement with PyTorch's native weight= ------------------------------------------


@pytest.mark.parametrize("n_classes", [2, 3, 5, 10])
@pytest.mark.parametrize("native_cls, transform", [
    (nn.CrossEntropyLoss, lambda z: z),
    (nn.NLLLoss, lambda z: torch.log_softmax(z, 1)),
])
def test_weighted_mean_equals_native_weight_in_value_and_gradient(n_classes, native_cls, transform):
    logits, y = make_batch(n=17, n_classes=n_classes, seed=n_classes)
    y[y == n_classes - 1] = 0  # the last class is absent from this batch
    weights = torch.linspace(0.5, 3.0, n_classes)

    ours_in = logits.clone().requires_grad_(True)
    ours = ClassWeightedLoss(native_cls, weights, reduction="weighted_mean")(ours_in, y)
    ours.backward()
    native_in = logits.clone().requires_grad_(True)
    native = native_cls(weight=weights)(transform(native_in), y)
    native.backward()

    torch.testing.assert_close(ours, native, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(ours_in.grad, native_in.grad, atol=1e-6, rtol=1e-6)


def test_mean_equals_weighted_sum_over_n_computed_by_hand():
    logits = np.array([[2.0, 0.0, -1.0], [0.1, 0.2, 0.3], [-1.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
    y = np.array([0, 2, 1, 2])
    w = np.array([1.0, 4.0, 0.5])
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    per_sample = -log_p[np.arange(4), y]
    expected = (w[y] * per_sample).sum() / len(y)

    loss = ClassWeightedLoss(nn.CrossEntropyLoss(), w, reduction="mean")
    got = loss(torch.tensor(logits, dtype=torch.float64), torch.tensor(y))
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_sum_reduction_is_the_weighted_sum():
    logits, y = make_batch()
    w = torch.tensor([1.0, 2.0, 3.0])
    per_sample = F.cross_entropy(logits, y, reduction="none")
    got = ClassWeightedLoss(nn.CrossEntropyLoss, w, reduction="sum")(logits, y)
    torch.testing.assert_close(got, (w[y] * per_sample).sum())


def test_output_weighting_equals_the_blog_loop():
    logits, y = make_batch(n=20, n_classes=4, seed=3)
    w = [0.5, 2.0, 1.0, 7.0]
    p = torch.softmax(logits, 1)
    onehot = F.one_hot(y, 4).float()
    blog = sum(nn.L1Loss()(p[:, j], onehot[:, j]) * w[j] for j in range(4))

    ours = ClassWeightedLoss(nn.L1Loss(), w, weighting="output")(logits, y)
    torch.testing.assert_close(ours, blog)


def test_output_weighting_sum_reduction_scales_by_batch_size():
    logits, y = make_batch(n=8)
    mean = ClassWeightedLoss(nn.MSELoss(), [1, 2, 3], weighting="output")(logits, y)
    total = ClassWeightedLoss(nn.MSELoss(), [1, 2, 3], weighting="output", reduction="sum")(
        logits, y
    )
    torch.testing.assert_close(total, mean * 8)


# --- every criterion trains, with 'balanced' and with a dict ---------------------------------


@pytest.mark.parametrize("name", list(CRITERIA))
@pytest.mark.parametrize("class_weight", ["balanced", {0: 1.0, 1: 3.0, 2: 0.5}])
def test_every_criterion_trains_a_tiny_model_with_finite_decreasing_loss(name, class_weight):
    torch.manual_seed(0)
    x = torch.randn(60, 4)
    y = torch.cat([torch.zeros(40), torch.ones(15), torch.full((5,), 2.0)]).long()
    x[:, 0] += y.float() * 1.5  # make the classes learnable
    weights = resolve_class_weight(class_weight, classes=[0, 1, 2], y=y.numpy())
    loss_fn = ClassWeightedLoss(class_weight=weights, **CRITERIA[name])
    model = nn.Linear(4, 3)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("name", list(CRITERIA))
def test_raising_a_class_weight_raises_that_class_share_of_the_loss(name):
    logits, y = make_batch(n=30, n_classes=3, seed=7)

    def share_of_class_1(weights):
        loss_fn = ClassWeightedLoss(class_weight=weights, reduction="sum", **CRITERIA[name])
        mask = y == 1
        return (loss_fn(logits[mask], y[mask]) / loss_fn(logits, y)).item()

    assert share_of_class_1([1.0, 5.0, 1.0]) > share_of_class_1([1.0, 1.0, 1.0])


@pytest.mark.parametrize("name", [n for n in CRITERIA if n != "focal"])
def test_all_ones_weights_reproduce_the_unweighted_criterion(name):
    logits, y = make_batch(n=16, n_classes=3, seed=11)
    criterion = CRITERIA[name]["criterion"]
    inputs, target = what_criterion_receives(name, logits, y)
    expected = criterion(inputs, target)  # the criterion's own reduction='mean'
    for class_weight in (None, [1.0, 1.0, 1.0]):
        got = ClassWeightedLoss(criterion, class_weight)(logits, y)
        torch.testing.assert_close(got, expected, atol=1e-7, rtol=1e-6)


def test_sample_weight_multiplies_the_class_weight():
    logits, y = make_batch(n=10, n_classes=3, seed=5)
    w = torch.tensor([1.0, 2.0, 3.0])
    s = torch.linspace(0.0, 2.0, 10)
    per_sample = F.cross_entropy(logits, y, reduction="none")
    got = ClassWeightedLoss(nn.CrossEntropyLoss(), w)(logits, y, sample_weight=s)
    torch.testing.assert_close(got, (s * w[y] * per_sample).sum() / 10)


def test_sample_weight_of_two_doubles_the_mean_loss():
    logits, y = make_batch()
    loss_fn = ClassWeightedLoss(nn.L1Loss(), [1.0, 2.0, 3.0])
    once = loss_fn(logits, y)
    twice = loss_fn(logits, y, sample_weight=np.full(len(y), 2.0))
    torch.testing.assert_close(twice, 2 * once)


def test_weighted_mean_of_a_batch_with_zero_total_weight_is_zero_not_nan():
    logits, y = make_batch(n=6, n_classes=3)
    y[:] = 0
    got = ClassWeightedLoss(nn.CrossEntropyLoss(), [0.0, 1.0, 1.0], reduction="weighted_mean")(
        logits, y
    )
    assert got.item() == 0.0


# --- single-logit binary ---------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(8,), (8, 1)])
def test_single_logit_bce_with_logits_uses_class_weights(shape):
    gen = torch.Generator().manual_seed(1)
    logit = torch.randn(shape, generator=gen)
    y = torch.tensor([0, 1, 0, 0, 1, 0, 0, 0])
    w = torch.tensor([1.0, 6.0])
    per_sample = F.binary_cross_entropy_with_logits(logit.reshape(-1), y.float(), reduction="none")
    got = ClassWeightedLoss(nn.BCEWithLogitsLoss(), w)(logit, y)
    torch.testing.assert_close(got, (w[y] * per_sample).sum() / 8)


@pytest.mark.parametrize("criterion", [nn.BCELoss(), nn.L1Loss(), nn.MSELoss()])
def test_single_logit_probability_losses_see_the_sigmoid(criterion):
    logit = torch.tensor([0.3, -2.0, 1.5])
    y = torch.tensor([1, 0, 0])
    w = torch.tensor([2.0, 0.5])
    per_sample = type(criterion)(reduction="none")(torch.sigmoid(logit), y.float())
    got = ClassWeightedLoss(criterion, w)(logit, y)
    torch.testing.assert_close(got, (w[y] * per_sample).sum() / 3)


def test_single_logit_binary_model_learns_the_rare_class():
    torch.manual_seed(0)
    x = torch.randn(200, 3)
    y = (x[:, 0] > 1.3).long()  # about 10 % positives
    weights = resolve_class_weight("balanced", classes=[0, 1], y=y.numpy())
    loss_fn = ClassWeightedLoss(nn.BCEWithLogitsLoss(), weights)
    model = nn.Linear(3, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    for _ in range(200):
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
    predicted = (model(x).squeeze(1) > 0).long()
    recall = (predicted[y == 1] == 1).float().mean().item()
    assert recall > 0.8


def test_index_criterion_with_a_single_logit_is_a_clear_error():
    with pytest.raises(ValueError, match="single logit"):
        ClassWeightedLoss(nn.CrossEntropyLoss())(torch.randn(4, 1), torch.tensor([0, 1, 0, 1]))


class SubclassedCrossEntropy(nn.CrossEntropyLoss):
    """Not the exact class, so ClassWeightedLoss takes its general elementwise path."""


class SubclassedNLL(nn.NLLLoss):
    """Not the exact class, so ClassWeightedLoss takes its general elementwise path."""


@pytest.mark.parametrize("reduction", ["mean", "weighted_mean", "sum"])
@pytest.mark.parametrize("fused, general", [
    (nn.CrossEntropyLoss(), SubclassedCrossEntropy()),
    (nn.NLLLoss(), SubclassedNLL()),
])
@pytest.mark.parametrize("class_weight", [None, [0.5, 2.0, 0.0, 3.0]])
def test_fused_kernel_path_equals_the_general_path(fused, general, reduction, class_weight):
    logits, y = make_batch(n=16, n_classes=4, seed=3)
    results = []
    for criterion in (fused, general):
        z = logits.clone().requires_grad_(True)
        loss = ClassWeightedLoss(criterion, class_weight, reduction=reduction)(z, y)
        loss.backward()
        results.append((loss.detach(), z.grad))
    (fused_loss, fused_grad), (general_loss, general_grad) = results
    torch.testing.assert_close(fused_loss, general_loss)
    torch.testing.assert_close(fused_grad, general_grad)


@pytest.mark.parametrize("reduction", ["mean", "weighted_mean"])
def test_cross_entropy_with_onehot_targets_takes_the_general_path(reduction):
    logits, y = make_batch(n=10, n_classes=3, seed=5)
    weights = torch.tensor([1.0, 3.0, 0.5])
    loss = ClassWeightedLoss(nn.CrossEntropyLoss(), weights, reduction=reduction,
                             target_format="onehot")(logits, y)
    per_sample = nn.CrossEntropyLoss(reduction="none")(logits, y)
    divisor = weights[y].sum() if reduction == "weighted_mean" else len(y)
    torch.testing.assert_close(loss, (weights[y] * per_sample).sum() / divisor)


def test_ignore_index_is_refused_with_the_weight_that_does_it():
    with pytest.raises(ValueError, match="class weight of 0"):
        ClassWeightedLoss(nn.CrossEntropyLoss(ignore_index=0))


@pytest.mark.parametrize("bad, index", [(5, "5"), (-1, "-1"), (-100, "-100")])
def test_targets_outside_the_classes_are_a_value_error(bad, index):
    logits, y = make_batch(n=6, n_classes=3)
    y[2] = bad
    for criterion in (nn.CrossEntropyLoss(), nn.L1Loss()):
        with pytest.raises(ValueError, match=f"class index {index}.*0 to 2"):
            ClassWeightedLoss(criterion)(logits, y)
    with pytest.raises(ValueError, match="0 to 1"):
        ClassWeightedLoss(nn.BCEWithLogitsLoss())(logits[:, 0], torch.tensor([0, 1, 2, 0, 1, 0]))


@pytest.mark.parametrize("sample_weight, match", [
    (np.array([1.0, -1.0, 1.0, 1.0, 1.0, 1.0]), "non-negative"),
    (np.array([1.0, np.nan, 1.0, 1.0, 1.0, 1.0]), "finite"),
    (np.array([1.0, np.inf, 1.0, 1.0, 1.0, 1.0]), "finite"),
    (np.ones((2, 3)), r"shape \(2, 3\)"),
    (np.ones(5), r"shape \(5,\)"),
])
def test_bad_sample_weights_are_a_value_error(sample_weight, match):
    logits, y = make_batch(n=6, n_classes=3)
    with pytest.raises(ValueError, match=match):
        ClassWeightedLoss(nn.L1Loss(), reduction="weighted_mean")(logits, y, sample_weight)


@pytest.mark.parametrize("criterion", [nn.L1Loss(), nn.MSELoss, nn.HuberLoss(), nn.BCELoss(),
                                       F.l1_loss])
def test_output_weighting_of_two_softmax_columns_only_rescales_and_says_so(criterion):
    logits, y = make_batch(n=16, n_classes=2, seed=6)
    with pytest.warns(UserWarning, match="same loss"):
        weighted = ClassWeightedLoss(criterion, [1.0, 10.0], weighting="output")(logits, y)
    plain = ClassWeightedLoss(criterion)(logits, y)
    torch.testing.assert_close(weighted, 11.0 * plain)


@pytest.mark.parametrize("kwargs", [
    dict(criterion=nn.KLDivLoss(), class_weight=[1.0, 10.0]),  # not symmetric
    dict(criterion=nn.L1Loss(), class_weight=[1.0, 10.0, 3.0]),  # three columns
    dict(criterion=nn.L1Loss(), class_weight=[2.0, 2.0]),  # equal weights
])
def test_output_weighting_that_does_weigh_does_not_warn(kwargs, recwarn):
    ClassWeightedLoss(weighting="output", **kwargs)
    assert not [w for w in recwarn if "same loss" in str(w.message)]


def test_a_criterion_module_without_reduction_is_copied_not_moved():
    class OwnLoss(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("scale", torch.ones(1))

        def forward(self, logits, target):
            return self.scale * F.cross_entropy(logits, target, reduction="none")

    own = OwnLoss()
    loss_fn = ClassWeightedLoss(own, input_format="logits", target_format="index")
    loss_fn.double().eval()
    assert loss_fn.criterion is not own
    assert own.scale.dtype == torch.float32 and own.training


def test_label_smoothing_is_weighted_per_sample_not_per_class():
    logits, y = make_batch(n=16, n_classes=3, seed=4)
    weights = torch.tensor([1.0, 3.0, 0.5])
    smoothed = nn.CrossEntropyLoss(label_smoothing=0.2, reduction="none")(logits, y)
    expected = (weights[y] * smoothed).sum() / len(y)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.2)
    torch.testing.assert_close(ClassWeightedLoss(criterion, weights)(logits, y), expected)


# --- declarations, errors and not touching what the user gave ---------------------------------


def test_criterion_is_called_once_per_batch():
    calls = []

    def counting_l1(inputs, target):
        calls.append(inputs.shape)
        return (inputs - target).abs()

    loss_fn = ClassWeightedLoss(
        counting_l1, np.ones(10), input_format="probabilities", target_format="onehot"
    )
    loss_fn(*make_batch(n=50, n_classes=10))
    assert calls == [torch.Size([50, 10])]


def test_unknown_criterion_without_declaration_says_how_to_declare():
    with pytest.raises(ValueError, match="input_format=.*target_format="):
        ClassWeightedLoss(focal_loss)


def test_declaration_overrides_the_known_table():
    loss_fn = ClassWeightedLoss(nn.MSELoss(), input_format="logits")
    logits, y = make_batch()
    expected = F.mse_loss(logits, F.one_hot(y, 3).float())
    torch.testing.assert_close(loss_fn(logits, y), expected)


def test_criterion_that_reduces_by_itself_is_rejected_with_advice():
    def reducing(inputs, target):
        return (inputs - target).abs().mean()

    loss_fn = ClassWeightedLoss(reducing, input_format="probabilities", target_format="onehot")
    with pytest.raises(ValueError, match="one loss per sample"):
        loss_fn(*make_batch())


def test_the_users_criterion_is_not_modified():
    criterion = nn.L1Loss()
    ClassWeightedLoss(criterion, [1.0, 2.0, 3.0])(*make_batch())
    assert criterion.reduction == "mean"


def test_a_criterion_class_is_instantiated_unreduced():
    assert ClassWeightedLoss(nn.HuberLoss).criterion.reduction == "none"


def test_criterion_with_its_own_weight_is_rejected():
    with pytest.raises(ValueError, match="applied twice"):
        ClassWeightedLoss(nn.CrossEntropyLoss(weight=torch.ones(3)), [1.0, 1.0, 1.0])


@pytest.mark.parametrize("kwargs, match", [
    (dict(criterion=nn.CrossEntropyLoss(), weighting="output"), "one-hot targets"),
    (dict(criterion=nn.L1Loss(), weighting="output", reduction="weighted_mean"), "per sample"),
    (dict(criterion=nn.L1Loss(), reduction="average"), "reduction='average'"),
    (dict(criterion=nn.L1Loss(), weighting="class"), "weighting='class'"),
    (dict(criterion=nn.L1Loss(), class_weight="balanced"), "resolve_class_weight"),
    (dict(criterion=nn.L1Loss(), class_weight=[1.0, -2.0]), "entry 1 is -2.0"),
    (dict(criterion=nn.L1Loss(), class_weight=[0.0, 0.0]), "all zeros"),
    (dict(criterion=nn.L1Loss(), input_format="softmax"), "input_format='softmax'"),
    (dict(criterion=nn.KLDivLoss(log_target=True)), "log_target"),
])
def test_bad_arguments_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ClassWeightedLoss(**kwargs)


def test_wrong_number_of_class_weights_for_the_output_is_an_error():
    with pytest.raises(ValueError, match="2 entries but y_pred has 3 classes"):
        ClassWeightedLoss(nn.L1Loss(), [1.0, 2.0])(*make_batch())


def test_output_weighting_with_a_single_logit_is_an_error():
    loss_fn = ClassWeightedLoss(nn.L1Loss(), [1.0, 1.0], weighting="output")
    with pytest.raises(ValueError, match="one column per class"):
        loss_fn(torch.randn(4), torch.tensor([0, 1, 0, 1]))


def test_float_targets_are_a_type_error():
    with pytest.raises(TypeError, match="y_true.long"):
        ClassWeightedLoss(nn.L1Loss())(torch.randn(4, 2), torch.tensor([0.0, 1.0, 0.0, 1.0]))


def test_known_formats_follow_the_guide():
    assert criterion_formats(nn.NLLLoss()) == ("log_probabilities", "index")
    assert criterion_formats(nn.KLDivLoss) == ("log_probabilities", "onehot")
    assert criterion_formats(nn.BCEWithLogitsLoss()) == ("logits", "onehot")
    assert criterion_formats(focal_loss) is None


# --- dtype, device, memory ------------------------------------------------------------------


def test_float64_inputs_give_float64_loss_and_gradients():
    logits, y = make_batch(dtype=torch.float64)
    logits.requires_grad_(True)
    loss = ClassWeightedLoss(nn.HuberLoss(), [1.0, 2.0, 3.0])(logits, y, sample_weight=[1.0] * 12)
    loss.backward()
    assert loss.dtype == torch.float64 and logits.grad.dtype == torch.float64


def test_weights_move_with_the_module():
    loss_fn = ClassWeightedLoss(nn.L1Loss(), [1.0, 2.0]).to(torch.float64)
    assert loss_fn.weight.dtype == torch.float64


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_cuda():
    loss_fn = ClassWeightedLoss(nn.BCEWithLogitsLoss(), [1.0, 5.0]).to("cuda")
    logits = torch.randn(8, 2, device="cuda")
    y = torch.randint(0, 2, (8,), device="cuda")
    cpu = ClassWeightedLoss(nn.BCEWithLogitsLoss(), [1.0, 5.0])(logits.cpu(), y.cpu())
    torch.testing.assert_close(loss_fn(logits, y).cpu(), cpu)


def test_losses_do_not_outlive_their_step():
    model = nn.Linear(4, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = ClassWeightedLoss(nn.L1Loss(), [1.0, 2.0, 3.0])
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    refs = []
    for _ in range(200):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        refs.append(weakref.ref(loss))
    del loss
    gc.collect()
    assert all(ref() is None for ref in refs)


def test_thousands_of_steps_keep_memory_bounded():
    model = nn.Linear(8, 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = ClassWeightedLoss(nn.MSELoss(), [1.0, 2.0, 3.0, 4.0])
    x, y = torch.randn(64, 8), torch.randint(0, 4, (64,))

    def train(steps):
        for _ in range(steps):
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()

    train(100)  # warm up allocator and caches
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    train(3000)
    gc.collect()
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert after - before < 256 * 1024


def test_unweighted_ignores_class_and_sample_weights():
    logits, y = make_batch()
    weighted = ClassWeightedLoss(nn.L1Loss(), class_weight=[1.0, 5.0, 0.5])
    plain = nn.L1Loss()(torch.softmax(logits, dim=1), F.one_hot(y, 3).float())
    torch.testing.assert_close(weighted.unweighted(logits, y), plain)
    assert not torch.allclose(weighted(logits, y), plain)


@pytest.mark.parametrize("criterion", [nn.CrossEntropyLoss(), nn.NLLLoss()])
@pytest.mark.parametrize("reduction", ["mean", "weighted_mean", "sum"])
@pytest.mark.parametrize("class_weight", [None, [0.5, 2.0, 3.0], [1.0, 1.0, 1.0]])
def test_plain_batches_take_the_fused_kernel_with_the_general_paths_value(
        criterion, reduction, class_weight):
    loss_fn = ClassWeightedLoss(criterion, class_weight, reduction=reduction)
    logits = torch.randn(16, 3, generator=torch.Generator().manual_seed(0), requires_grad=True)
    target = torch.arange(16) % 3
    fast = loss_fn(logits, target)
    (fast_grad,) = torch.autograd.grad(fast, logits)
    # The general path: the same batch through the parts that DDP and masks use.
    total, normaliser = loss_fn.parts(logits, target)
    general = total if normaliser is None else total / normaliser
    (general_grad,) = torch.autograd.grad(general, logits)
    torch.testing.assert_close(fast, general, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(fast_grad, general_grad, rtol=1e-6, atol=1e-7)


def test_class_weights_of_one_are_read_again_when_they_change():
    # Weights all 1 take the kernel's plain mean; weights loaded or changed later count.
    loss_fn = ClassWeightedLoss(nn.CrossEntropyLoss(), [1.0, 1.0, 1.0])
    logits = torch.randn(16, 3, generator=torch.Generator().manual_seed(0))
    target = torch.arange(16) % 3
    plain = F.cross_entropy(logits, target)
    torch.testing.assert_close(loss_fn(logits, target), plain, rtol=0, atol=0)
    loss_fn.load_state_dict({"weight": torch.tensor([0.5, 2.0, 3.0])})
    weighted = ClassWeightedLoss(nn.CrossEntropyLoss(), [0.5, 2.0, 3.0])(logits, target)
    torch.testing.assert_close(loss_fn(logits, target), weighted)
    loss_fn.weight.fill_(1.0)
    torch.testing.assert_close(loss_fn(logits, target), plain, rtol=0, atol=0)
    loss_fn.weight.mul_(2.0)  # 2 for every class: twice the mean
    torch.testing.assert_close(loss_fn(logits, target), 2 * plain)
    loss_fn.weight = torch.ones(3)
    torch.testing.assert_close(loss_fn(logits, target), plain, rtol=0, atol=0)


@pytest.mark.parametrize("reduction", ["mean", "weighted_mean", "sum"])
@pytest.mark.parametrize("class_weight", [None, [0.5, 2.0, 3.0]])
def test_per_frame_batches_take_the_fused_kernel_with_the_general_paths_value(
        reduction, class_weight):
    loss_fn = ClassWeightedLoss(nn.CrossEntropyLoss(), class_weight, reduction=reduction)
    logits = torch.randn(4, 3, 7, generator=torch.Generator().manual_seed(0), requires_grad=True)
    target = torch.arange(28).reshape(4, 7) % 3
    fast = loss_fn(logits, target)
    (fast_grad,) = torch.autograd.grad(fast, logits)
    total, normaliser = loss_fn.parts(logits, target, mask=torch.ones(4, 7, dtype=torch.bool))
    general = total if normaliser is None else total / normaliser
    (general_grad,) = torch.autograd.grad(general, logits)
    torch.testing.assert_close(fast, general, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(fast_grad, general_grad, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="y_true holds class index 3"):
        loss_fn(logits, target + 1)

"""Section q, skorch drop-in: sktorchcw.skorch.NeuralNetClassifier vs skorch's, tabular MLP.

Measures: the epoch time of ``sktorchcw.skorch.NeuralNetClassifier`` (unweighted,
``class_weight='balanced'``, and that with a ``sample_weight``) fitting an MLP on tabular
data.
Anchor: skorch's own ``skorch.NeuralNetClassifier`` with the same module, criterion and
iterators, epochs alternating.
Figures: balanced / skorch's, target <= 1.05; balanced / unweighted, target <= 1.03.

One fit epoch (``partial_fit``, ``train_split=None``) of an MLP
(50 -> 64 -> 64 -> 2) on 100,000 x 50 float32 tabular data (5 % positives), batches
of 256, skorch's ``DataLoader`` iterators with ``shuffle=True``, Adam, the same module
and criterion for every variant: skorch's own ``skorch.NeuralNetClassifier``
(unweighted), ``sktorchcw.skorch.NeuralNetClassifier`` unweighted, the same with
``class_weight='balanced'`` and, no target, with ``class_weight='balanced'`` and a
``sample_weight``. Epochs alternate as in b; each is skorch's ``EpochTimer``
duration (every batch and the net's epoch-end work); also the whole ``partial_fit``
call. With ``CrossEntropyLoss`` on logits, then skorch's default ``NLLLoss`` on a
softmax module. Targets: balanced / skorch's <= 1.05, balanced / unweighted <= 1.03.
"""

import time

import numpy as np
import skorch
import torch
from torch import nn

from common import alternate, at_most, medians, now, row

TITLE = "sktorchcw.skorch.NeuralNetClassifier vs skorch's, tabular MLP"

TABULAR_BATCH = 256  # section q


class TabularMLP(nn.Module):
    """Section q's MLP: 50 -> 64 -> 64 -> 2, logits (or probabilities with ``softmax``, for
    skorch's default NLLLoss)."""

    def __init__(self, n_in=50, hidden=64, n_out=2, softmax=False):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(),
                                    nn.Linear(hidden, hidden), nn.ReLU(),
                                    nn.Linear(hidden, n_out))
        self.softmax = softmax

    def forward(self, X):
        out = self.layers(X)
        return torch.softmax(out, dim=-1) if self.softmax else out


def tabular_data(n_samples, n_features, seed=0):
    """Float32 tabular X and imbalanced binary y (about 5 % positives) with some signal."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features)).astype(np.float32)
    score = X[:, :5].sum(axis=1) + rng.normal(scale=2.0, size=n_samples)
    y = (score > np.quantile(score, 0.95)).astype(np.int64)
    return X, y


def skorch_epochs(X, y, device, variants, rounds):
    """Epoch times of skorch nets, one epoch of each variant in turn (as in b).

    ``variants``: ``{name: (net class, params, fit_params)}``. Each net is fitted one
    (warm-up) epoch, then every round trains each one more epoch with ``partial_fit``, in
    alternating order. Returns ``{name: [seconds of the epoch, ...]}`` (skorch's
    ``EpochTimer``: from ``on_epoch_begin`` to ``on_epoch_end``, every batch and the
    net's own epoch-end work) and ``{name: [seconds of the partial_fit call, ...]}``
    (also the call's data checks and dataset building), and the process CPU time of the
    call (less disturbed than the wall clock by other processes on a shared machine).
    """
    nets = {}
    for name, (net_class, params, fit_params) in variants.items():
        torch.manual_seed(0)
        nets[name] = net_class(max_epochs=1, device=device, train_split=None, verbose=0,
                               **params).fit(X, y, **fit_params)
    calls = {name: [] for name in variants}
    cpu = {name: [] for name in variants}

    def epoch(name):
        net, fit_params = nets[name], variants[name][2]
        start, start_cpu = now(device), time.process_time()
        net.partial_fit(X, y, **fit_params)
        calls[name].append(now(device) - start)
        cpu[name].append(time.process_time() - start_cpu)
        return net.history[-1, "dur"]

    epochs = alternate({name: (lambda name=name: epoch(name)) for name in nets}, rounds)
    return epochs, calls, cpu


def measure(sizes, device):
    """q. sktorchcw.skorch.NeuralNetClassifier against skorch's own, an MLP on tabular data."""
    from sktorchcw.skorch import NeuralNetClassifier as WeightedClassifier

    n_samples, n_features = sizes.tabular_shape
    X, y = tabular_data(n_samples, n_features)
    weights = np.random.default_rng(1).uniform(0.5, 1.5, size=n_samples)
    rows = []
    for criterion, softmax, suffix in [(nn.CrossEntropyLoss, False, ""),
                                       (nn.NLLLoss, True, ", NLLLoss")]:
        common = {"module": TabularMLP, "module__n_in": n_features,
                  "module__softmax": softmax, "criterion": criterion, "lr": 0.01,
                  "optimizer": torch.optim.Adam, "batch_size": TABULAR_BATCH,
                  "iterator_train__shuffle": True}
        variants = {
            "skorch": (skorch.NeuralNetClassifier, common, {}),
            "ours": (WeightedClassifier, common, {}),
            "balanced": (WeightedClassifier, {**common, "class_weight": "balanced"}, {}),
        }
        if not softmax:
            variants["weighted"] = (WeightedClassifier, {**common, "class_weight": "balanced"},
                                    {"sample_weight": weights})
        epochs, calls, cpu = skorch_epochs(X, y, device, variants, sizes.tabular_rounds)
        times = medians(epochs)

        def ratio(first, second, results=epochs):
            per_round = np.divide(results[first], results[second])
            return float(np.median(per_round)), per_round

        labels = {"skorch": "skorch.NeuralNetClassifier epoch",
                  "ours": "sktorchcw.skorch, unweighted epoch",
                  "balanced": "sktorchcw.skorch, 'balanced' epoch",
                  "weighted": "sktorchcw.skorch, 'balanced' + sample_weight"}
        for name in variants:
            rows.append(row("q", labels[name] + suffix, times[name], "s", samples=epochs[name]))
        for (first, second, text, target) in [
                ("balanced", "skorch", "balanced / skorch's", at_most(1.05)),
                ("balanced", "ours", "balanced / unweighted", at_most(1.03)),
                ("ours", "skorch", "unweighted / skorch's", None),
                ("weighted", "balanced", "+ sample_weight / balanced", None)]:
            if first not in variants:
                continue
            value, per_round = ratio(first, second)
            rows.append(row("q", text + suffix, value, "ratio", target, per_round))
        for results, what in [(calls, "partial_fit call"), (cpu, "CPU time")]:
            for first, second, text in [("balanced", "skorch", "balanced / skorch's"),
                                        ("balanced", "ours", "balanced / unweighted")]:
                value, per_round = ratio(first, second, results)
                rows.append(row("q", f"{text}, {what}{suffix}", value, "ratio",
                                samples=per_round))
    return rows

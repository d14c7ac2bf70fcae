"""Section c, loss: ClassWeightedLoss vs the blog's loop over classes.

Measures: ``ClassWeightedLoss(nn.L1Loss(), w)`` with ``weighting='output'`` and
``'sample'``, loss plus backward, for 2, 10 and 100 classes.
Anchor: ``blog_loss``, the blog's Python loop over the classes.
Figures: each weighting / the blog's loop, target < 1 from 10 classes on.

``ClassWeightedLoss(nn.L1Loss(), w, weighting=...)`` / the blog's Python loop over
classes (``loss += w[j] * l1(p[:, j], onehot[:, j])``), loss plus backward, for 2, 10
and 100 classes. Target < 1 (faster) from 10 classes on.
"""

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sktorchcw import ClassWeightedLoss

from common import BATCH_SIZE, alternate, below, now, row

TITLE = "ClassWeightedLoss vs the blog's loop over classes"

_L1 = nn.L1Loss()


def blog_loss(logits, y, weights):
    """The blog post's weighted L1 loss: a Python loop over the classes."""
    probabilities = torch.softmax(logits, dim=1)
    onehot = F.one_hot(y, logits.shape[1]).to(logits.dtype)
    loss = 0.0
    for j in range(logits.shape[1]):
        loss = loss + weights[j] * _L1(probabilities[:, j], onehot[:, j])
    return loss


def loss_call_microseconds(loss_fn, logits, y, calls, device):
    """Mean time of ``loss_fn(logits, y)`` plus backward, in microseconds."""
    start = now(device)
    for _ in range(calls):
        loss_fn(logits, y).backward()
        logits.grad = None
    return (now(device) - start) / calls * 1e6


def loss_inputs(n_classes, device):
    generator = torch.Generator().manual_seed(n_classes)
    logits = torch.randn(BATCH_SIZE, n_classes, generator=generator).to(device)
    y = torch.randint(n_classes, (BATCH_SIZE,), generator=generator).to(device)
    weights = torch.rand(n_classes, generator=generator) + 0.5
    return logits.requires_grad_(), y, weights


def loss_times(n_classes, sizes, device):
    """Microseconds per loss plus backward: the blog's loop and both weightings."""
    logits, y, weights = loss_inputs(n_classes, device)
    listed = weights.tolist()
    with warnings.catch_warnings():
        # With 2 classes it warns that the blog's scheme only rescales; here only its cost counts.
        warnings.filterwarnings("ignore", message="With two classes")
        output = ClassWeightedLoss(nn.L1Loss(), weights, weighting="output").to(device)
    losses = {
        "blog": lambda logits, y: blog_loss(logits, y, listed),
        "output": output,
        "sample": ClassWeightedLoss(nn.L1Loss(), weights, weighting="sample").to(device),
    }
    # The same figure: weighting='output' is the blog's scheme, vectorised.
    torch.testing.assert_close(losses["output"](logits, y), losses["blog"](logits, y))
    return alternate({
        name: (lambda fn=fn: loss_call_microseconds(fn, logits, y, sizes.loss_calls, device))
        for name, fn in losses.items()
    }, sizes.repeats)


def measure(sizes, device):
    """c. ClassWeightedLoss against the blog's Python loop, loss plus backward."""
    rows = []
    for n_classes in sizes.loss_classes:
        results = loss_times(n_classes, sizes, device)
        faster = below(1.0) if n_classes >= 10 else None
        rows.append(row("c", f"{n_classes} classes: blog loop", np.median(results["blog"]),
                        "us/call", samples=results["blog"]))
        for weighting in ("output", "sample"):
            per_round = np.divide(results[weighting], results["blog"])
            rows.append(row("c", f"{n_classes} classes: weighting='{weighting}' / blog",
                            np.median(per_round), "ratio", faster, per_round))
    return rows

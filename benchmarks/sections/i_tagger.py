"""Section i, tagger: per-frame tagger.

Measures: the epoch time of a bidirectional LSTMBlinkTagger with
``class_weight='balanced'``, the same unweighted, and ``predict_proba`` of an hour of
frames.
Anchor: ``HandTaggerLoop``, a hand-written per-frame loop with class-weighted
cross-entropy over the valid frames, one of its epochs between two of the tagger's.
Figures: tagger / hand-written loop, target <= 1.15; balanced / unweighted, target
<= 1.03; one hour predicted, target < 1 s.

``LSTMBlinkTagger`` (bidirectional, ``class_weight='balanced'``) epoch time / a
hand-written loop with the same bidirectional ``LSTMFrameLogits``, Adam, batch
size and class-weighted per-frame cross-entropy over the valid frames (target <= 1.15;
epochs interleaved as in a); ``class_weight='balanced'`` / unweighted tagger epochs
(target <= 1.03; alternating as in b); ``predict_proba`` of one hour of frames (108,000
at 30 fps, 2 features, bidirectional, hidden 32) in seconds (target < 1).
"""

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.class_weight import compute_class_weight

from sktorchcw._batching import SequenceDataset
from sktorchcw._module import LSTMFrameLogits

from common import BATCH_SIZE, HIDDEN_SIZE, LR, at_most, below, compare, now, row
from data import recordings
from training import InterleavedHandLoop, alternate_epochs, fit_tagger

TITLE = "per-frame tagger"


class HandTaggerLoop:
    """A plain PyTorch per-frame loop: the bidirectional LSTMFrameLogits, Adam, and
    class-weighted cross-entropy summed over the valid frames and divided by their number,
    batches sliced from padded tensors by a seeded permutation."""

    def __init__(self, X, y, device, class_weight, seed=0):
        torch.manual_seed(seed)
        self.device = device
        lengths = torch.tensor([len(x) for x in X])
        self.x = torch.nn.utils.rnn.pad_sequence([torch.as_tensor(x) for x in X],
                                                 batch_first=True).to(device)
        self.target = torch.nn.utils.rnn.pad_sequence([torch.as_tensor(t) for t in y],
                                                      batch_first=True).to(device)
        self.lengths = lengths.to(device)
        self.mask = (torch.arange(self.x.shape[1])[None, :] < lengths[:, None]).to(device)
        self.module = LSTMFrameLogits(2, 2, hidden_size=HIDDEN_SIZE, bidirectional=True).to(
            device)
        self.optimizer = torch.optim.Adam(self.module.parameters(), lr=LR)
        self.weight = torch.as_tensor(class_weight, dtype=torch.float32, device=device)
        self.generator = torch.Generator().manual_seed(seed)

    def epoch_seconds(self):
        start = now(self.device)
        self.module.train()
        order = torch.randperm(len(self.x), generator=self.generator).to(self.device)
        for batch in order.split(BATCH_SIZE // 4):
            self.optimizer.zero_grad()
            logits = self.module(self.x[batch], self.lengths[batch])
            target, mask = self.target[batch], self.mask[batch]
            per_frame = F.cross_entropy(logits, target, reduction="none")
            loss = (self.weight[target] * per_frame)[mask].sum() / mask.sum()
            loss.backward()
            self.optimizer.step()
            loss.item()
        return now(self.device) - start


def measure(sizes, device):
    """i. The tagger against a hand-written per-frame loop, weighted against unweighted,
    and predicting an hour of frames."""
    X, y = recordings(sizes)
    weights = compute_class_weight("balanced", classes=np.array([0, 1]), y=np.concatenate(y))
    epochs = sizes.repeats  # a tagger epoch takes about a second: one round per repeat
    interleaved = InterleavedHandLoop(HandTaggerLoop(X, y, device, weights))
    tagger = fit_tagger(X, y, device, epochs + 1, callbacks=[("hand", interleaved)],
                        class_weight="balanced")
    interleaved = dict(tagger.net_.callbacks_)["hand"]
    results = {"tagger": interleaved.estimator_seconds[1:],
               "hand": interleaved.hand_seconds[1:]}
    labels = {"tagger": "LSTMBlinkTagger epoch (bidirectional, balanced)",
              "hand": "hand-written per-frame loop epoch"}
    rows = compare("i", results, labels, "tagger / hand-written loop", "s", at_most(1.15))

    values = torch.nn.utils.rnn.pad_sequence([torch.as_tensor(x) for x in X], batch_first=True)
    lengths = np.array([len(x) for x in X])
    padded_y = torch.nn.utils.rnn.pad_sequence([torch.as_tensor(t) for t in y],
                                               batch_first=True)
    dataset = SequenceDataset(values.numpy(), lengths, padded_y.numpy())
    weighted = alternate_epochs(X, y, device, {"balanced": {"class_weight": "balanced"},
                                               "none": {}}, epochs, fit=fit_tagger,
                                dataset=dataset)
    labels = {"balanced": "tagger, class_weight='balanced' epoch",
              "none": "tagger, class_weight=None epoch"}
    rows += compare("i", weighted, labels, "tagger balanced / unweighted", "s", at_most(1.03))

    hour = np.random.default_rng(1).normal(size=(1, sizes.hour_frames, 2)).astype(np.float32)
    tagger.predict_proba(hour[:, :1000])  # warm-up
    seconds = []
    for _ in range(sizes.repeats):
        start = now(device)
        tagger.predict_proba(hour)
        seconds.append(now(device) - start)
    rows.append(row("i", f"predict_proba, one recording of {sizes.hour_frames} frames",
                    np.median(seconds), "s", below(1.0), seconds))
    return rows

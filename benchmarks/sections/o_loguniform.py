"""Section o, log-uniform lengths: log-uniform lengths vs a length-sorted hand-written loop.

Measures: the epoch time of both estimators on recordings of log-uniform lengths.
Anchor: ``HandBucketLoop``, a hand-written loop that sorts the recordings by length into
batches and pads each batch to its own longest recording: not packed (the target) and
packed (reported), one epoch of each between two of the estimator's.
Figure: estimator / hand-written loop padded per batch, target <= 1.2.

Epoch time of both estimators (unidirectional, hidden 8, batches
of 32) on 128 recordings whose lengths are log-uniform from 10 to 3000 frames / a
hand-written loop that sorts them by length into fixed batches, shuffles the order of
the batches every epoch, pads each batch to its own longest recording
(``pad_sequence``) and packs it: the same module (``LSTMLogits``,
``LSTMFrameLogits``), Adam and batch size, per-frame cross-entropy averaged over the
valid frames for the tagger. Target <= 1.2 against the loop that pads each batch and
runs the (unidirectional) LSTM over it unpacked, as the estimators now do; reported
against the same loop packed by hand
(the LSTM runs over each padded batch; the output at each recording's last frame
feeds the classifier's head, the tagger's loss masks the padding): on the CPU the
backward pass of a packed LSTM whose batch shrinks along the way costs about
(batch's longest recording x batch's frames x 4 x hidden) (PyTorch projects the whole
packed batch at once and slices the projection step by step; every slice's backward
fills a zero gradient of the whole projection), so sorting into batches and packing
can be slower than random batches, and not packing sorted batches is the fast
hand-written loop here. Epochs interleaved as in a, the two hand-written loops
alternating within each round. Small sizes: that quadratic cost makes an epoch of
256 such recordings at hidden 32 take 20 to 90 s.
"""

import numpy as np
import torch
import torch.nn.functional as F

from sktorchcw._module import LSTMFrameLogits, LSTMLogits

from common import ESTIMATOR_NAMES, LR, at_most, compare, now, row
from training import InterleavedHandLoop, fit_estimator, fit_tagger

TITLE = "log-uniform lengths vs a length-sorted hand-written loop"


def loguniform_recordings(n, shortest, longest, seed=0):
    """``n`` recordings of 2 features whose lengths are log-uniform between ``shortest``
    and ``longest`` (both present), with labels per recording and per frame."""
    rng = np.random.default_rng(seed)
    lengths = np.exp(rng.uniform(np.log(shortest), np.log(longest + 1), n)).astype(np.int64)
    lengths = np.clip(lengths, shortest, longest)
    lengths[:2] = longest, shortest
    X = [rng.standard_normal((length, 2), dtype=np.float32) for length in lengths]
    y = np.array([int(x[:, 0].mean() > 0) for x in X])
    y[:2] = 0, 1
    y_frames = [(x[:, 0] > 1.55).astype(np.int64) for x in X]
    y_frames[0][:2] = 0, 1
    return X, y, y_frames


LOGUNIFORM_HIDDEN = 8  # section o: the packed LSTM's backward on the CPU costs about
LOGUNIFORM_BATCH = 32  # (longest x frames) per batch; small sizes keep epochs to seconds


class HandBucketLoop:
    """A plain PyTorch loop over ragged recordings, as one writes it by hand: sorted by
    length into fixed batches (the shortest ``batch_size`` first, and so on), the order of
    the batches shuffled every epoch, each batch padded to its own longest recording
    (``pad_sequence``); ``LSTMLogits`` and cross-entropy per recording, or
    ``LSTMFrameLogits`` and cross-entropy averaged over the valid frames (``per_frame``);
    Adam. ``packed``: the module packs each batch (``lengths``), so no padding enters the
    LSTM. Not packed: the (unidirectional) LSTM runs over the padded batch, and the output
    at each recording's last valid frame feeds the head (per frame: the padding's logits
    are masked out of the loss); outputs at valid frames are the same, the padding's
    steps are computed and thrown away."""

    def __init__(self, X, y, device, per_frame, packed=True, batch_size=LOGUNIFORM_BATCH,
                 hidden_size=LOGUNIFORM_HIDDEN, seed=0):
        torch.manual_seed(seed)
        self.device = device
        self.per_frame = per_frame
        self.packed = packed
        x = [torch.as_tensor(item) for item in X]
        targets = [torch.as_tensor(item) for item in y] if per_frame else torch.as_tensor(y)
        order = np.argsort([len(item) for item in X], kind="stable")
        self.batches = []
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size].tolist()
            lengths = torch.tensor([len(x[i]) for i in rows])
            batch_targets = ([targets[i] for i in rows] if per_frame
                             else targets[rows].to(device))
            self.batches.append(([x[i] for i in rows], lengths, batch_targets))
        network = LSTMFrameLogits if per_frame else LSTMLogits
        self.module = network(X[0].shape[1], 2, hidden_size=hidden_size).to(device)
        self.optimizer = torch.optim.Adam(self.module.parameters(), lr=LR)
        self.generator = torch.Generator().manual_seed(seed)

    def logits(self, x, lengths):
        module = self.module
        if self.packed:  # packed by hand (the module itself reads unidirectional unpacked)
            packed = module._packed_input(x, lengths)
            if self.per_frame:
                output, _ = module.lstm(packed)
                output, _ = torch.nn.utils.rnn.pad_packed_sequence(
                    output, batch_first=True, total_length=x.shape[1])
                return module._frame_logits(output)
            _, (h_n, _) = module.lstm(packed)
            return module.head(module.dropout(h_n[-1]))
        if self.per_frame:
            return module(x)
        output, _ = module.lstm(module._packed_input(x, None))
        last = output[torch.arange(len(x), device=x.device), lengths - 1]
        return module.head(module.dropout(last))

    def epoch_seconds(self):
        """Train one epoch; return its wall-clock time."""
        start = now(self.device)
        self.module.train()
        pad = torch.nn.utils.rnn.pad_sequence
        for index in torch.randperm(len(self.batches), generator=self.generator).tolist():
            x, lengths, targets = self.batches[index]
            self.optimizer.zero_grad()
            lengths_on_device = lengths.to(self.device)
            logits = self.logits(pad(x, batch_first=True).to(self.device), lengths_on_device)
            if self.per_frame:
                target = pad(targets, batch_first=True).to(self.device)
                mask = (torch.arange(target.shape[1], device=self.device)[None, :]
                        < lengths_on_device[:, None])
                loss = F.cross_entropy(logits, target, reduction="none")[mask].mean()
            else:
                loss = F.cross_entropy(logits, targets)
            loss.backward()
            self.optimizer.step()
            loss.item()  # skorch reads every batch's loss too
        return now(self.device) - start


class AlternatingLoops:
    """Several hand-written loops as one for :class:`InterleavedHandLoop`: each call trains
    one epoch of each, in an order reversed every call; returns their times in the order
    given."""

    def __init__(self, *loops):
        self.loops = loops
        self.calls = 0

    def epoch_seconds(self):
        order = list(range(len(self.loops)))
        if self.calls % 2:
            order.reverse()
        self.calls += 1
        seconds = {index: self.loops[index].epoch_seconds() for index in order}
        return tuple(seconds[index] for index in range(len(self.loops)))


def measure(sizes, device):
    """o. Epochs on recordings of log-uniform lengths against hand-written loops that
    sort them by length into batches (packed, and not packed), epochs interleaved as in
    a."""
    X, y, y_frames = loguniform_recordings(sizes.loguniform_recordings,
                                           *sizes.loguniform_frames)
    shortest, longest = sizes.loguniform_frames
    rows = []
    for name in ESTIMATOR_NAMES:
        per_frame = name == "tagger"
        targets = y_frames if per_frame else y
        loops = AlternatingLoops(*(HandBucketLoop(X, targets, device, per_frame, packed=packed)
                                   for packed in (True, False)))
        interleaved = InterleavedHandLoop(loops)
        params = {"callbacks": [("hand", interleaved)], "hidden_size": LOGUNIFORM_HIDDEN}
        epochs = sizes.loguniform_rounds + 1
        if per_frame:
            estimator = fit_tagger(X, targets, device, epochs, bidirectional=False,
                                   batch_size=LOGUNIFORM_BATCH, **params)
        else:
            estimator = fit_estimator(X, targets, device, epochs, batch_size=LOGUNIFORM_BATCH,
                                      **params)
        interleaved = dict(estimator.net_.callbacks_)["hand"]
        hand = np.array(interleaved.hand_seconds[1:])  # rounds x (packed, not packed)
        results = {"estimator": interleaved.estimator_seconds[1:], "packed": hand[:, 0],
                   "padded": hand[:, 1]}
        labels = {"estimator": f"{name} epoch, {len(X)} x {shortest}..{longest} frames",
                  "padded": f"{name}: hand-written loop, sorted, padded per batch"}
        rows += compare("o", {key: results[key] for key in labels}, labels,
                        f"{name} / hand-written loop (padded per batch)", "s",
                        at_most(1.2))
        per_round = np.divide(results["estimator"], results["packed"])
        rows += [
            row("o", f"{name}: hand-written loop, sorted, packed",
                np.median(results["packed"]), "s", samples=results["packed"]),
            row("o", f"{name} / hand-written loop (packed)", np.median(per_round),
                "ratio", samples=per_round),
        ]
    return rows

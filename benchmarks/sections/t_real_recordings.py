"""Section t, recordings like real ones: event F1 on generated recordings like real ones, by person.

Measures: event F1 and frame balanced accuracy of a bidirectional tagger, grouped 3-fold
cross-validation by person, for the choices of issue 28.
Anchor: the unweighted and the 'balanced' tagger deciding by argmax.
Figures: tuned 'balanced' - each argmax one, event F1, target > 0.

Event F1 (min IoU 0.2) and frame balanced accuracy of a
bidirectional tagger (hidden 16, batches of 32, 30 epochs) on 24 generated recordings of
1,000 to 4,000 frames from 6 people (6-30 fps, labels 0-2 frames early, stretches
without a face), grouped 3-fold cross-validation by person: unweighted argmax,
'balanced' argmax, 'balanced' with the decision tuned for events, and that with
per-recording scaling and pieces of 300 frames (issue 28). Targets: the tuned
'balanced' tagger above both argmax ones in event F1, as on real recordings.
"""

import numpy as np

from sktorchcw import LSTMBlinkTagger
from sktorchcw.datasets import make_blink_recordings
from sktorchcw.events import event_f1_score

from common import above, row

TITLE = "event F1 on generated recordings like real ones, by person"

REAL_RECIPE = {"bidirectional": True, "hidden_size": 16, "batch_size": 32, "lr": 0.01,
               "missing": "mask", "random_state": 0}
TUNED = {"threshold": "auto", "min_event_frames": "auto", "max_gap_frames": "auto"}
REAL_VARIANTS = {
    "unweighted, argmax": {},
    "'balanced', argmax": {"class_weight": "balanced"},
    "'balanced', tuned decision": {"class_weight": "balanced", **TUNED},
    "'balanced', tuned decision, per-recording scaling, pieces of 300": {
        "class_weight": "balanced", "standardize": "recording", "segment_frames": 300,
        **TUNED},
}


def measure(sizes, device):
    """t. Event F1 (min IoU 0.2) and frame balanced accuracy of a bidirectional tagger on
    generated recordings like real ones (``make_blink_recordings`` with people of their
    own, 6-30 fps, labels 0-2 frames early, stretches without a face), grouped 3-fold
    cross-validation by person, for the choices of issue 28: class weights, the decision
    tuned for events, per-recording scaling and training on pieces. On real recordings
    the tuned decision turned 'balanced' from the worse into the better model."""
    from sklearn.model_selection import GroupKFold

    n, subjects, shortest, longest = sizes.real_recordings
    X, y, groups = make_blink_recordings(
        n, subjects=subjects, fps=(6, 30), n_frames=(shortest, longest), label_lead=(0, 2),
        missing_runs=(1, 3), blink_rate=9, random_state=0)  # 4-6 % blink frames
    rows, f1 = [], {}
    for name, params in REAL_VARIANTS.items():
        scores, accuracies = [], []
        for train, test in GroupKFold(3).split(X, y, groups):
            tagger = LSTMBlinkTagger(**REAL_RECIPE, **params, max_epochs=sizes.real_epochs,
                                     device=device)
            tagger.fit([X[i] for i in train], [y[i] for i in train])
            truth = [y[i] for i in test]
            scores.append(event_f1_score(truth, tagger.predict([X[i] for i in test]),
                                         zero_division=0.0))
            accuracies.append(tagger.score([X[i] for i in test], truth))
        f1[name] = float(np.mean(scores))
        rows.append(row("t", f"event F1, {name}", f1[name], "F1", samples=scores))
        rows.append(row("t", f"frame balanced accuracy, {name}", float(np.mean(accuracies)),
                        "bacc", samples=accuracies))
    tuned = f1["'balanced', tuned decision"]
    rows.append(row("t", "tuned 'balanced' - unweighted argmax, event F1",
                    tuned - f1["unweighted, argmax"], "F1", above(0.0)))
    rows.append(row("t", "tuned 'balanced' - 'balanced' argmax, event F1",
                    tuned - f1["'balanced', argmax"], "F1", above(0.0)))
    return rows

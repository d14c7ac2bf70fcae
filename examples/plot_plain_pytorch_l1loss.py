"""
Class weights for nn.L1Loss in a plain PyTorch loop
====================================================

The :term:`seed article` trained an LSTM eye-blink detector with
``nn.L1Loss`` on softmax outputs and weighted the rare "blink" class with a
Python loop over output columns. With two classes that per-column scheme
(``weighting='output'``) cannot weigh anything: both softmax columns have the
same L1 loss, so it only rescales the loss. Here
:class:`sktorchcw.ClassWeightedLoss` weighs each sample by its class instead
(``weighting='sample'``, the default, as Keras and scikit-learn do), in one
vectorised call, with no skorch and no scikit-learn estimator involved.
"""

# %%
# Data: generated eye-aspect-ratio windows, 1 = a blink in the window (rare).
import torch
from sklearn.metrics import balanced_accuracy_score
from torch import nn

from sktorchcw import ClassWeightedLoss, resolve_class_weight
from sktorchcw.datasets import make_blink_dataset

X, y = make_blink_dataset(800, seq_len=40, prevalence=0.1, random_state=0)
# EAR values sit near 0.3 and a blink moves them by about 0.2: standardise each
# feature with the training windows' statistics so the LSTM sees unit-scale input.
mean, std = X[:600].mean(axis=(0, 1)), X[:600].std(axis=(0, 1))
X = (X - mean) / std
X_train, y_train = torch.from_numpy(X[:600]), torch.from_numpy(y[:600])
X_test, y_test = torch.from_numpy(X[600:]), y[600:]
print(f"train: {len(y_train)} windows, {int(y_train.sum())} blinks")


# %%
# The model: an LSTM whose last step feeds two logits.
class BlinkLSTM(nn.Module):
    def __init__(self, n_features=2, hidden_size=16, n_classes=2):
        super().__init__()
        self.lstm = nn.LSTM(n_features, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, n_classes)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def train(loss_fn, epochs=12, seed=0):
    """Train from a fixed seed; return the test balanced accuracy after each epoch."""
    torch.manual_seed(seed)
    model = BlinkLSTM()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    curve = []
    for _ in range(epochs):
        for batch in torch.randperm(len(y_train)).split(32):
            optimizer.zero_grad()
            loss = loss_fn(model(X_train[batch]), y_train[batch])
            loss.backward()  # loss is a scalar: the graph is freed here, nothing accumulates
            optimizer.step()
        with torch.no_grad():
            predicted = model(X_test).argmax(1).numpy()
        curve.append(balanced_accuracy_score(y_test, predicted))
    return curve


# %%
# Unweighted L1 loss on softmax outputs against one-hot targets, then the same
# loss with 'balanced' class weights: one call per batch, no loop over classes.
weights = resolve_class_weight("balanced", classes=[0, 1], y=y_train.numpy())
unweighted = train(ClassWeightedLoss(nn.L1Loss()))
weighted = train(ClassWeightedLoss(nn.L1Loss(), class_weight=weights))
print(f"class weights: {weights.round(3)}")
print("test balanced accuracy per epoch (0.5 = always predicts 'no blink')")
print("unweighted L1Loss:", " ".join(f"{score:.2f}" for score in unweighted))
print("weighted L1Loss:  ", " ".join(f"{score:.2f}" for score in weighted))

# %%
# With L1 loss on softmax outputs the gradient of a confidently wrong rare-class
# sample is no larger than any other, so without weights the 10 % of blink
# windows are outvoted and the model settles on "no blink". Weighting the blink
# class by its inverse frequency lets it learn the blink within a few epochs.

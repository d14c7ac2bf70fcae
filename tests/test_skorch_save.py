"""Safe model files for sktorchcw.skorch's nets: net.save(path), sktorchcw.load(path)."""

import numpy as np
import pytest
import torch
from test_persistence import _contents, _rewrite
from torch import nn

import sktorchcw
from sktorchcw.skorch import NeuralNetBinaryClassifier, NeuralNetClassifier

QUIET = {"max_epochs": 3, "verbose": 0, "lr": 0.05}


class MLP(nn.Module):
    def __init__(self, n_in=6, n_out=2, width=16):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(n_in, width), nn.ReLU(), nn.Linear(width, n_out))

    def forward(self, X):
        return self.layers(X)


@pytest.fixture(scope="module")
def tabular():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6)).astype("float32")
    y = np.where(X[:, 0] + 0.3 * rng.normal(size=200) > 1.0, "rare", "common")
    return X, y


@pytest.fixture(scope="module")
def fitted(tabular):
    X, y = tabular
    torch.manual_seed(0)
    return NeuralNetClassifier(MLP, module__width=8, criterion=nn.L1Loss,
                               class_weight="balanced", optimizer=torch.optim.Adam,
                               batch_size=32, **QUIET).fit(X, y)


@pytest.fixture
def saved(fitted, tmp_path):
    path = tmp_path / "net.sktorchcw"
    fitted.save(path)
    return path


def test_round_trip_of_the_classifier(fitted, saved, tabular):
    X, _ = tabular
    loaded = sktorchcw.load(saved, modules=[MLP])
    assert type(loaded) is NeuralNetClassifier
    assert loaded.module is MLP and loaded.module__width == 8
    assert loaded.criterion is nn.L1Loss and loaded.optimizer is torch.optim.Adam
    assert (loaded.lr, loaded.max_epochs, loaded.batch_size) == (0.05, 3, 32)
    assert loaded.class_weight == "balanced"
    np.testing.assert_array_equal(loaded.classes_, fitted.classes_)
    np.testing.assert_array_equal(loaded.class_weight_, fitted.class_weight_)
    np.testing.assert_array_equal(loaded.training_weight_, fitted.training_weight_)
    assert loaded.history_.to_list() == fitted.history_.to_list()
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))


def test_partial_fit_continues_as_the_saved_net_would(fitted, saved, tabular):
    X, y = tabular
    loaded = sktorchcw.load(saved, modules=[MLP])
    original = pickle_copy(fitted)
    for net in (original, loaded):
        net.set_params(train_split=None)
        torch.manual_seed(1)
        net.partial_fit(X, y)
    np.testing.assert_allclose(loaded.predict_proba(X), original.predict_proba(X), atol=1e-6)


def pickle_copy(net):
    import pickle

    return pickle.loads(pickle.dumps(net))


def test_round_trip_of_the_binary_classifier(tabular, tmp_path):
    X, y = tabular
    labels = y == "rare"  # booleans
    torch.manual_seed(0)
    net = NeuralNetBinaryClassifier(MLP, module__n_out=1, class_weight={True: 3.0},
                                    threshold=0.4, train_split=None, **QUIET).fit(X, labels)
    path = tmp_path / "binary.sktorchcw"
    with pytest.warns(UserWarning, match="train_split is not saved"):
        net.save(path, optimizer=False)
    loaded = sktorchcw.load(path, modules=[MLP])
    assert type(loaded) is NeuralNetBinaryClassifier
    assert loaded.threshold == 0.4 and loaded.class_weight == {True: 3.0}
    np.testing.assert_array_equal(loaded.classes_, [False, True])
    np.testing.assert_array_equal(loaded.predict_proba(X), net.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    with pytest.warns(UserWarning, match="no optimizer state|none to save"):
        loaded.save(tmp_path / "again.sktorchcw")
    loaded.set_params(train_split=None).partial_fit(X, labels)  # the optimizer restarts
    loaded.save(tmp_path / "trained.sktorchcw")  # trained since: its optimizer state is saved
    assert "optimizer" in _contents(tmp_path / "trained.sktorchcw")[0]


def test_a_file_naming_a_class_not_passed_is_refused(saved):
    with pytest.raises(ValueError, match=r"pass modules=\[MLP\]"):
        sktorchcw.load(saved)
    with pytest.raises(ValueError, match="not among the classes passed"):
        sktorchcw.load(saved, modules=[nn.Linear])


def test_a_module_instance_is_refused_at_save(tabular, tmp_path):
    X, y = tabular
    net = NeuralNetClassifier(MLP(), criterion=nn.CrossEntropyLoss, train_split=None,
                              **QUIET).fit(X, y)
    with pytest.raises(ValueError, match=r"module=MLP, module__<argument>"):
        net.save(tmp_path / "net.sktorchcw")
    assert not (tmp_path / "net.sktorchcw").exists()


def test_a_callable_class_weight_is_refused_at_save(tabular, tmp_path):
    X, y = tabular
    net = NeuralNetClassifier(MLP, criterion=nn.CrossEntropyLoss, train_split=None,
                              class_weight=lambda classes, y, w: np.ones(len(classes)),
                              **QUIET).fit(X, y)
    with pytest.raises(ValueError, match="class_weight=.* is a callable"):
        net.save(tmp_path / "net.sktorchcw")


@pytest.mark.parametrize("change, match", [
    (lambda m, t: m["params"].update(predict_nonlinearity={"callable": "os:system"}),
     "cannot be a stored callable"),
    (lambda m, t: m["params"].update(callbacks=[]), "does not hold"),
    (lambda m, t: m.update(estimator="NeuralNetRegressor"), "malformed metadata"),
    (lambda m, t: m["params"].update(criterion={"callable": "os:system"}), "refused"),
    (lambda m, t: m["params"].update(module__width=9), "do not fit the model"),
    (lambda m, t: m.update(class_weight=[1.0]), "class_weight holds 1 values"),
    (lambda m, t: t["module.layers.0.weight"].fill_(float("nan")), "NaN or infinite"),
])
def test_an_edited_file_is_refused(saved, change, match):
    _rewrite(saved, change)
    with pytest.raises(ValueError, match=match):
        sktorchcw.load(saved, modules=[MLP])


def test_a_changed_file_fails_its_checksum(saved):
    data = bytearray(saved.read_bytes())
    data[-1] ^= 1
    saved.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum"):
        sktorchcw.load(saved, modules=[MLP])


def test_a_loaded_net_keeps_warm_start_verbose_and_use_caching(tabular, tmp_path):
    X, y = tabular
    torch.manual_seed(0)
    net = NeuralNetClassifier(MLP, criterion=nn.CrossEntropyLoss, warm_start=True,
                              use_caching=False, on_divergence="raise", max_epochs=2,
                              verbose=0, lr=0.05).fit(X, y)
    net.save(tmp_path / "net.sktorchcw")
    loaded = sktorchcw.load(tmp_path / "net.sktorchcw", modules=[MLP])
    params = loaded.get_params()
    assert (params["warm_start"], params["verbose"], params["use_caching"],
            params["on_divergence"]) == (True, 0, False, "raise")
    loaded.fit(X, y)  # warm start: continues the saved model
    assert len(loaded.history) == 4

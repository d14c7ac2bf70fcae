"""load checks every entry of a model file against the others and against the network.

Each test edits one entry of a saved file and recomputes its checksum (as whoever can
write the file can): the file must be refused with a ValueError that names the file and
the entry, never loaded into a model that predicts NaN, swapped labels or fails later.
"""

import numpy as np
import pandas as pd
import pytest
import torch
from test_persistence import _contents, _rewrite

import sktorchcw

from helpers import fast_classifier


@pytest.fixture(scope="module")
def sequence_model(blinks, tmp_path_factory):
    """The bytes of a classifier fitted on 3-D X (2 features per time step), labels 0, 1."""
    X, y = blinks
    path = tmp_path_factory.mktemp("model") / "sequences.sktorchcw"
    fast_classifier(max_epochs=2).fit(X, y).save(path)
    return path.read_bytes()


@pytest.fixture(scope="module")
def gru_sequence_model(blinks, tmp_path_factory):
    """The bytes of the same classifier with the built-in GRU (module='gru')."""
    X, y = blinks
    path = tmp_path_factory.mktemp("model") / "gru.sktorchcw"
    fast_classifier(module="gru", max_epochs=2).fit(X, y).save(path)
    return path.read_bytes()


@pytest.fixture(scope="module")
def column_model(three_classes, tmp_path_factory):
    """The bytes of a classifier fitted on a DataFrame of 10 named columns."""
    X, y = three_classes
    frame = pd.DataFrame(X, columns=[f"t{i}" for i in range(X.shape[1])])
    path = tmp_path_factory.mktemp("model") / "columns.sktorchcw"
    fast_classifier(max_epochs=2).fit(frame, y).save(path)
    return path.read_bytes()


def _edited(tmp_path, data, change):
    path = tmp_path / "edited.sktorchcw"
    path.write_bytes(data)
    _rewrite(path, change)
    return path


def _refused(path, match):
    with pytest.raises(ValueError, match=match) as caught:
        sktorchcw.load(path)
    assert str(path) in str(caught.value)


def _entry(key, value):
    return lambda metadata, _: metadata.update({key: value})


def _entries(**values):
    return lambda metadata, _: metadata.update(values)


def _tensor(name, change):
    return lambda _, tensors: change(tensors[name])


def _first_optimizer_tensor(change, *, dims):
    """Change the first tensor of the optimizer's state with ``dims`` dimensions."""
    def edit(_, tensors):
        name = next(name for name in sorted(tensors)
                    if name.startswith("optimizer.") and tensors[name].ndim == dims)
        tensors[name] = change(tensors[name])
    return edit


NAN = float("nan")
INTEGERS = "<i8"


@pytest.mark.parametrize("change, match", [
    (_entry("training_weight", [NAN, 1.0]), "training_weight .* finite and non-negative"),
    (_entry("training_weight", [-1.0, 1.0]), "training_weight .* finite and non-negative"),
    (_entry("training_weight", [1.0, 1.0, 1.0]), "training_weight holds 3 values for 2 classes"),
    (_entry("class_weight", [1.0, float("inf")]), "class_weight .* finite and non-negative"),
    (_entry("class_weight", [1.0, -2.0]), "class_weight .* finite and non-negative"),
    (_entry("class_weight", [1.0]), "class_weight holds 1 values for 2 classes"),
    (_entry("class_weight", ["1", 1.0]), "class_weight .* not a list of numbers"),
], ids=["training-weight-nan", "training-weight-negative", "training-weight-length",
        "class-weight-inf", "class-weight-negative", "class-weight-length",
        "class-weight-strings"])
def test_class_and_training_weights_must_be_one_finite_non_negative_number_per_class(
        sequence_model, tmp_path, change, match):
    _refused(_edited(tmp_path, sequence_model, change), match)


@pytest.mark.parametrize("classes, match", [
    ({"dtype": INTEGERS, "values": [1, 0]}, "classes \\[1, 0\\] .* sorted order"),
    ({"dtype": INTEGERS, "values": [1, 1]}, "classes \\[1, 1\\] .* distinct"),
    ({"dtype": "<M8[ns]", "values": [0, 1]}, "classes of dtype datetime64\\[ns\\]"),
    ({"dtype": "<f8", "values": [0.0, NAN]}, "classes .* None, NaN"),
    ({"dtype": "|O", "values": ["a", 1]}, "classes .* mixed types"),
    ({"dtype": "|O", "values": [[0], [1]]}, "classes of dtype object and shape \\(2, 1\\)"),
    ({"dtype": "zzz", "values": [0, 1]}, "classes holds data this sktorchcw cannot use"),
], ids=["swapped", "duplicate", "datetime", "nan", "mixed", "nested", "unknown-dtype"])
def test_classes_must_be_distinct_sorted_labels_of_a_type_save_writes(
        sequence_model, tmp_path, classes, match):
    _refused(_edited(tmp_path, sequence_model, _entry("classes", classes)), match)


def test_swapped_classes_are_refused_rather_than_predicting_swapped_labels(
        sequence_model, blinks, tmp_path):
    X, _ = blinks
    path = tmp_path / "original.sktorchcw"
    path.write_bytes(sequence_model)
    assert sorted(set(sktorchcw.load(path).predict(X))) == [0, 1]
    _refused(_edited(tmp_path, sequence_model,
                     _entry("classes", {"dtype": INTEGERS, "values": [1, 0]})), "sorted")


def test_classes_must_match_the_output_layer(sequence_model, tmp_path):
    three = _entries(classes={"dtype": INTEGERS, "values": [0, 1, 2]},
                     class_weight=[1.0] * 3, training_weight=[1.0] * 3)
    _refused(_edited(tmp_path, sequence_model, three),
             "classes \\[0, 1, 2\\] need 3 output\\(s\\) .* output layer \\(head\\) has 2")


def test_a_single_class_is_refused(sequence_model, tmp_path):
    one = _entries(classes={"dtype": INTEGERS, "values": [0]}, class_weight=[1.0],
                   training_weight=[1.0])
    _refused(_edited(tmp_path, sequence_model, one), "classes \\[0\\] .* at least two")


def test_n_features_in_must_agree_with_the_network_for_sequences(sequence_model, tmp_path):
    _refused(_edited(tmp_path, sequence_model, _entry("n_features_in", 3)),
             "n_features_in is 3, but the network reads 2 features per time step")


def test_n_features_must_agree_with_the_lstm_and_the_standardisation(sequence_model,
                                                                    tmp_path):
    _refused(_edited(tmp_path, sequence_model, _entries(n_features=3, n_features_in=3)),
             "n_features is 3, but the network's input_mean has shape \\(2,\\)")


@pytest.mark.parametrize("model, layer", [("sequence_model", "lstm"),
                                          ("gru_sequence_model", "gru")])
def test_n_features_must_agree_with_the_recurrent_input_weights(request, tmp_path, model,
                                                                layer):
    def wider(metadata, tensors):
        metadata.update(n_features=3, n_features_in=3)
        tensors["module.input_mean"] = torch.zeros(3)
        tensors["module.input_scale"] = torch.ones(3)

    _refused(_edited(tmp_path, request.getfixturevalue(model), wider),
             f"n_features is 3, but the {layer.upper()}'s input weights "
             f"\\({layer}.weight_ih_l0\\) take 2")


@pytest.mark.parametrize("layout, match", [
    ("images", "input_layout 'images' is not one of \\['columns', 'sequences'\\]"),
    ("columns", "input_layout 'columns' .* reads one feature per time step, but n_features "
                "is 2"),
], ids=["unknown", "columns-with-two-features"])
def test_the_input_layout_must_be_known_and_fit_the_network(sequence_model, tmp_path, layout,
                                                            match):
    _refused(_edited(tmp_path, sequence_model, _entry("input_layout", layout)), match)


def test_feature_names_must_name_every_column(column_model, tmp_path):
    drop_one = lambda metadata, _: metadata["feature_names_in"].pop()  # noqa: E731
    _refused(_edited(tmp_path, column_model, drop_one),
             "feature_names_in lists 9 names for n_features_in 10 columns")


def test_feature_names_belong_to_models_fitted_on_columns(sequence_model, tmp_path):
    _refused(_edited(tmp_path, sequence_model, _entry("feature_names_in", ["a", "b"])),
             "feature_names_in holds names, but only a model fitted on a DataFrame")


def test_the_history_must_hold_the_epochs(sequence_model, tmp_path):
    _refused(_edited(tmp_path, sequence_model, _entry("history", [])),
             "history is not a list of epochs")


@pytest.mark.parametrize("value", [0.0, -1.0])
def test_input_scales_must_be_positive(sequence_model, tmp_path, value):
    _refused(_edited(tmp_path, sequence_model,
                     _tensor("module.input_scale", lambda scale: scale.fill_(value))),
             "input_scale .* not positive")


def test_an_unknown_module_parameter_names_the_file(sequence_model, tmp_path):
    _refused(_edited(tmp_path, sequence_model,
                     lambda metadata, _: metadata["params"].update(module__foo=1)),
             "refuses: Unknown module parameter\\(s\\) \\['foo'\\]")


def test_tensors_save_never_writes_are_refused(sequence_model, tmp_path):
    _refused(_edited(tmp_path, sequence_model,
                     lambda _, tensors: tensors.update({"junk.0": torch.zeros(1)})),
             "tensors sktorchcw does not write \\['junk.0'\\]")


@pytest.mark.parametrize("change, match", [
    (_first_optimizer_tensor(lambda t: t.fill_(NAN), dims=2), "NaN or infinite"),
    (_first_optimizer_tensor(lambda t: torch.zeros(7), dims=2), "has shape \\(7,\\)"),
    (lambda _, tensors: tensors.update({"rng.torch": torch.zeros(5, dtype=torch.uint8)}),
     "rng.torch is not a torch random state"),
    (lambda _, tensors: tensors.pop(sorted(k for k in tensors if k.startswith("optimizer."))[0]),
     "optimizer\\.0"),
    (_entry("optimizer", {"dict": []}), "not an optimizer's state dict"),
], ids=["nan", "shape", "rng", "missing-tensor", "not-a-state-dict"])
def test_the_optimizer_state_must_fit_the_network(sequence_model, tmp_path, change, match):
    _refused(_edited(tmp_path, sequence_model, change),
             f"its optimizer state .* does not fit the model .*{match}")


def test_a_class_weighted_zero_in_training_still_loads(blinks, tmp_path):
    X, y = blinks
    clf = fast_classifier(max_epochs=1, class_weight={0: 0.0, 1: 1.0}).fit(X, y)
    clf.save(tmp_path / "m")
    assert _contents(tmp_path / "m")[0]["training_weight"] == [0.0, 1.0]
    np.testing.assert_array_equal(sktorchcw.load(tmp_path / "m").predict_proba(X),
                                  clf.predict_proba(X))

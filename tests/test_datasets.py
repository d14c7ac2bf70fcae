import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GroupKFold

from sktorchcw.datasets import frames_to_windows, make_blink_dataset

EAR_COLUMNS = ["ear_left", "ear_right"]


def blink_data(n_samples=300, **kwargs):
    kwargs.setdefault("random_state", 0)
    return make_blink_dataset(n_samples, **kwargs)


def relative_min(X):
    """Each window's minimum EAR per eye, divided by its median EAR: (n_samples, 2)."""
    return X.min(axis=1) / np.median(X, axis=1)


def frames_below(X, fraction):
    """Per window and eye, how many frames fall below ``fraction`` of the median EAR."""
    return (X < fraction * np.median(X, axis=1, keepdims=True)).sum(axis=1)


# --- make_blink_dataset -------------------------------------------------------------


def test_make_blink_dataset_returns_shapes_and_dtypes():
    X, y = blink_data(50, seq_len=40)
    assert X.shape == (50, 40, 2)
    assert X.dtype == np.float32
    assert y.shape == (50,)
    assert y.dtype == np.int64
    assert set(np.unique(y)) == {0, 1}


@pytest.mark.parametrize(
    ("n_samples", "prevalence", "n_positive"),
    [(1000, 0.05, 50), (333, 0.1, 33), (120, 0.3, 36), (10, 0.01, 1), (10, 0.99, 9)],
)
def test_positive_count_is_rounded_prevalence_clipped_to_both_classes(
    n_samples, prevalence, n_positive
):
    _, y = blink_data(n_samples, prevalence=prevalence)
    assert y.sum() == n_positive


@pytest.mark.parametrize("n_samples", [2, 3])
@pytest.mark.parametrize("prevalence", [0.001, 0.5, 0.999])
def test_tiny_datasets_hold_both_classes(n_samples, prevalence):
    _, y = blink_data(n_samples, prevalence=prevalence)
    assert set(y) == {0, 1}


def test_positive_positions_are_shuffled():
    _, y = blink_data(200, prevalence=0.5)
    assert not np.array_equal(y, np.sort(y))
    assert not np.array_equal(y, np.sort(y)[::-1])


def test_same_random_state_gives_identical_data():
    X1, y1 = blink_data(random_state=7)
    X2, y2 = blink_data(random_state=7)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)


def test_random_state_accepts_a_random_state_instance():
    X1, y1 = blink_data(random_state=np.random.RandomState(3))
    X2, y2 = blink_data(random_state=3)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)


def test_different_random_states_give_different_data():
    X1, y1 = blink_data(random_state=1)
    X2, y2 = blink_data(random_state=2)
    assert not np.array_equal(X1, X2)
    assert not np.array_equal(y1, y2)


def test_open_eye_ear_lies_in_a_realistic_range():
    X, _ = blink_data(noise=0.0, hard_negative_rate=0.0)
    median = np.median(X, axis=1)
    assert median.min() > 0.22
    assert median.max() < 0.38


def test_blink_windows_dip_far_below_negative_windows():
    X, y = blink_data(prevalence=0.3)
    window_min = X.min(axis=(1, 2))
    assert window_min[y == 1].mean() < window_min[y == 0].mean() - 0.1
    assert window_min[y == 1].max() < 0.2


def test_both_eyes_dip_together_in_blink_windows():
    X, y = blink_data(prevalence=0.3, noise=0.005)
    positives = X[y == 1]
    assert (relative_min(positives) < 0.5).all()
    closed = positives < 0.5 * np.median(positives, axis=1, keepdims=True)
    assert (closed[:, :, 0] & closed[:, :, 1]).any(axis=1).all()
    frame = np.arange(positives.shape[1])[None, :, None]
    closure_centre = (closed * frame).sum(axis=1) / closed.sum(axis=1)
    # One eye lags by at most a frame; thresholding may move an edge by another half.
    assert np.abs(closure_centre[:, 0] - closure_centre[:, 1]).max() <= 1.5


def test_without_hard_negatives_negative_windows_stay_open():
    X, y = blink_data(noise=0.005, hard_negative_rate=0.0)
    assert (relative_min(X[y == 0]) > 0.9).all()


def one_eye_dips(X):
    ratio = relative_min(X)
    return ((ratio.min(axis=1) < 0.5) & (ratio.max(axis=1) > 0.85)).sum()


def test_hard_negatives_include_one_eye_winks():
    X, y = blink_data(noise=0.005, hard_negative_rate=1.0)
    assert one_eye_dips(X[y == 0]) >= 20
    assert one_eye_dips(X[y == 1]) == 0


def test_hard_negatives_include_partial_closures_of_both_eyes():
    X, y = blink_data(seq_len=150, noise=0.005, hard_negative_rate=1.0)
    negatives = X[y == 0]
    ratio = relative_min(negatives)
    partial = ((ratio > 0.5) & (ratio < 0.85)).all(axis=1)
    long_dip = (frames_below(negatives, 0.9) >= 5).all(axis=1)
    assert (partial & long_dip).sum() >= 20


def test_hard_negatives_include_brief_head_motion_spikes():
    X, y = blink_data(noise=0.005, hard_negative_rate=1.0)
    negatives = X[y == 0]
    above = (negatives > 1.12 * np.median(negatives, axis=1, keepdims=True)).sum(axis=1)
    spikes = ((above >= 1) & (above <= 2)).all(axis=1)
    assert spikes.sum() >= 10


def test_hard_negative_rate_sets_how_many_negatives_are_disturbed():
    def disturbed_fraction(rate):
        X, y = blink_data(noise=0.005, hard_negative_rate=rate)
        ratio = np.abs(X[y == 0] / np.median(X[y == 0], axis=1, keepdims=True) - 1)
        return (ratio.max(axis=(1, 2)) > 0.12).mean()

    assert disturbed_fraction(0.0) == 0
    assert 0.1 < disturbed_fraction(0.3) < 0.5
    assert disturbed_fraction(1.0) > 0.8


def test_blink_closure_spans_more_frames_at_higher_fps():
    def closed_frames(fps):
        X, y = blink_data(seq_len=2 * fps, fps=fps, prevalence=0.5, noise=0.005)
        return frames_below(X[y == 1], 0.5).mean()

    assert closed_frames(60) > 1.6 * closed_frames(30)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_samples": 1}, ValueError, "n_samples=1 must be >= 2"),
        ({"n_samples": 10.0}, TypeError, "n_samples must be an int"),
        ({"prevalence": 0.0}, ValueError, "prevalence=0.0 must lie strictly between 0 and 1"),
        ({"prevalence": 1.0}, ValueError, "prevalence=1.0 must lie strictly between 0 and 1"),
        ({"prevalence": "5%"}, TypeError, "prevalence must be a number"),
        ({"seq_len": 30.5}, TypeError, "seq_len must be an int"),
        ({"seq_len": 0}, ValueError, "seq_len=0 must be >= 1"),
        ({"fps": 0}, ValueError, "fps=0 must be positive"),
        ({"fps": float("nan")}, ValueError, "fps=nan must be finite"),
        ({"noise": -0.1}, ValueError, r"noise=-0.1 must be >= 0"),
        ({"hard_negative_rate": 1.5}, ValueError, r"hard_negative_rate=1.5 must lie in \[0, 1\]"),
        ({"hard_negative_rate": -0.1}, ValueError, r"hard_negative_rate=-0.1 must lie in"),
    ],
)
def test_bad_generator_arguments_raise_clear_errors(kwargs, error, match):
    kwargs = {"n_samples": 10, **kwargs}
    with pytest.raises(error, match=match):
        make_blink_dataset(**kwargs)


def test_seq_len_too_short_for_a_blink_names_the_minimum():
    with pytest.raises(ValueError, match=r"too short to hold a blink.*seq_len >= 12"):
        make_blink_dataset(10, seq_len=11, fps=30)
    with pytest.raises(ValueError, match=r"seq_len >= 24"):
        make_blink_dataset(10, seq_len=23, fps=60)
    X, _ = make_blink_dataset(10, seq_len=12, fps=30, random_state=0)
    assert X.shape == (10, 12, 2)


# --- make_blink_dataset stays as it was before make_blink_recordings shared its model ---

# The commit before the refactoring, and fingerprints of its output (float64 sums of X and
# of X**2, the first positive windows, the blink frames of the frame table).
COMMIT_BEFORE_RECORDINGS = "bea0d03905cb6d158c66da6464e223c41cca62f5"
UNCHANGED_CASES = [
    (0, {}, 10513.781644728035, 3150.3074083811534, [12, 15, 22, 52, 108, 136, 184, 188], 127),
    (3, {"n_samples": 120, "seq_len": 40, "prevalence": 0.3, "hard_negative_rate": 1.0,
         "fps": 25}, 2672.4310847800225, 784.6826451978018, [4, 5, 6, 8, 9, 12, 15, 17], 280),
    (11, {"n_samples": 57, "seq_len": 12, "prevalence": 0.5, "noise": 0.0},
     343.7973489947617, 96.55077146382355, [0, 2, 5, 8, 9, 14, 15, 19], 198),
]


@pytest.mark.parametrize(("seed", "kwargs", "total", "squares", "first_positives", "blinks"),
                         UNCHANGED_CASES)
def test_make_blink_dataset_output_is_unchanged(seed, kwargs, total, squares,
                                                first_positives, blinks):
    X, y = blink_data(random_state=seed, **kwargs)
    frames = blink_data(random_state=seed, return_frames=True, **kwargs)
    assert float(X.astype(np.float64).sum()) == pytest.approx(total, rel=1e-9)
    assert float((X.astype(np.float64) ** 2).sum()) == pytest.approx(squares, rel=1e-9)
    assert np.flatnonzero(y)[:8].tolist() == first_positives
    assert int(frames["blink"].sum()) == blinks


def datasets_module_before_recordings(tmp_path):
    """sktorchcw/datasets.py as it was before make_blink_recordings, or skip."""
    import importlib.util
    import subprocess
    from pathlib import Path

    root = Path(__file__).parents[1]
    try:
        source = subprocess.run(
            ["git", "show", f"{COMMIT_BEFORE_RECORDINGS}:sktorchcw/datasets.py"], cwd=root,
            capture_output=True, text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip("git or the commit before make_blink_recordings is not available")
    path = tmp_path / "datasets_before_recordings.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("datasets_before_recordings", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_blink_dataset_equals_the_version_before_recordings(tmp_path):
    before = datasets_module_before_recordings(tmp_path)
    for seed, kwargs, *_ in UNCHANGED_CASES:
        kwargs = {"n_samples": 300, **kwargs, "random_state": seed}
        for got, expected in zip(make_blink_dataset(**kwargs),
                                 before.make_blink_dataset(**kwargs), strict=True):
            np.testing.assert_array_equal(got, expected)
        pd.testing.assert_frame_equal(make_blink_dataset(**kwargs, return_frames=True),
                                      before.make_blink_dataset(**kwargs, return_frames=True))


# --- make_blink_dataset(return_frames=True) -----------------------------------------


def test_frame_table_has_documented_columns_and_dtypes():
    frames = blink_data(25, seq_len=20, return_frames=True)
    assert list(frames.columns) == ["video", "frame", *EAR_COLUMNS, "blink"]
    assert frames["video"].dtype == np.int64
    assert frames["frame"].dtype == np.int64
    assert frames["ear_left"].dtype == np.float32
    assert frames["ear_right"].dtype == np.float32
    assert frames["blink"].dtype == np.int64
    assert set(frames["blink"].unique()) == {0, 1}


def test_frame_table_lays_ten_windows_end_to_end_per_video():
    frames = blink_data(25, seq_len=20, return_frames=True)
    assert len(frames) == 25 * 20
    assert frames.groupby("video").size().tolist() == [200, 200, 100]
    for _, video in frames.groupby("video"):
        assert video["frame"].tolist() == list(range(len(video)))


def test_frame_table_windows_give_back_the_generated_windows():
    X, y = blink_data(60, seq_len=30, prevalence=0.2)
    frames = blink_data(60, seq_len=30, prevalence=0.2, return_frames=True)
    Xw, yw, groups = frames_to_windows(
        frames,
        window=30,
        feature_cols=EAR_COLUMNS,
        label_col="blink",
        group_col="video",
        order_col="frame",
        label_rule="any",
    )
    np.testing.assert_array_equal(Xw, X)
    np.testing.assert_array_equal(yw, y)
    np.testing.assert_array_equal(groups, np.arange(60) // 10)


def test_frame_table_blink_frames_sit_on_the_closed_eyes():
    frames = blink_data(100, prevalence=0.3, noise=0.005, return_frames=True)
    blinking = frames["blink"] == 1
    assert frames.loc[blinking, EAR_COLUMNS].min().max() < 0.2
    assert frames.loc[~blinking, EAR_COLUMNS].median().min() > 0.25


def test_frame_table_cut_into_overlapping_windows_has_positives():
    frames = blink_data(200, prevalence=0.2, return_frames=True)
    X, y, groups = frames_to_windows(
        frames,
        window=30,
        stride=15,
        feature_cols=EAR_COLUMNS,
        label_col="blink",
        group_col="video",
    )
    # Each video of 600 frames gives (600 - 30) // 15 + 1 = 39 windows.
    assert X.shape == (20 * 39, 30, 2)
    assert y.shape == groups.shape == (20 * 39,)
    assert 0 < y.mean() < 0.5


# --- frames_to_windows --------------------------------------------------------------


def tiny_frames():
    """Videos 'a' (6 frames), 'b' (5) and 'c' (2); feature = 100 * video number + frame."""
    video = ["a"] * 6 + ["b"] * 5 + ["c"] * 2
    frame = [*range(6), *range(5), *range(2)]
    number = {"a": 1, "b": 2, "c": 3}
    return pd.DataFrame(
        {
            "video": video,
            "frame": frame,
            "x": [100 * number[v] + f for v, f in zip(video, frame, strict=True)],
            "x2": [-(100 * number[v] + f) for v, f in zip(video, frame, strict=True)],
            "label": [0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 1],
        }
    )


def windows_of(frames=None, **kwargs):
    kwargs = {"feature_cols": ["x"], "label_col": "label", "group_col": "video", **kwargs}
    return frames_to_windows(tiny_frames() if frames is None else frames, **kwargs)


@pytest.mark.parametrize(
    ("window", "stride", "starts", "labels"),
    [
        (3, None, [100, 103, 200], [1, 0, 0]),
        (3, 2, [100, 102, 200, 202], [1, 0, 0, 1]),
        (4, 1, [100, 101, 102, 200, 201], [1, 0, 0, 1, 1]),
        (5, 5, [100, 200], [1, 1]),
    ],
)
def test_windows_labels_and_groups_match_hand_computed_ones(window, stride, starts, labels):
    X, y, groups = windows_of(window=window, stride=stride, label_rule="center")
    expected_X = np.array([[[s + i] for i in range(window)] for s in starts], dtype=np.float32)
    np.testing.assert_array_equal(X, expected_X)
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_array_equal(groups, ["a" if s < 200 else "b" for s in starts])
    assert X.dtype == np.float32


def test_features_keep_the_order_of_feature_cols():
    X, _, _ = windows_of(window=2, feature_cols=["x2", "x"])
    np.testing.assert_array_equal(X[0], [[-100, 100], [-101, 101]])


def test_a_single_feature_name_may_be_a_string():
    X, _, _ = windows_of(window=2, feature_cols="x")
    assert X.shape == (6, 2, 1)


def test_windows_never_cross_groups():
    X, _, groups = windows_of(window=2, stride=1)
    video_number = X[:, :, 0] // 100
    assert (video_number == video_number[:, :1]).all()
    assert (np.diff(X[:, :, 0], axis=1) == 1).all()
    assert list(groups) == ["a"] * 5 + ["b"] * 4 + ["c"]


def label_rule_frames():
    """One video of 12 frames whose three 4-frame windows tell the rules apart."""
    labels = [1, 0, 0, 0] + [0, 0, 1, 0] + [0, 0, 0, 1]
    return pd.DataFrame({"video": 0, "x": np.arange(12.0), "label": labels})


@pytest.mark.parametrize(
    ("label_rule", "expected"),
    [
        ("center", [0, 1, 0]),
        ("any", [1, 1, 1]),
        ("last", [0, 0, 1]),
        (lambda labels: labels[0], [1, 0, 0]),
        (lambda labels: labels.sum() * 10, [10, 10, 10]),
    ],
)
def test_label_rules_give_documented_labels(label_rule, expected):
    _, y, _ = windows_of(label_rule_frames(), window=4, label_rule=label_rule)
    np.testing.assert_array_equal(y, expected)


def test_callable_label_rule_receives_each_window_in_frame_order():
    seen = []

    def record(labels):
        seen.append(labels)
        return 0

    windows_of(label_rule_frames(), window=4, label_rule=record)
    assert [list(labels) for labels in seen] == [[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]


@pytest.mark.parametrize(
    ("center_fraction", "expected"),
    [(0.25, [0, 0, 0]), (0.5, [0, 1, 0]), (1.0, [1, 1, 1])],
)
def test_center_fraction_sets_the_central_span(center_fraction, expected):
    _, y, _ = windows_of(label_rule_frames(), window=4, center_fraction=center_fraction)
    np.testing.assert_array_equal(y, expected)


def test_center_rule_takes_the_largest_multiclass_label():
    frames = pd.DataFrame({"video": 0, "x": np.arange(4.0), "label": [0, 2, 1, 3]})
    _, y, _ = windows_of(frames, window=4, label_rule="center")
    np.testing.assert_array_equal(y, [2])


STRING_LABELS = {0: "open", 1: "blink"}  # "open" sorts after "blink"


def string_label_frames():
    """label_rule_frames() with "open"/"blink" labels; windows ["blink", "open", "open",
    "open"], ["open", "open", "blink", "open"], ["open", "open", "open", "blink"]."""
    frames = label_rule_frames()
    frames["label"] = frames["label"].map(STRING_LABELS)
    return frames


@pytest.mark.parametrize(
    ("label_rule", "expected"),
    [("center", ["open", "blink", "open"]), ("any", ["blink", "blink", "blink"])],
)
def test_string_labels_are_windowed_by_the_named_event(label_rule, expected):
    # Before: no positive=, and "open" > "blink" made every window "open".
    _, y, _ = windows_of(string_label_frames(), window=4, label_rule=label_rule,
                         positive="blink")
    assert y.tolist() == expected


@pytest.mark.parametrize("label_rule", ["center", "any"])
@pytest.mark.parametrize("labels", [
    lambda frames: frames["label"].map(STRING_LABELS),
    lambda frames: frames["label"].map(STRING_LABELS).astype("category"),
], ids=["strings", "unordered-categorical"])
def test_string_labels_without_positive_are_refused_with_the_fix(label_rule, labels):
    frames = label_rule_frames()
    frames["label"] = labels(frames)
    with pytest.raises(ValueError, match=(
            rf"label_rule='{label_rule}' needs to know which label is the event.*"
            r"\['blink', 'open'\].*positive='blink'.*ordered Categorical")):
        windows_of(frames, window=4, label_rule=label_rule)


@pytest.mark.parametrize(
    ("label_rule", "expected"),
    [("center", ["open", "blink", "open"]), ("any", ["blink", "blink", "blink"])],
)
def test_an_ordered_categorical_makes_its_last_category_the_event(label_rule, expected):
    # Before: the values were compared as strings, and "open" won.
    frames = string_label_frames()
    frames["label"] = frames["label"].astype(pd.CategoricalDtype(["open", "blink"],
                                                                  ordered=True))
    _, y, _ = windows_of(frames, window=4, label_rule=label_rule)
    assert y.tolist() == expected


@pytest.mark.parametrize("label_rule", ["center", "any"])
@pytest.mark.parametrize(("dtype", "positive"), [(int, 1), (bool, True), (float, 1)])
def test_positive_keeps_the_windows_of_event_last_numbers(label_rule, dtype, positive):
    frames = label_rule_frames()
    frames["label"] = frames["label"].astype(dtype)
    _, expected, _ = windows_of(frames, window=4, label_rule=label_rule)
    _, y, _ = windows_of(frames, window=4, label_rule=label_rule, positive=positive)
    np.testing.assert_array_equal(y, expected)
    assert y.dtype == expected.dtype == frames["label"].dtype


def test_without_an_event_a_window_takes_its_most_common_label():
    labels = (["squint", "open", "squint", "open"] + ["open", "squint", "squint", "x"]
              + ["x", "blink", "squint", "x"] + ["open", "open", "x", "x"])
    frames = pd.DataFrame({"video": 0, "x": np.arange(16.0), "label": labels})
    _, y, _ = windows_of(frames, window=4, label_rule="any", positive="blink")
    # Ties go to the label that sorts first.
    assert y.tolist() == ["open", "squint", "blink", "open"]
    # Centres: open/squint, squint/squint, blink/squint (a tie), open/x.
    _, y, _ = windows_of(frames, window=4, label_rule="center", positive="x")
    assert y.tolist() == ["open", "squint", "blink", "x"]


def test_a_categorical_breaks_ties_by_its_category_order():
    frames = pd.DataFrame({"video": 0, "x": np.arange(4.0),
                           "label": pd.Categorical(["open", "squint", "squint", "open"],
                                                   categories=["squint", "open", "blink"])})
    _, y, _ = windows_of(frames, window=4, label_rule="any", positive="blink")
    assert y.tolist() == ["squint"]


def test_positive_must_be_a_label_of_the_column():
    with pytest.raises(ValueError, match=(r"positive='Blink' is not among the labels of "
                                          r"label_col 'label': \['blink', 'open'\]")):
        windows_of(string_label_frames(), window=4, label_rule="any", positive="Blink")
    with pytest.raises(ValueError, match=r"positive='blink' is not among the labels .*\[0, 1\]"):
        windows_of(label_rule_frames(), window=4, label_rule="any", positive="blink")
    frames = string_label_frames()
    frames["label"] = frames["label"].astype("category")
    with pytest.raises(ValueError, match=r"positive='Blink' is not a category of label_col"):
        windows_of(frames, window=4, label_rule="any", positive="Blink")


def test_a_categorical_may_name_an_event_absent_from_the_frames():
    frames = pd.DataFrame({"video": 0, "x": np.arange(4.0),
                           "label": pd.Categorical(["open"] * 4, categories=["open", "blink"])})
    _, y, _ = windows_of(frames, window=2, label_rule="any", positive="blink")
    assert y.tolist() == ["open", "open"]


def test_string_labels_need_no_positive_for_one_label_last_or_a_callable():
    frames = string_label_frames()
    assert windows_of(frames, window=4, label_rule="last")[1].tolist() == ["open", "open",
                                                                            "blink"]
    first = windows_of(frames, window=4, label_rule=lambda labels: labels[0])[1]
    assert first.tolist() == ["blink", "open", "open"]
    frames["label"] = "open"
    assert windows_of(frames, window=4, label_rule="any")[1].tolist() == ["open"] * 3


def test_order_col_sorts_shuffled_rows_within_each_group():
    expected_X, expected_y, expected_groups = windows_of(window=2, stride=1)
    shuffled = tiny_frames().sample(frac=1.0, random_state=0)
    X, y, groups = windows_of(shuffled, window=2, stride=1, order_col="frame")
    for group in ["a", "b", "c"]:
        np.testing.assert_array_equal(X[groups == group], expected_X[expected_groups == group])
        np.testing.assert_array_equal(y[groups == group], expected_y[expected_groups == group])


def test_without_order_col_the_row_order_is_kept():
    reversed_frames = tiny_frames().iloc[::-1]
    X, _, _ = windows_of(reversed_frames, window=2)
    np.testing.assert_array_equal(X[0, :, 0], [301, 300])


def test_input_dataframe_is_not_modified():
    frames = tiny_frames().sample(frac=1.0, random_state=1)
    before = frames.copy()
    windows_of(frames, window=2, order_col="frame", label_rule=lambda labels: labels.max())
    pd.testing.assert_frame_equal(frames, before)


def test_group_kfold_keeps_every_group_on_one_side():
    frames = blink_data(120, seq_len=20, return_frames=True)
    X, y, groups = frames_to_windows(
        frames, window=20, stride=10, feature_cols=EAR_COLUMNS, label_col="blink", group_col="video"
    )
    for train, test in GroupKFold(n_splits=3).split(X, y, groups):
        assert not set(groups[train]) & set(groups[test])


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match=r"no column\(s\) \['ear', 'subject'\]"):
        windows_of(window=2, feature_cols=["x", "ear"], group_col="subject")


def test_nan_feature_names_its_column_and_first_row():
    frames = tiny_frames().astype({"x2": float})
    frames.loc[3, "x2"] = np.nan
    frames.loc[1, "x2"] = np.inf
    with pytest.raises(ValueError, match=r"\['x2'\] hold NaN or infinite values, first in "
                                         r"row 1 \(index 1: x2=inf\)"):
        windows_of(frames, window=2, feature_cols=["x", "x2"])


def test_features_beyond_float32_are_rejected_not_turned_into_inf():
    frames = tiny_frames().astype({"x2": float})
    frames.loc[3, "x2"] = 1e300
    with pytest.raises(ValueError, match=r"\['x2'\] hold values beyond float32"):
        windows_of(frames, window=2, feature_cols=["x", "x2"])


def test_nan_label_is_rejected():
    frames = tiny_frames().astype({"label": float})
    frames.loc[0, "label"] = np.nan
    with pytest.raises(ValueError, match="label_col column 'label' holds NaN"):
        windows_of(frames, window=2)


def test_non_numeric_feature_is_rejected():
    with pytest.raises(TypeError, match=r"numeric; \['video'\]"):
        windows_of(window=2, feature_cols=["x", "video"])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"window": 0}, ValueError, "window=0 must be >= 1"),
        ({"window": 2.5}, TypeError, "window must be an int"),
        ({"window": 2, "stride": 0}, ValueError, "stride=0 must be >= 1"),
        ({"window": 2, "center_fraction": 0.0}, ValueError, r"must lie in \(0, 1\]"),
        ({"window": 2, "center_fraction": 1.5}, ValueError, r"must lie in \(0, 1\]"),
        ({"window": 2, "label_rule": "middle"}, ValueError, "label_rule='middle' is unknown"),
        ({"window": 2, "label_rule": 3}, TypeError, "label_rule must be one of"),
        ({"window": 7}, ValueError, "no window of 7 frames fits.*longest group has 6"),
    ],
)
def test_bad_window_arguments_raise_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        windows_of(**kwargs)


def test_frames_must_be_a_dataframe():
    with pytest.raises(TypeError, match="frames must be a pandas DataFrame"):
        frames_to_windows(
            tiny_frames().to_numpy(),
            window=2,
            feature_cols=["x"],
            label_col="label",
            group_col="video",
        )


# --- frames_to_windows: gaps and duplicate frames -------------------------------------


def gappy_frames():
    """Video 'a' misses frames 5 and 6, video 'b' frame 3; feature = 100 * video + frame,
    label 1 on even frames."""
    frame_numbers = {"a": [0, 1, 2, 3, 4, 7, 8, 9, 10, 11], "b": [0, 1, 2, 4, 5, 6]}
    rows = [(video, frame) for video, frames in frame_numbers.items() for frame in frames]
    number = {"a": 1, "b": 2}
    return pd.DataFrame(
        {
            "video": [video for video, _ in rows],
            "frame": [frame for _, frame in rows],
            "x": [100 * number[video] + frame for video, frame in rows],
            "label": [int(frame % 2 == 0) for _, frame in rows],
        }
    )


def gappy_windows(frames=None, **kwargs):
    kwargs = {"order_col": "frame", **kwargs}
    return windows_of(gappy_frames() if frames is None else frames, **kwargs)


@pytest.mark.parametrize(
    ("window", "stride", "starts"),
    [
        (3, 1, [100, 101, 102, 107, 108, 109, 200, 204]),
        (3, 2, [100, 102, 107, 109, 200, 204]),
        (2, 3, [100, 103, 107, 110, 200, 204]),
        (5, 1, [100, 107]),
    ],
)
def test_windows_never_span_missing_frames(window, stride, starts):
    X, _, groups = gappy_windows(window=window, stride=stride)
    expected = np.array([[[s + i] for i in range(window)] for s in starts], dtype=np.float32)
    np.testing.assert_array_equal(X, expected)
    np.testing.assert_array_equal(groups, ["a" if s < 200 else "b" for s in starts])


def test_labels_come_from_the_frames_of_each_window_across_a_gap():
    X, y, _ = gappy_windows(window=3, stride=1, label_rule="last")
    last_frame = X[:, -1, 0].astype(int) % 100
    np.testing.assert_array_equal(y, (last_frame % 2 == 0).astype(int))


def test_callable_label_rule_sees_only_consecutive_frames():
    frames = gappy_frames().assign(label=gappy_frames()["frame"])
    seen = []

    def record(labels):
        seen.append(labels.tolist())
        return 0

    windows_of(frames, window=3, order_col="frame", label_rule=record)
    assert seen == [[0, 1, 2], [7, 8, 9], [0, 1, 2], [4, 5, 6]]


def test_gaps_are_found_in_shuffled_rows_with_a_repeated_index():
    expected = gappy_windows(window=2, stride=1)
    shuffled = gappy_frames().sample(frac=1.0, random_state=3)
    shuffled.index = np.zeros(len(shuffled), dtype=int)
    got = gappy_windows(shuffled, window=2, stride=1)
    for group in ["a", "b"]:
        for expected_part, got_part in zip(expected, got, strict=True):
            np.testing.assert_array_equal(got_part[got[2] == group],
                                          expected_part[expected[2] == group])


def test_nullable_integer_frame_numbers_split_at_gaps():
    frames = gappy_frames().astype({"frame": "Int64"})
    X, _, _ = gappy_windows(frames, window=5)
    np.testing.assert_array_equal(X[:, 0, 0], [100, 107])


def test_without_order_col_the_rows_are_taken_as_consecutive():
    X, _, _ = windows_of(gappy_frames(), window=3, stride=1)
    np.testing.assert_array_equal(X[3, :, 0], [103, 104, 107])


def test_no_window_fitting_between_gaps_says_so():
    with pytest.raises(ValueError, match="longest group has 10 frames but the longest run of "
                                         "consecutive frames \\(by 'frame'\\) has 5"):
        gappy_windows(window=6)


def test_duplicate_frames_are_refused_naming_the_first_in_frame_order():
    frames = gappy_frames()
    duplicates = frames.iloc[[7, 3, 12]]  # ('a', 9), ('a', 3) and ('b', 2) again
    frames = pd.concat([duplicates, frames], ignore_index=True)
    with pytest.raises(ValueError, match=r"video='a' at frame=3.*drop_duplicates\(subset="
                                         r"\['video', 'frame'\]\)"):
        gappy_windows(frames, window=2)


def test_the_same_frame_number_in_two_groups_is_no_duplicate():
    X, _, groups = gappy_windows(window=3)
    assert set(groups) == {"a", "b"} and len(X) == 4


def seconds_frames(timestamps):
    return pd.DataFrame({"video": 0, "t": timestamps, "x": np.arange(len(timestamps)),
                         "label": 0})


def test_float_time_stamps_split_at_gaps_of_more_than_half_a_step():
    step = 1 / 30
    jitter = np.array([0.0, 0.004, -0.004, 0.0, 0.0, 0.0, 0.003, 0.0])
    t = np.array([0, 1, 2, 3, 5, 6, 7, 8]) * step + jitter  # frame 4 missing
    X, _, _ = windows_of(seconds_frames(t), window=2, stride=1, order_col="t", frame_step=step)
    np.testing.assert_array_equal(X[:, :, 0], [[0, 1], [1, 2], [2, 3], [4, 5], [5, 6], [6, 7]])


@pytest.mark.parametrize("frame_step", [pd.Timedelta(milliseconds=40), "40ms",
                                        np.timedelta64(40, "ms")])
def test_datetime_order_splits_at_gaps(frame_step):
    t = pd.Timestamp("2024-05-01 12:00", tz="UTC") + pd.to_timedelta(
        [0, 40, 81, 200, 240, 279], unit="ms")
    X, _, _ = windows_of(seconds_frames(t), window=2, stride=1, order_col="t",
                         frame_step=frame_step)
    np.testing.assert_array_equal(X[:, :, 0], [[0, 1], [1, 2], [3, 4], [4, 5]])


def test_timedelta_order_needs_a_time_step():
    frames = seconds_frames(pd.to_timedelta([0, 40, 80, 200], unit="ms"))
    X, _, _ = windows_of(frames, window=2, stride=1, order_col="t", frame_step="40ms")
    np.testing.assert_array_equal(X[:, :, 0], [[0, 1], [1, 2]])


@pytest.mark.parametrize(
    ("frames", "kwargs", "error", "match"),
    [
        (seconds_frames([0.0, 0.5, 1.0]), {}, ValueError,
         "'t' holds float64 values, not integer frame numbers.*pass frame_step"),
        (seconds_frames(pd.date_range("2024", periods=3, freq="s")), {}, ValueError,
         "pass frame_step, the time from one frame to the next"),
        (seconds_frames(pd.date_range("2024", periods=3, freq="s")), {"frame_step": 1},
         TypeError, "must be a time, not the number 1"),
        (seconds_frames(pd.date_range("2024", periods=3, freq="s")), {"frame_step": "soon"},
         TypeError, "'soon' is not a time"),
        (seconds_frames(pd.date_range("2024", periods=3, freq="s")), {"frame_step": "-1s"},
         ValueError, "must be a positive time"),
        (seconds_frames([0.0, 0.5, 1.0]), {"frame_step": "40ms"}, TypeError,
         "holds numbers, so frame_step must be a number"),
        (seconds_frames([0.0, 0.5, 1.0]), {"frame_step": 0.0}, ValueError,
         "frame_step=0.0 must be a positive"),
        (seconds_frames([0.0, 0.5, 1.0]), {"frame_step": True}, TypeError,
         "must be a number; got True"),
        (seconds_frames(["0", "1", "2"]), {}, TypeError,
         r"'t' holds .* values; it must hold frame numbers.*frames\['t'\]\.astype\(int\)"),
        (seconds_frames([True, False, True]), {}, TypeError, "it must hold frame numbers"),
    ],
)
def test_bad_order_columns_and_frame_steps_are_refused(frames, kwargs, error, match):
    with pytest.raises(error, match=match):
        windows_of(frames, window=2, order_col="t", **kwargs)


def test_frame_step_needs_an_order_col():
    with pytest.raises(ValueError, match="frame_step=1 needs order_col"):
        windows_of(window=2, frame_step=1)

"""make_blink_recordings (per-frame labelled recordings) and frames_to_sequences."""

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GroupKFold

from sktorchcw import LSTMBlinkTagger
from sktorchcw.datasets import frames_to_sequences, make_blink_recordings
from sktorchcw.events import event_scores, frames_to_events

EAR_COLUMNS = ["ear_left", "ear_right"]


def recordings(n_recordings=20, **kwargs):
    kwargs.setdefault("random_state", 0)
    return make_blink_recordings(n_recordings, **kwargs)


def events_of(y):
    return [frames_to_events(labels) for labels in y]


# --- make_blink_recordings: shapes, lengths ------------------------------------------


def test_recordings_are_lists_of_float32_ear_and_int64_labels():
    X, y = recordings(5, duration_s=12)
    assert isinstance(X, list) and isinstance(y, list)
    assert len(X) == len(y) == 5
    for ear, labels in zip(X, y, strict=True):
        assert ear.shape == (360, 2) and ear.dtype == np.float32
        assert labels.shape == (360,) and labels.dtype == np.int64
        assert set(np.unique(labels)) <= {0, 1}
        assert np.isfinite(ear).all() and ear.min() >= 0.01


@pytest.mark.parametrize(("duration_s", "fps", "n_frames"),
                         [(30.0, 30, 900), (10, 25, 250), (2.5, 60, 150), (7.51, 29.97, 225)])
def test_a_fixed_duration_gives_rounded_duration_times_fps_frames(duration_s, fps, n_frames):
    X, y = recordings(3, duration_s=duration_s, fps=fps)
    assert [len(ear) for ear in X] == [n_frames] * 3
    assert [len(labels) for labels in y] == [n_frames] * 3


def test_a_duration_range_draws_each_recordings_length_in_it():
    X, _ = recordings(50, duration_s=(10, 40))
    lengths = np.array([len(ear) for ear in X])
    assert lengths.min() >= 300 and lengths.max() <= 1200
    assert len(set(lengths)) > 40
    assert lengths.min() < 450 and lengths.max() > 1050


def test_a_range_of_one_duration_equals_that_duration():
    for expected, got in zip(recordings(4, duration_s=20), recordings(4, duration_s=(20, 20)),
                             strict=True):
        for a, b in zip(expected, got, strict=True):
            np.testing.assert_array_equal(a, b)


# --- make_blink_recordings: the labels match the signal -------------------------------


def test_blink_frames_have_both_eyes_closing():
    X, y = recordings(30, noise=0.005, hard_negative_rate=0.0)
    n_blinks = 0
    for ear, blinks in zip(X, events_of(y), strict=True):
        median = np.median(ear, axis=0)
        for start, stop in blinks:
            n_blinks += 1
            assert (ear[start:stop].min(axis=0) < 0.5 * median).all()
            # The frames just outside a blink are open.
            assert (ear[[start - 1, stop]] > 0.85 * median).all()
    assert n_blinks > 100


def test_without_blinks_or_hard_negatives_the_eyes_stay_open():
    X, y = recordings(10, blink_rate=0.0, hard_negative_rate=0.0, noise=0.005)
    assert all((labels == 0).all() for labels in y)
    for ear in X:
        ratio = ear / np.median(ear, axis=0)
        assert 0.85 < ratio.min() and ratio.max() < 1.15


def test_blinks_last_as_long_as_in_the_window_model():
    _, y = recordings(40)
    lengths = np.array([stop - start for blinks in events_of(y) for start, stop in blinks])
    # 0.18 to 0.40 s, plus a lag of up to one frame, at 30 fps: 5 to 14 frames.
    assert lengths.min() >= 5 and lengths.max() <= 14
    assert 8 <= lengths.mean() <= 10


def test_blinks_are_separated_by_the_refractory_gap_and_lie_inside_the_recording():
    _, y = recordings(60, duration_s=8, blink_rate=40.0, hard_negative_rate=0.0)
    for labels, blinks in zip(y, events_of(y), strict=True):
        assert labels[0] == 0 and labels[-1] == 0
        starts = np.array([start for start, _ in blinks])
        stops = np.array([stop for _, stop in blinks])
        assert (starts[1:] - stops[:-1] >= 15).all()  # 0.5 s at 30 fps


def test_hard_negatives_dip_without_blink_labels():
    X, y = recordings(20, blink_rate=0.0, hard_negative_rate=20.0, noise=0.005)
    assert all((labels == 0).all() for labels in y)
    ratios = [ear / np.median(ear, axis=0) for ear in X]
    # Winks: one eye closes, the other barely moves, in the same frame.
    winks = sum(((r.min(axis=1) < 0.5) & (r.max(axis=1) > 0.85)).any() for r in ratios)
    # Squints: both eyes at 60-85 % of their median for at least 5 frames.
    squints = sum((((r > 0.5) & (r < 0.85)).all(axis=1)).sum() >= 5 for r in ratios)
    # Head motion: both eyes jump up together.
    spikes = sum(((r > 1.15).all(axis=1)).any() for r in ratios)
    assert winks >= 15 and squints >= 15 and spikes >= 10


def test_blink_frame_prevalence_at_the_defaults_is_about_7_7_percent():
    _, y = recordings(400)
    assert 0.07 < np.concatenate(y).mean() < 0.085


def test_blink_rate_12_gives_about_6_percent_blink_frames():
    _, y = recordings(400, blink_rate=12.0)
    assert 0.055 < np.concatenate(y).mean() < 0.068


@pytest.mark.parametrize("blink_rate", [6.0, 15.0, 30.0])
def test_blink_rate_is_the_mean_number_of_blinks_per_minute(blink_rate):
    _, y = recordings(100, duration_s=60, blink_rate=blink_rate)
    per_minute = np.array([len(blinks) for blinks in events_of(y)])
    assert per_minute.mean() == pytest.approx(blink_rate, rel=0.1)
    # Poisson counts: the variance is about the mean.
    assert per_minute.var() == pytest.approx(blink_rate, rel=0.4)


# --- make_blink_recordings: reproducibility and arguments -------------------------------


def assert_same_recordings(first, second):
    for a_list, b_list in zip(first, second, strict=True):
        assert len(a_list) == len(b_list)
        for a, b in zip(a_list, b_list, strict=True):
            np.testing.assert_array_equal(a, b)


def test_same_random_state_gives_identical_recordings():
    assert_same_recordings(recordings(5, duration_s=(5, 20), random_state=3),
                           recordings(5, duration_s=(5, 20), random_state=3))
    assert_same_recordings(recordings(5, random_state=np.random.RandomState(3)),
                           recordings(5, random_state=3))


def test_different_random_states_give_different_recordings():
    X1, y1 = recordings(3, random_state=1)
    X2, y2 = recordings(3, random_state=2)
    assert not np.array_equal(X1[0], X2[0])
    assert not np.array_equal(y1[0], y2[0])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_recordings": 0}, ValueError, "n_recordings=0 must be >= 1"),
        ({"n_recordings": 2.0}, TypeError, "n_recordings must be an int"),
        ({"duration_s": "30s"}, TypeError, "duration_s must be a number of seconds or a"),
        ({"duration_s": (10, 20, 30)}, TypeError, r"a \(low, high\) pair; got .* 3 items"),
        ({"duration_s": (20, 10)}, ValueError, r"must satisfy 0 < low <= high"),
        ({"duration_s": (10, "20")}, TypeError, r"duration_s\[1\] must be a number"),
        ({"duration_s": 0}, ValueError, "duration_s=0 must be positive"),
        ({"duration_s": float("inf")}, ValueError, "duration_s=inf must be finite"),
        ({"duration_s": True}, TypeError, "duration_s must be a number"),
        ({"fps": 0}, ValueError, "fps=0 must be positive"),
        ({"fps": "30"}, TypeError, "fps must be a number"),
        ({"blink_rate": -1.0}, ValueError, r"blink_rate=-1.0 must be >= 0"),
        ({"blink_rate": None}, TypeError, "blink_rate must be a number"),
        ({"hard_negative_rate": -0.5}, ValueError, "hard_negative_rate=-0.5 must be >= 0"),
        ({"hard_negative_rate": float("nan")}, ValueError, "must be finite"),
        ({"noise": -0.01}, ValueError, "noise=-0.01 must be >= 0"),
    ],
)
def test_bad_recording_arguments_raise_clear_errors(kwargs, error, match):
    kwargs = {"n_recordings": 2, **kwargs}
    with pytest.raises(error, match=match):
        make_blink_recordings(**kwargs)


def test_too_short_recordings_name_the_shortest_duration():
    with pytest.raises(ValueError, match=r"too short to hold a blink.*duration_s >= 0\.50"):
        make_blink_recordings(2, duration_s=(0.4, 3), fps=30)
    X, y = make_blink_recordings(2, duration_s=0.5, fps=30, blink_rate=40.0,
                                 hard_negative_rate=0.0, random_state=0)
    assert [len(ear) for ear in X] == [15, 15]


def test_rates_too_high_for_the_events_to_fit_are_refused_with_the_highest_that_fits():
    with pytest.raises(ValueError, match=r"would take .* s of every minute on average; at "
                                         r"most 45 s may.*blink_rate <= 39\)"):
        make_blink_recordings(2, blink_rate=45.0)
    make_blink_recordings(2, blink_rate=39.0, random_state=0)


# --- a tagger finds the generated blinks ------------------------------------------------


def test_a_briefly_trained_balanced_tagger_finds_most_blinks():
    X, y = recordings(12, duration_s=20)
    X_test, y_test = recordings(6, duration_s=30, random_state=1)
    tagger = LSTMBlinkTagger(class_weight="balanced", bidirectional=True, hidden_size=16,
                             max_epochs=6, batch_size=8, lr=0.02, device="cpu",
                             random_state=0)
    scores = event_scores(y_test, tagger.fit(X, y).predict(X_test))
    assert scores["tp"] + scores["fn"] > 30
    assert scores["recall"] >= 0.9
    assert scores["f1"] >= 0.8


# --- frames_to_sequences ------------------------------------------------------------------


def recordings_table(X, y, names=None):
    names = names if names is not None else [f"rec{i}" for i in range(len(X))]
    return pd.concat(
        [pd.DataFrame({"video": name, "frame": np.arange(len(ear)), "ear_left": ear[:, 0],
                       "ear_right": ear[:, 1], "blink": labels})
         for name, ear, labels in zip(names, X, y, strict=True)],
        ignore_index=True,
    )


def sequences_of(frames, **kwargs):
    kwargs = {"feature_cols": EAR_COLUMNS, "label_col": "blink", "group_col": "video",
              **kwargs}
    return frames_to_sequences(frames, **kwargs)


def test_a_table_of_recordings_gives_the_recordings_back():
    X, y = recordings(6, duration_s=(5, 15))
    names = ["z", "b", "m", "a", "q", "c"]
    got_X, got_y, groups = sequences_of(recordings_table(X, y, names), order_col="frame")
    assert groups.tolist() == names
    assert_same_recordings((got_X, got_y), (X, y))
    assert all(ear.dtype == np.float32 and ear.flags.c_contiguous for ear in got_X)
    assert all(labels.dtype == np.int64 for labels in got_y)


def test_shuffled_rows_are_put_back_in_frame_order():
    X, y = recordings(4, duration_s=(5, 15))
    frames = recordings_table(X, y).sample(frac=1.0, random_state=0)
    frames.index = np.zeros(len(frames), dtype=int)
    got_X, got_y, groups = sequences_of(frames, order_col="frame")
    order = np.argsort([int(name[3:]) for name in groups])
    assert_same_recordings(([got_X[i] for i in order], [got_y[i] for i in order]), (X, y))


def gappy_frames():
    """Video 'a' misses frames 5 and 6, video 'b' frame 3; x = 100 * video + frame,
    label 1 on even frames."""
    frame_numbers = {"a": [0, 1, 2, 3, 4, 7, 8, 9, 10, 11], "b": [0, 1, 2, 4, 5, 6]}
    rows = [(video, frame) for video, frames in frame_numbers.items() for frame in frames]
    number = {"a": 1, "b": 2}
    return pd.DataFrame({
        "video": [video for video, _ in rows],
        "frame": [frame for _, frame in rows],
        "x": [100 * number[video] + frame for video, frame in rows],
        "label": [int(frame % 2 == 0) for _, frame in rows],
    })


def gappy_sequences(frames=None, **kwargs):
    kwargs = {"feature_cols": "x", "label_col": "label", "group_col": "video",
              "order_col": "frame", **kwargs}
    return frames_to_sequences(gappy_frames() if frames is None else frames, **kwargs)


def test_a_gap_starts_a_new_sequence():
    X, y, groups = gappy_sequences()
    assert [x[:, 0].tolist() for x in X] == [
        [100, 101, 102, 103, 104], [107, 108, 109, 110, 111], [200, 201, 202], [204, 205, 206]]
    assert [labels.tolist() for labels in y] == [
        [1, 0, 1, 0, 1], [0, 1, 0, 1, 0], [1, 0, 1], [1, 0, 1]]
    assert groups.tolist() == ["a", "a", "b", "b"]


@pytest.mark.parametrize(("max_len", "lengths"), [
    (1, [1] * 16),
    (2, [2, 2, 1, 2, 2, 1, 2, 1, 2, 1]),
    (3, [3, 2, 3, 2, 3, 3]),
    (4, [4, 1, 4, 1, 3, 3]),
    (5, [5, 5, 3, 3]),
    (100, [5, 5, 3, 3]),
])
def test_max_len_cuts_runs_into_chunks_the_last_one_shorter(max_len, lengths):
    X, y, groups = gappy_sequences(max_len=max_len)
    assert [len(x) for x in X] == lengths
    assert [len(labels) for labels in y] == lengths
    assert len(groups) == len(lengths)


@pytest.mark.parametrize("max_len", [None, 1, 3, 7])
@pytest.mark.parametrize("order_col", [None, "frame"])
def test_a_groups_sequences_concatenate_to_its_rows_in_order(max_len, order_col):
    frames = gappy_frames().sample(frac=1.0, random_state=2)
    X, y, groups = gappy_sequences(frames, max_len=max_len, order_col=order_col)
    for group in ["a", "b"]:
        rows = frames[frames["video"] == group]
        if order_col is not None:
            rows = rows.sort_values("frame")
        mine = [i for i, g in enumerate(groups) if g == group]
        np.testing.assert_array_equal(np.concatenate([X[i][:, 0] for i in mine]), rows["x"])
        np.testing.assert_array_equal(np.concatenate([y[i] for i in mine]), rows["label"])


def test_without_order_col_the_rows_of_a_group_are_one_sequence():
    X, _, groups = gappy_sequences(order_col=None)
    assert [len(x) for x in X] == [10, 6] and groups.tolist() == ["a", "b"]


def test_float_time_stamps_split_at_gaps_of_more_than_half_a_step():
    step = 1 / 30
    t = np.array([0, 1, 2, 3, 5, 6, 7]) * step + np.array([0, 0.004, -0.004, 0, 0, 0.003, 0])
    frames = pd.DataFrame({"video": 0, "t": t, "x": np.arange(7.0), "label": 0})
    X, _, _ = gappy_sequences(frames, order_col="t", frame_step=step)
    assert [x[:, 0].tolist() for x in X] == [[0, 1, 2, 3], [4, 5, 6]]


def test_duplicate_frames_are_refused_naming_the_first_in_frame_order():
    frames = gappy_frames()
    frames = pd.concat([frames.iloc[[7, 3, 12]], frames], ignore_index=True)
    with pytest.raises(ValueError, match=r"video='a' at frame=3.*drop_duplicates\(subset="
                                         r"\['video', 'frame'\]\)"):
        gappy_sequences(frames)


@pytest.mark.parametrize("labels", [
    np.array(["open", "blink"] * 8),
    np.array([True, False] * 8),
    pd.array([0, 1] * 8, dtype="Int64"),
    pd.Categorical(["open", "closed"] * 8),
    np.array([0.0, 1.0] * 8),
])
def test_labels_of_any_type_come_back_as_given(labels):
    frames = gappy_frames().assign(label=labels)
    _, y, _ = gappy_sequences(frames)
    expected = frames["label"].to_numpy()
    np.testing.assert_array_equal(np.concatenate(y), expected)
    assert all(part.dtype == expected.dtype for part in y)


def test_groups_keep_each_video_on_one_side_of_group_kfold():
    X, y = recordings(8, duration_s=10)
    X_seq, _, groups = sequences_of(recordings_table(X, y), order_col="frame", max_len=100)
    assert len(X_seq) == 24
    for train, test in GroupKFold(n_splits=4).split(X_seq, groups=groups):
        assert not set(groups[train]) & set(groups[test])


def test_the_table_is_not_modified():
    frames = gappy_frames().sample(frac=1.0, random_state=1)
    before = frames.copy()
    gappy_sequences(frames, max_len=3)
    pd.testing.assert_frame_equal(frames, before)


def test_nan_feature_names_the_first_row():
    frames = gappy_frames().astype({"x": float})
    frames.loc[[4, 9], "x"] = np.nan
    frames.index = [f"r{i}" for i in range(len(frames))]
    with pytest.raises(ValueError, match=r"\['x'\] hold NaN or infinite values, first in row "
                                         r"4 \(index 'r4': x=nan\)"):
        gappy_sequences(frames)


@pytest.mark.parametrize(
    ("frames", "kwargs", "error", "match"),
    [
        (gappy_frames(), {"max_len": 0}, ValueError, "max_len=0 must be >= 1"),
        (gappy_frames(), {"max_len": 2.5}, TypeError, "max_len must be an int"),
        (gappy_frames(), {"max_len": True}, TypeError, "max_len must be an int"),
        (gappy_frames(), {"feature_cols": ["x", "ear"], "group_col": "subject"}, ValueError,
         r"no column\(s\) \['ear', 'subject'\]"),
        (gappy_frames(), {"feature_cols": []}, ValueError, "feature_cols is empty"),
        (gappy_frames().assign(x="a"), {}, TypeError, r"numeric; \['x'\]"),
        (gappy_frames().astype({"label": float}).assign(label=np.nan), {}, ValueError,
         "label_col column 'label' holds NaN"),
        (gappy_frames().iloc[:0], {}, ValueError, "frames has no rows"),
        (gappy_frames(), {"order_col": None, "frame_step": 1}, ValueError,
         "frame_step=1 needs order_col"),
        (gappy_frames().astype({"frame": float}), {}, ValueError, "pass frame_step"),
    ],
)
def test_bad_sequence_arguments_raise_clear_errors(frames, kwargs, error, match):
    with pytest.raises(error, match=match):
        gappy_sequences(frames, **kwargs)


def test_frames_must_be_a_dataframe():
    with pytest.raises(TypeError, match="frames must be a pandas DataFrame"):
        frames_to_sequences(gappy_frames().to_numpy(), feature_cols=["x"], label_col="label",
                            group_col="video")

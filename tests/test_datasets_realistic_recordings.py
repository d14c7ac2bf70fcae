"""make_blink_recordings with what made real recordings hard: subjects, mixed frame
rates, long recordings, labels ahead of the signal and stretches without a face."""


import numpy as np
import pytest
from sklearn.model_selection import GroupKFold

from sktorchcw.datasets import make_blink_recordings
from sktorchcw.events import frames_to_events

# The collection the docstring's last example draws: 10 people, 40 recordings.
REALISTIC = {"subjects": 10, "n_frames": (1000, 16000), "fps": (6, 30), "blink_rate": 9,
             "label_lead": (0, 2), "missing_runs": (1, 4), "return_info": True}


def realistic(n_recordings=40, random_state=0, **kwargs):
    return make_blink_recordings(n_recordings, **{**REALISTIC, **kwargs},
                                 random_state=random_state)


@pytest.fixture(scope="module")
def collection():
    return realistic()


def runs(mask):
    """(start, stop) of each run of True in a 1-D mask."""
    return frames_to_events(mask.astype(np.int64))


# --- the defaults are unchanged -----------------------------------------------------

# Sum, sum of squares, blink frames and lengths of the recordings the module gave before
# the new arguments (kwargs, then those numbers).
UNCHANGED_CASES = [
    ({"n_recordings": 5, "random_state": 0},
     2601.555846037343, 778.3581260556841, 315, [900] * 5),
    ({"n_recordings": 4, "duration_s": (10, 60), "random_state": 0},
     2852.499039389193, 874.9346340464996, 356, [1123, 1373, 1204, 1117]),
    ({"n_recordings": 6, "duration_s": (2, 200), "fps": 12, "blink_rate": 25,
      "hard_negative_rate": 8, "noise": 0.05, "random_state": 7},
     4618.85214047879, 1354.183432116571, 1067, [205, 1877, 1066, 1743, 2348, 1303]),
    ({"n_recordings": 3, "blink_rate": 0, "random_state": 2},
     1694.261328496039, 539.7313842003806, 0, [900] * 3),
]


@pytest.mark.parametrize(("kwargs", "total", "squares", "blink_frames", "lengths"),
                         UNCHANGED_CASES)
def test_the_defaults_give_the_recordings_they_always_did(kwargs, total, squares,
                                                          blink_frames, lengths):
    X, y = make_blink_recordings(**kwargs)
    ear = np.concatenate(X).astype(np.float64)
    assert float(ear.sum()) == pytest.approx(total, rel=1e-9)
    assert float((ear ** 2).sum()) == pytest.approx(squares, rel=1e-9)
    assert int(np.concatenate(y).sum()) == blink_frames
    assert [len(x) for x in X] == lengths


def test_new_arguments_at_their_defaults_or_single_values_change_nothing():
    X, y = make_blink_recordings(6, duration_s=(5, 40), random_state=3)
    same = [
        {"subjects": None, "label_lead": 0, "missing_runs": 0, "n_frames": None},
        {"fps": (30, 30), "label_lead": (0, 0), "missing_runs": (0, 0)},
    ]
    for kwargs in same:
        X2, y2 = make_blink_recordings(6, duration_s=(5, 40), random_state=3, **kwargs)
        for a, b in zip(X + y, X2 + y2, strict=True):
            np.testing.assert_array_equal(a, b)
    X3, y3, info = make_blink_recordings(6, duration_s=(5, 40), random_state=3,
                                         return_info=True)
    for a, b in zip(X + y, X3 + y3, strict=True):
        np.testing.assert_array_equal(a, b)
    assert info["subject"].tolist() == list(range(6))
    assert (info["fps"] == 30).all() and (info["label_lead"] == 0).all()
    assert (info["missing_frames"] == 0).all()
    assert info["blinks"].tolist() == [len(frames_to_events(labels)) for labels in y]


# --- the requested properties -------------------------------------------------------


def test_outputs_have_the_documented_types(collection):
    X, y, groups, info = collection
    assert len(X) == len(y) == len(groups) == len(info) == 40
    assert all(x.dtype == np.float32 and x.shape == (len(labels), 2)
               for x, labels in zip(X, y, strict=True))
    assert all(labels.dtype == np.int64 and set(np.unique(labels)) <= {0, 1} for labels in y)
    assert groups.dtype == np.int64
    assert list(info.columns) == ["subject", "fps", "n_frames", "label_lead", "blinks",
                                  "missing_frames"]
    assert info["subject"].tolist() == groups.tolist()
    assert info["n_frames"].tolist() == [len(x) for x in X]


def test_frame_rates_are_drawn_per_recording_from_6_to_30_fps(collection):
    fps = collection[3]["fps"]
    assert fps.between(6, 30).all()
    assert fps.min() < 9 and fps.max() > 27  # the range is covered
    assert fps.nunique() == 40


def test_a_duration_gives_round_duration_times_each_recordings_fps():
    X, y, info = make_blink_recordings(30, duration_s=100, fps=(6, 30), return_info=True,
                                       random_state=0)
    assert [len(x) for x in X] == np.rint(100 * info["fps"]).astype(int).tolist()


def test_recordings_have_1000_to_16000_frames(collection):
    lengths = np.array([len(x) for x in collection[0]])
    assert lengths.min() >= 1000 and lengths.max() <= 16000
    assert lengths.min() < 3000 and lengths.max() > 13000
    X, _ = make_blink_recordings(3, n_frames=1234, fps=(6, 30), random_state=0)
    assert [len(x) for x in X] == [1234] * 3


@pytest.mark.parametrize("random_state", [0, 1, 2])
def test_3_to_6_percent_of_the_frames_are_inside_a_blink(random_state):
    _, y, _, _ = realistic(random_state=random_state)
    share = np.concatenate(y).mean()
    assert 0.03 <= share <= 0.06
    per_recording = np.array([labels.mean() for labels in y])
    assert 0.03 <= np.median(per_recording) <= 0.06


def test_every_recording_has_a_few_short_runs_without_a_face(collection):
    X, y, _, info = collection
    for x, labels, fps, missing in zip(X, y, info["fps"], info["missing_frames"],
                                       strict=True):
        nan = np.isnan(x)
        np.testing.assert_array_equal(nan[:, 0], nan[:, 1])  # no face: both eyes
        no_face = runs(nan[:, 0])
        assert 1 <= len(no_face) <= 4
        lengths = [stop - start for start, stop in no_face]
        assert min(lengths) >= max(1, np.rint(0.2 * fps)) - 1
        assert max(lengths) <= np.rint(1.5 * fps) + 1
        assert nan[:, 0].sum() == missing
        assert not labels[nan[:, 0]].any()  # no blink hides in them
        assert np.isfinite(x[~nan[:, 0]]).all()


def blink_minimum_lags(X, y):
    """For each labelled blink, the frames from its first label to the EAR's minimum."""
    lags = []
    for x, labels in zip(X, y, strict=True):
        ear = x.mean(axis=1)
        lags.append([int(np.nanargmin(ear[start : stop + 4]))
                     for start, stop in frames_to_events(labels)])
    return lags


@pytest.mark.parametrize("fps", [6, 30])
def test_labels_lead_the_signal_by_label_lead_frames(fps):
    """The lag from label onsets to the signal's minima grows by exactly the lead."""
    def mean_lag(lead):
        X, y = make_blink_recordings(10, duration_s=120, fps=fps, noise=0.0,
                                     label_lead=lead, random_state=0)
        return np.mean(np.concatenate(blink_minimum_lags(X, y)))

    no_lead = mean_lag(0)
    for lead in (1, 2):
        assert mean_lag(lead) - no_lead == pytest.approx(lead, abs=0.2)


def test_each_recordings_lead_is_drawn_in_the_range_and_measurable():
    kwargs = {"duration_s": 120, "fps": 30, "noise": 0.0, "random_state": 1}
    X, y = make_blink_recordings(12, **kwargs)
    no_lead = np.mean(np.concatenate(blink_minimum_lags(X, y)))
    X, y, info = make_blink_recordings(12, label_lead=(0, 2), return_info=True, **kwargs)
    assert set(info["label_lead"]) == {0, 1, 2}
    measured = [round(np.mean(lags) - no_lead) for lags in blink_minimum_lags(X, y)]
    assert measured == info["label_lead"].tolist()


def test_labels_never_start_before_the_recording_or_reach_a_no_face_run(collection):
    X, y, _, info = collection
    for x, labels in zip(X, y, strict=True):
        for start, stop in frames_to_events(labels):
            assert start >= 1
            assert not np.isnan(x[start:stop]).any()


def test_subjects_differ_in_open_eye_level(collection):
    X, _, groups, _ = collection
    levels = np.array([np.nanmedian(x) for x in X])
    per_subject = [levels[groups == subject] for subject in range(10)]
    means = np.array([level.mean() for level in per_subject])
    within = np.mean([level.std() for level in per_subject])
    assert means.max() - means.min() > 0.06
    assert means.std() > 3 * within
    assert 0.2 < means.min() and means.max() < 0.37


def test_subjects_differ_in_blink_depth():
    X, y, groups = make_blink_recordings(24, subjects=6, duration_s=120, noise=0.0,
                                         random_state=0)
    closed = np.array([np.median([x[start:stop].mean(axis=1).min()
                                  for start, stop in frames_to_events(labels)])
                       for x, labels in zip(X, y, strict=True)])
    per_subject = np.array([closed[groups == subject].mean() for subject in range(6)])
    within = np.mean([closed[groups == subject].std() for subject in range(6)])
    assert per_subject.max() - per_subject.min() > 0.04
    assert per_subject.std() > 3 * within


def test_groups_deal_the_recordings_among_the_subjects_for_group_k_fold(collection):
    X, y, groups, _ = collection
    assert np.bincount(groups).tolist() == [4] * 10
    for train, test in GroupKFold(n_splits=5).split(X, y, groups):
        assert not set(groups[train]) & set(groups[test])
    _, _, groups = make_blink_recordings(7, subjects=3, duration_s=5, random_state=0)
    assert sorted(np.bincount(groups).tolist()) == [2, 2, 3]
    _, _, groups = make_blink_recordings(3, subjects=1, duration_s=5, random_state=0)
    assert groups.tolist() == [0, 0, 0]


def test_the_same_random_state_gives_identical_recordings():
    first, second = realistic(12, random_state=5), realistic(12, random_state=5)
    for a, b in zip(first[0] + first[1], second[0] + second[1], strict=True):
        np.testing.assert_array_equal(a, b)  # NaN where NaN
    np.testing.assert_array_equal(first[2], second[2])
    assert first[3].equals(second[3])
    other = realistic(12, random_state=6)
    assert not first[3].equals(other[3])


def test_forty_long_recordings_hold_every_frame():
    # Generation time is a benchmark's business (about 0.25 s here), not a test's.
    X, _, _, _ = realistic(40, n_frames=16000)
    assert sum(len(x) for x in X) == 640_000


# --- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"subjects": 0}, ValueError, "subjects=0 must be >= 1"),
        ({"subjects": 2.0}, TypeError, "subjects must be an int"),
        ({"subjects": 5}, ValueError, r"subjects=5 must be <= n_recordings=4"),
        ({"n_frames": 2000, "duration_s": 30}, ValueError, "pass one of them"),
        ({"n_frames": 10}, ValueError, r"too short to hold a blink.*n_frames >= 15"),
        ({"n_frames": (2000, 1000)}, ValueError, r"must satisfy low <= high"),
        ({"n_frames": 1000.0}, TypeError, r"n_frames must be an int \(frames\) or a"),
        ({"n_frames": (0, 100)}, ValueError, r"n_frames\[0\]=0 must be >= 1"),
        ({"fps": (30, 6)}, ValueError, r"fps=\(30, 6\) must satisfy 0 < low <= high"),
        ({"fps": (6, 18, 30)}, TypeError, r"fps must be a number .* 3 items"),
        ({"fps": (6, "30")}, TypeError, r"fps\[1\] must be a number"),
        ({"duration_s": 0.6, "fps": (6, 30)}, ValueError,
         r"too short to hold a blink at fps=\(6\.0, 30\.0\).*duration_s >= 1\.07"),
        ({"label_lead": -1}, ValueError, "label_lead=-1 must be >= 0"),
        ({"label_lead": (2, 1)}, ValueError, r"label_lead=\(2, 1\) must satisfy low <= high"),
        ({"label_lead": 1.5}, TypeError, "label_lead must be an int"),
        ({"label_lead": 4, "fps": (6, 30)}, ValueError, "at most 3 frames at fps=6"),
        ({"missing_runs": "2"}, TypeError, "missing_runs must be an int"),
        ({"missing_runs": (1, -2)}, ValueError, r"missing_runs\[1\]=-2 must be >= 0"),
        ({"return_info": "yes"}, TypeError, "return_info must be True or False"),
        ({"blink_rate": 40, "subjects": 2}, ValueError, r"blink_rate <= 27\)"),
    ],
)
def test_bad_new_arguments_raise_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_blink_recordings(4, **kwargs)


def test_the_highest_blink_rate_named_for_subjects_is_accepted():
    make_blink_recordings(4, subjects=2, blink_rate=27, random_state=0)
    with pytest.raises(ValueError, match=r"blink_rate <= 27\)"):
        make_blink_recordings(4, subjects=2, blink_rate=28, random_state=0)

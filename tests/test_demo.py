"""The demo, end to end with tiny settings, through the module and the command line."""

import io
import subprocess
import sys
from pathlib import Path

import pytest

from sktorchcw.__main__ import main
from sktorchcw._demo import first_epoch_reaching, run_demo

TINY = ["--samples", "80", "--epochs", "3", "--seq-len", "20", "--prevalence", "0.25",
        "--device", "cpu"]


def test_demo_prints_progress_table_and_writes_the_png(tmp_path, capsys):
    assert main(["demo", *TINY, "--output", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "epoch    3/3" in printed
    assert "class_weight=None" in printed and "class_weight='balanced'" in printed
    for column in ("accuracy", "balanced_accuracy", "blink_f1", "blink_recall",
                   "epochs_to_f1>=0.8"):
        assert column in printed
    png = tmp_path / "sktorchcw_demo.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_both_models_start_from_the_same_seed_and_data():
    result = run_demo(samples=80, epochs=2, seq_len=20, prevalence=0.25, output=None,
                      stream=io.StringIO())
    unweighted, weighted = result.models.values()
    assert unweighted.class_weight is None and weighted.class_weight == "balanced"
    assert unweighted.random_state == weighted.random_state
    assert list(weighted.class_weight_) == [80 / (2 * 60), 80 / (2 * 20)]
    assert result.table.loc["class_weight=None", "accuracy"] == pytest.approx(
        unweighted.history_[-1, "test_accuracy"]
    )


def test_first_epoch_reaching_a_threshold():
    assert first_epoch_reaching([0.1, 0.5, 0.85, 0.7, 0.9], 0.8) == 3
    assert first_epoch_reaching([0.1, 0.2], 0.8) is None


def test_bad_option_is_a_clear_error(capsys):
    assert main(["demo", *TINY, "--prevalence", "1.5"]) == 2
    assert "prevalence" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["demo", "--epochs", "0"])


def test_an_output_that_is_a_file_fails_before_training(tmp_path, capsys, monkeypatch):
    import sktorchcw._demo

    def refuse(*args, **kwargs):
        raise AssertionError("training started despite a bad --output")

    monkeypatch.setattr(sktorchcw._demo, "make_blink_dataset", refuse)
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    assert main(["demo", *TINY, "--output", str(a_file)]) == 2
    assert "cannot be used as a folder" in capsys.readouterr().err


def test_python_dash_m_runs_the_demo(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "sktorchcw", "demo", *TINY, "--output", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "sktorchcw_demo.png").exists()


def test_installed_console_command():
    command = Path(sys.executable).parent / ("sktorchcw.exe" if sys.platform == "win32"
                                             else "sktorchcw")
    done = subprocess.run([str(command), "demo", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--prevalence" in done.stdout


def test_frames_demo_prints_event_scores_and_writes_the_png(tmp_path, capsys):
    argv = ["demo", "--task", "frames", "--recordings", "4", "--duration", "6", "--epochs", "2",
            "--device", "cpu", "--output", str(tmp_path)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "epoch    2/2" in printed and "blink events: precision" in printed
    for column in ("event_precision", "event_recall", "event_f1", "frame_balanced_accuracy"):
        assert column in printed
    png = tmp_path / "sktorchcw_demo_frames.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_frames_demo_trains_both_taggers_from_the_same_seed():
    from sktorchcw._demo_frames import run_frames_demo

    result = run_frames_demo(recordings=4, duration_s=6, epochs=1, output=None, device="cpu",
                             stream=io.StringIO())
    unweighted, weighted = result.models.values()
    assert unweighted.class_weight is None and weighted.class_weight == "balanced"
    assert unweighted.bidirectional and weighted.random_state == unweighted.random_state
    assert result.table.loc["class_weight=None", "event_f1"] == pytest.approx(
        unweighted.history_[-1, "test_event_f1"])


def test_frames_demo_refuses_a_bad_criterion():
    from sktorchcw._demo_frames import run_frames_demo

    with pytest.raises(ValueError, match="criterion='hinge' is not one of"):
        run_frames_demo(criterion="hinge", output=None)

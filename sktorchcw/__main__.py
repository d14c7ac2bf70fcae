"""Command line: ``python -m sktorchcw demo`` (also installed as ``sktorchcw demo``)."""

import argparse
import sys

import pandas as pd

from ._demo import CRITERIA, run_demo

# Defaults that differ between the window demo and the per-frame demo.
TASK_DEFAULTS = {
    "windows": {"epochs": 60, "criterion": "mse", "lr": 0.005},
    "frames": {"epochs": 25, "criterion": "l1", "lr": 0.01},
}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="sktorchcw", description="Class weights for any PyTorch loss."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="train a blink LSTM with and without class weights and compare them",
        description=(
            "Reproduce the blog experiment on generated eye-blink data: the same LSTM, from "
            "the same seed, trained with class_weight=None and 'balanced'. --task windows "
            "(default) classifies windows and plots learning curves; --task frames tags "
            "every frame of whole recordings, scores the blinks found (event precision, "
            "recall, F1) and plots a stretch of a recording with the detections."
        ),
    )
    demo.add_argument("--task", choices=sorted(TASK_DEFAULTS), default="windows",
                      help="windows: LSTMBlinkClassifier on windows (default); frames: "
                           "LSTMBlinkTagger on recordings")
    demo.add_argument("--samples", type=_positive_int, default=2000,
                      help="training windows (--task windows)")
    demo.add_argument("--recordings", type=_positive_int, default=48,
                      help="training recordings (--task frames)")
    demo.add_argument("--duration", type=_positive_float, default=30.0,
                      help="seconds per recording (--task frames)")
    demo.add_argument("--epochs", type=_positive_int, default=None,
                      help="epochs per model (default: 60 for windows, 25 for frames)")
    demo.add_argument("--prevalence", type=float, default=0.05,
                      help="fraction of windows with a blink (--task windows)")
    demo.add_argument("--seq-len", type=_positive_int, default=60,
                      help="frames per window (--task windows)")
    demo.add_argument("--criterion", choices=sorted(CRITERIA), default=None,
                      help="the loss (default: mse on softmax outputs for windows, the blog's "
                           "l1 for frames)")
    demo.add_argument("--lr", type=float, default=None,
                      help="learning rate (default: 0.005 for windows, 0.01 for frames)")
    demo.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    demo.add_argument("--threads", type=_threads, default=1,
                      help="torch's threads per fit: an int, or 'torch' for torch's own "
                           "setting (default 1: the same curves on any number of cores, "
                           "never stalled by other programs)")
    demo.add_argument("--seed", type=int, default=0, help="seed of data and models")
    demo.add_argument("--threshold", type=float, default=0.8,
                      help="blink F1 whose first epoch is reported (--task windows)")
    demo.add_argument("--output", default=".",
                      help="folder for sktorchcw_demo.png / sktorchcw_demo_frames.png")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    for name, default in TASK_DEFAULTS[args.task].items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    try:
        result = _run(args)
    except (ValueError, TypeError, ImportError) as error:
        print(f"sktorchcw demo: error: {error}", file=sys.stderr)
        return 2
    what = "windows" if args.task == "windows" else "recordings"
    with pd.option_context("display.width", 120, "display.float_format", "{:.3f}".format):
        print(f"\nOn the test {what} after the last epoch:")
        print(result.table.to_string())
    print(f"\nFigure: {result.figure_path}")
    return 0


def _run(args):
    common = dict(epochs=args.epochs, criterion=args.criterion, lr=args.lr, device=args.device,
                  threads=args.threads, seed=args.seed, output=args.output)
    if args.task == "frames":
        from ._demo_frames import run_frames_demo

        return run_frames_demo(recordings=args.recordings, duration_s=args.duration, **common)
    return run_demo(samples=args.samples, prevalence=args.prevalence, seq_len=args.seq_len,
                    threshold=args.threshold, **common)


def _threads(text):
    if text == "torch":
        return None
    return _positive_int(text)


def _positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


if __name__ == "__main__":
    sys.exit(main())

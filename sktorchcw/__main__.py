"""Command line: ``python -m sktorchcw demo`` (also installed as ``sktorchcw demo``)."""

import argparse
import sys

import pandas as pd

from ._demo import CRITERIA, run_demo


def build_parser():
    parser = argparse.ArgumentParser(
        prog="sktorchcw", description="Class weights for any PyTorch loss."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="train a blink LSTM with and without class weights and compare them",
        description=(
            "Reproduce the blog experiment on generated eye-blink windows: the same LSTM, "
            "from the same seed, trained with class_weight=None and 'balanced'; per-epoch "
            "test scores, a comparison table and a PNG of the learning curves."
        ),
    )
    demo.add_argument("--samples", type=_positive_int, default=2000, help="training windows")
    demo.add_argument("--epochs", type=_positive_int, default=60, help="epochs per model")
    demo.add_argument("--prevalence", type=float, default=0.05, help="fraction of blinks")
    demo.add_argument("--seq-len", type=_positive_int, default=60, help="frames per window")
    demo.add_argument("--criterion", choices=sorted(CRITERIA), default="mse",
                      help="the loss (default: mse on softmax outputs)")
    demo.add_argument("--lr", type=float, default=0.005, help="learning rate")
    demo.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    demo.add_argument("--seed", type=int, default=0, help="seed of data and models")
    demo.add_argument("--threshold", type=float, default=0.8,
                      help="blink F1 whose first epoch is reported")
    demo.add_argument("--output", default=".", help="folder for sktorchcw_demo.png")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        result = run_demo(
            samples=args.samples,
            epochs=args.epochs,
            prevalence=args.prevalence,
            seq_len=args.seq_len,
            criterion=args.criterion,
            lr=args.lr,
            device=args.device,
            seed=args.seed,
            threshold=args.threshold,
            output=args.output,
        )
    except (ValueError, TypeError, ImportError) as error:
        print(f"sktorchcw demo: error: {error}", file=sys.stderr)
        return 2
    with pd.option_context("display.width", 120, "display.float_format", "{:.3f}".format):
        print("\nOn the test windows after the last epoch:")
        print(result.table.to_string())
    print(f"\nLearning curves: {result.figure_path}")
    return 0


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


if __name__ == "__main__":
    sys.exit(main())

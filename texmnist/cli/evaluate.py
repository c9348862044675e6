"""`texmnist evaluate`: train over seeds (one config, a sweep or a matrix) and report."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..errors import ConfigError

T = TypeVar("T")


def add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="train models over seeds and report background reliance")
    p.add_argument("data", help="dataset folder or Hugging Face Hub repo id")
    p.add_argument("--config", default="default", help="config to train and test on")
    p.add_argument(
        "--model",
        default="cnn",
        help="mlp, cnn, resnet, cnn-global (digits smaller than the canvas), or "
        "package.module:factory (factory(in_channels, size, num_classes) -> torch.nn.Module)",
    )
    p.add_argument(
        "--method", default="erm", help="erm, balanced, groupdro, dfr, jtt, bg-adversarial, rrr"
    )
    p.add_argument("--configs", help="matrix: comma-separated configs, or all")
    p.add_argument("--methods", help="matrix: comma-separated methods, or all")
    p.add_argument("--epochs", type=int, default=2, help="the most epochs a run trains")
    p.add_argument(
        "--patience", type=int, default=3,
        help="stop after N epochs without a better validation score (0: run every epoch)",
    )  # fmt: skip
    p.add_argument("--lr-schedule", choices=("cosine", "constant"), default="cosine")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds, one run each")
    p.add_argument("--out", required=True, type=Path, help="report (or matrix) folder")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate")
    p.add_argument("--weight-decay", type=float, help="default: per method (see report)")
    p.add_argument("--max-train", type=int, help="train on the first N training examples")
    p.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda when available)")
    p.add_argument(
        "--sweep",
        choices=("rho", "scale", "position"),
        help="BG-Gap across the rho configs, or digit scales / positions of `sizes`",
    )
    p.add_argument(
        "--design",
        choices=("per-level", "pooled"),
        default="per-level",
        help="scale/position sweeps: one model per level (default) or one pooled model",
    )
    p.add_argument("--saliency-examples", type=int, default=1000, help="per split (0: skip)")
    p.add_argument("--cache-dir", type=Path, help="keep decoded arrays here (memory-mapped)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument(
        "--shard", metavar="K/N",
        help="matrix: train every N-th cell from the K-th only, into the same --out; a last "
        "call without --shard writes the matrix files",
    )  # fmt: skip
    p.add_argument(
        "--resume", action="store_true",
        help="report, sweep: reuse a report in --out that was asked the same",
    )  # fmt: skip
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args) -> int:
    return _removing_on_failure(args.out, lambda: _evaluate(args))


def _removing_on_failure(out: Path, run: Callable[[], T]) -> T:
    """`run()`; on failure remove the part of `out` that this run created."""
    created = _first_missing(out)
    try:
        return run()
    except BaseException:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of `path` that does not exist yet (None: it all exists)."""
    missing = None
    for folder in [path.absolute(), *path.absolute().parents]:
        if folder.exists():
            break
        missing = folder
    return missing


def _evaluate(args) -> int:
    from ..evaluate import require

    require("torch")
    require("matplotlib")
    from ..evaluate.factory import is_spec, resolve
    from ..evaluate.report import REPORT_FILES, run_report
    from ..evaluate.settings import check_run_options
    from ..evaluate.sweep import run_sweep

    if is_spec(args.model):
        resolve(args.model)  # a spec that cannot load stops every mode before any data or training

    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(
            f"--seeds: expected comma-separated integers, got {args.seeds!r}"
        ) from None
    check_run_options(
        seeds, lr=args.lr, weight_decay=args.weight_decay, epochs=args.epochs,
        batch_size=args.batch_size, max_train=args.max_train,
        saliency_examples=args.saliency_examples,
    )  # fmt: skip
    kwargs = dict(
        model=args.model, method=args.method, epochs=args.epochs, seeds=seeds,
        batch_size=args.batch_size, max_train=args.max_train, device=args.device, lr=args.lr,
        weight_decay=args.weight_decay, cache_dir=args.cache_dir,
        saliency_examples=args.saliency_examples, progress=not args.no_progress,
        patience=args.patience or None, lr_schedule=args.lr_schedule,
    )  # fmt: skip
    matrix = bool(args.configs or args.methods)
    if args.shard and not matrix:
        raise ConfigError("--shard: only for the matrix (--configs/--methods)")
    if args.resume and matrix:
        raise ConfigError("--resume: the matrix always reuses its finished cells; leave it out")
    if args.patience < 0:
        raise ConfigError(f"--patience: must be >= 0, got {args.patience}")
    if matrix:
        if args.sweep:
            raise ConfigError("--sweep: not with --configs/--methods (the matrix); use one")
        from ..evaluate.matrix import MATRIX_FILES, run_matrix

        del kwargs["method"]
        result = run_matrix(
            args.data, args.out, configs=args.configs or args.config,
            methods=args.methods or args.method, shard=args.shard, **kwargs,
        )  # fmt: skip
        if args.shard:
            print(f"shard {args.shard}: {len(result['cells'])} cells in {args.out}; run again "
                  f"without --shard to write {', '.join(MATRIX_FILES)}")  # fmt: skip
        else:
            print(f"wrote {', '.join(MATRIX_FILES)} and one report per cell to {args.out}")
        return 0
    kwargs["resume"] = args.resume
    if args.sweep:
        run_sweep(args.data, args.sweep, args.out, design=args.design, **kwargs)
        print(f"wrote the {args.sweep} sweep to {args.out} (sweep.md, sweep.json, sweep.png)")
        return 0
    run_report(args.data, args.config, args.out, **kwargs)
    print(f"wrote {', '.join(REPORT_FILES)} to {args.out}")
    return 0


def add_score(sub) -> None:
    p = sub.add_parser(
        "score", help="report on predictions made anywhere (trains nothing, needs no torch)"
    )
    p.add_argument("data", help="dataset folder or Hugging Face Hub repo id")
    p.add_argument("--config", default="default", help="config the predictions are of")
    p.add_argument(
        "--predictions",
        required=True,
        type=Path,
        help="CSV or Parquet: split, index (or mnist_index), prediction; optional seed and "
        "logit_0..logit_9 or prob_0..prob_9",
    )
    p.add_argument("--out", required=True, type=Path, help="report folder")
    p.set_defaults(func=cmd_score)


def cmd_score(args) -> int:
    from ..evaluate.scoring import run_score

    report = _removing_on_failure(
        args.out, lambda: run_score(args.data, args.config, args.predictions, args.out)
    )
    p, d = report["predictions"], report["data"]
    seeds = f"seeds {', '.join(map(str, p['seeds']))}" if p["seeds"] else "one run"
    absent = ", ".join(d["absent_splits"]) or "none"
    print(
        f"scored {p['rows']:,} predictions of {', '.join(p['splits'])} ({seeds}; absent: "
        f"{absent}); wrote {', '.join(report['files'])} to {args.out}"
    )
    return 0

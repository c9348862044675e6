"""`texmnist` command line: thin parsing around the library.

Errors the user can fix print as one line, `texmnist: error: ...`, exit with
status 2, and show a traceback only with `--debug`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import signal
import sys
import threading
from pathlib import Path

from . import __version__
from .config import NAMED_CONFIGS
from .errors import ConfigError, TexmnistError

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def _add_build(sub) -> None:
    p = sub.add_parser("build", help="build configs into a dataset repository folder")
    p.add_argument("--out", required=True, type=Path, help="dataset repository folder")
    p.add_argument(
        "--config",
        default="default",
        help=f"one of {', '.join(NAMED_CONFIGS)}; several as a,b,c; or all",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a recipe parameter (repeatable; lists comma-separated: scale=14,28)",
    )
    p.add_argument("--name", help="name of the custom variant that --set makes")
    p.add_argument("--mnist-dir", help="folder holding the four IDX files (else download)")
    p.add_argument("--fashion-mnist-dir", help="Fashion-MNIST's IDX files (else download)")
    p.add_argument("--kmnist-dir", help="KMNIST's IDX files (else download)")
    p.add_argument("--dtd-dir", help="the extracted dtd-r1.0.1.tar.gz (else download)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--num-proc", type=int, default=1, help="worker processes")
    p.add_argument("--overwrite", action="store_true", help="rebuild a config already there")
    p.add_argument("--no-download", action="store_true", help="never download sources")
    p.add_argument("--partition", type=int, help="DTD partition 1-10 when labels/ exist")
    p.add_argument("--max-train", type=int, help="use only the first N training digits")
    p.add_argument("--max-test", type=int, help="use only the first N test digits")
    p.add_argument("--validation-size", type=int, help="digits held out for validation")
    p.add_argument("--background-only", action="store_true", default=None, help="add the split")
    p.add_argument(
        "--counterfactual", action="store_true", help="add test_counterfactual (named: on)"
    )
    p.add_argument(
        "--counterfactual-size", type=int, help="digits in test_counterfactual (default 2000)"
    )
    p.set_defaults(func=cmd_build)


def _add_preview(sub) -> None:
    p = sub.add_parser("preview", help="grid image: one row per split, one column per class")
    p.add_argument("dir", type=Path)
    p.add_argument("--config", default="default")
    p.add_argument("--out", type=Path, default=Path("preview.png"))
    p.set_defaults(func=cmd_preview)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line like every other error."""

    def error(self, message: str):
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="texmnist", description="Generate, publish and evaluate Textured MNIST.")
    p.add_argument("--version", action="version", version=f"texmnist {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return p


def cmd_build(args) -> int:
    from .folder import build_many

    if args.num_proc < 1:
        raise ConfigError("--num-proc: must be >= 1")
    results = build_many(
        build_configs(args), args.out, overwrite=args.overwrite, num_proc=args.num_proc,
        command=_command(args.argv),
    )  # fmt: skip
    for result in results:
        sizes = ", ".join(f"{k} {v['num_examples']:,}" for k, v in result.splits.items())
        print(f"built {result.config} into {result.out}: {sizes}")
        print(f"fingerprint {result.fingerprint}")
    return 0


# The option holding each digit source's local copy (--config all reads all three).
DIGIT_DIR_OPTIONS = {
    "mnist": "mnist_dir",
    "fashion_mnist": "fashion_mnist_dir",
    "kmnist": "kmnist_dir",
}


def build_configs(args) -> list:
    """The configs `build` makes: named ones (a,b,c or all), or one custom variant."""
    import dataclasses

    from .config import custom_config, parse_settings

    names = list(NAMED_CONFIGS) if args.config == "all" else args.config.split(",")
    if (args.set or args.name) and len(names) > 1:
        raise ConfigError("--set/--name: make one variant at a time (--config takes one base)")
    options = dict(
        dtd_dir=args.dtd_dir, seed=args.seed, download=not args.no_download,
        partition=args.partition, max_train=args.max_train, max_test=args.max_test,
        validation_size=args.validation_size, background_only=args.background_only,
        counterfactual_size=_counterfactual_size(args),
    )  # fmt: skip
    settings = parse_settings(args.set)
    configs = [custom_config(n.strip(), settings, args.name, **options) for n in names]
    used = {c.source for c in configs}
    dirs = {source: getattr(args, option) for source, option in DIGIT_DIR_OPTIONS.items()}
    if "mnist" not in used:
        # --mnist-dir has always pointed at the digits of a single-source build.
        for source in used:
            dirs[source] = dirs[source] or args.mnist_dir
    return [dataclasses.replace(c, mnist_dir=dirs[c.source]) for c in configs]


def _counterfactual_size(args) -> int | None:
    """--counterfactual-size N, or --counterfactual for the named configs' 2,000 digits."""
    from .config import EXTRA_SPLITS

    if args.counterfactual_size is not None:
        return args.counterfactual_size
    return EXTRA_SPLITS["counterfactual_size"] if args.counterfactual else None


def cmd_preview(args) -> int:
    from .preview import write_preview

    path = write_preview(args.dir, args.config, args.out)
    print(f"wrote {path}")
    return 0


def _command(argv: list[str]) -> str:
    """The generation command as typed, for the card (paths are the user's own)."""
    return "texmnist " + shlex.join(argv)


COMMANDS = [_add_build, _add_preview]


EXIT_TERMINATED = 143  # 128 + SIGTERM, what a shell reports for a killed process


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every `finally` (staging cleanup) runs."""


def _texmnist_error(error: BaseException) -> BaseException | None:
    """The TexmnistError or KeyboardInterrupt behind `error`, whichever is outermost.

    datasets wraps failures of generation (DatasetGenerationError), and its worker
    pool replaces a Ctrl-C by a TimeoutError raised while cleaning up.
    """
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, (TexmnistError, KeyboardInterrupt)):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def _on_sigterm(signum, frame) -> None:
    signal.signal(signum, signal.SIG_DFL)  # a second SIGTERM kills outright
    raise Terminated


def _default_sigterm_in_child() -> None:
    # A forked worker (datasets' or our pools) must not inherit `_on_sigterm`: Pool.terminate()
    # stops workers with SIGTERM, and a Python-level handler can lose that signal to a worker
    # blocked in a lock (the signal lands before the wait starts), hanging the build.
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


os.register_at_fork(after_in_child=_default_sigterm_in_child)


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """Turn SIGTERM into `Terminated` (a KeyboardInterrupt) while the command runs."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (e.g. main() called from a worker)
        return
    # None: a handler installed from C; SIG_DFL is the closest we can restore.
    previous = signal.signal(signal.SIGTERM, _on_sigterm) or signal.SIG_DFL
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _add_verify(sub) -> None:
    p = sub.add_parser("verify", help="check a dataset folder against its card and the Hub rules")
    p.add_argument("dir", type=Path, help="dataset repository folder")
    p.add_argument("--quick", action="store_true", help="skip the load_dataset round trips")
    p.set_defaults(func=cmd_verify)


def _add_push(sub) -> None:
    p = sub.add_parser("push", help="verify a dataset folder and upload it to the Hub")
    p.add_argument("dir", type=Path, help="dataset repository folder")
    p.add_argument("--repo", required=True, help="dataset repository id, USER/NAME")
    p.add_argument("--private", action="store_true", help="create the repository private")
    p.add_argument("--revision", help="branch to commit to (created when missing)")
    p.add_argument("--create-pr", action="store_true", help="open a pull request instead")
    p.add_argument("--message", help="commit message")
    p.add_argument("--dry-run", action="store_true", help="print the plan; contact nothing")
    p.set_defaults(func=cmd_push)


def cmd_verify(args) -> int:
    from .verify import verify

    problems = verify(args.dir, load=not args.quick)
    for problem in problems:
        print(problem)
    if problems:
        n = len(problems)
        print(f"texmnist: {args.dir}: {n} problem{'s' * (n != 1)}", file=sys.stderr)
        return 1
    print(f"ok: {args.dir} passes every check")
    return 0


def cmd_push(args) -> int:
    from .push import push
    from .verify import VerificationFailed

    try:
        result = push(
            args.dir,
            args.repo,
            private=args.private,
            revision=args.revision,
            create_pr=args.create_pr,
            message=args.message,
            dry_run=args.dry_run,
        )
    except VerificationFailed as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        raise
    plan = result.plan
    print(("dry run, nothing sent: " if args.dry_run else "pushed: ") + plan.repo_id)
    print("\n".join(plan.describe()))
    if result.pr_url:
        print(f"pull request: {result.pr_url}")
    elif result.commit_url:
        print(f"commit: {result.commit_url}")
    return 0


COMMANDS += [_add_verify, _add_push]


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="train models over seeds and report background reliance")
    p.add_argument("data", help="dataset folder or Hugging Face Hub repo id")
    p.add_argument("--config", default="default", help="config to train and test on")
    p.add_argument("--model", default="cnn", help="mlp, cnn or resnet")
    p.add_argument(
        "--method", default="erm", help="erm, balanced, groupdro, dfr, jtt, bg-adversarial, rrr"
    )
    p.add_argument("--configs", help="matrix: comma-separated configs, or all")
    p.add_argument("--methods", help="matrix: comma-separated methods, or all")
    p.add_argument("--epochs", type=int, default=2)
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
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args) -> int:
    """Evaluate; on failure remove the part of --out that this run created."""
    created = _first_missing(args.out)
    try:
        return _evaluate(args)
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
    from .evaluate import require

    require("torch")
    require("matplotlib")
    from .evaluate.report import REPORT_FILES, run_report
    from .evaluate.sweep import run_sweep

    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(
            f"--seeds: expected comma-separated integers, got {args.seeds!r}"
        ) from None
    kwargs = dict(
        model=args.model, method=args.method, epochs=args.epochs, seeds=seeds,
        batch_size=args.batch_size, max_train=args.max_train, device=args.device, lr=args.lr,
        weight_decay=args.weight_decay, cache_dir=args.cache_dir,
        saliency_examples=args.saliency_examples, progress=not args.no_progress,
    )  # fmt: skip
    if args.configs or args.methods:
        if args.sweep:
            raise ConfigError("--sweep: not with --configs/--methods (the matrix); use one")
        from .evaluate.matrix import MATRIX_FILES, run_matrix

        del kwargs["method"]
        run_matrix(
            args.data, args.out, configs=args.configs or args.config,
            methods=args.methods or args.method, **kwargs,
        )  # fmt: skip
        print(f"wrote {', '.join(MATRIX_FILES)} and one report per cell to {args.out}")
        return 0
    if args.sweep:
        run_sweep(args.data, args.sweep, args.out, design=args.design, **kwargs)
        print(f"wrote the {args.sweep} sweep to {args.out} (sweep.md, sweep.json, sweep.png)")
        return 0
    run_report(args.data, args.config, args.out, **kwargs)
    print(f"wrote {', '.join(REPORT_FILES)} to {args.out}")
    return 0


COMMANDS += [_add_evaluate]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(argv)
    args.argv = argv
    try:
        with _sigterm_as_interrupt():
            return args.func(args)
    except (KeyboardInterrupt, Exception) as e:
        error = _texmnist_error(e)
        if isinstance(error, KeyboardInterrupt):
            what = "terminated" if isinstance(error, Terminated) else "interrupted"
            print(f"texmnist: {what}; nothing was written", file=sys.stderr)
            return EXIT_TERMINATED if isinstance(error, Terminated) else EXIT_INTERRUPTED
        if error is None or args.debug:
            raise
        print(f"texmnist: error: {error}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())

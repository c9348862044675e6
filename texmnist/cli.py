"""`texmnist` command line: thin parsing around the library.

Errors the user can fix print as one line, `texmnist: error: ...`, exit with
status 2, and show a traceback only with `--debug`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from . import __version__
from .config import NAMED_CONFIGS
from .errors import TexmnistError

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def _add_build(sub) -> None:
    p = sub.add_parser("build", help="build a config into a dataset repository folder")
    p.add_argument("--out", required=True, type=Path, help="dataset repository folder")
    p.add_argument("--config", default="default", help=f"one of: {', '.join(NAMED_CONFIGS)}")
    p.add_argument("--mnist-dir", help="folder holding the four IDX files (else download)")
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
    p.set_defaults(func=cmd_build)


def _add_preview(sub) -> None:
    p = sub.add_parser("preview", help="grid image: one row per split, one column per class")
    p.add_argument("dir", type=Path)
    p.add_argument("--config", default="default")
    p.add_argument("--out", type=Path, default=Path("preview.png"))
    p.set_defaults(func=cmd_preview)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="texmnist", description="Generate, publish and evaluate Textured MNIST."
    )
    p.add_argument("--version", action="version", version=f"texmnist {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return p


def cmd_build(args) -> int:
    from .config import named_config
    from .folder import build

    if args.num_proc < 1:
        raise _usage("--num-proc: must be >= 1")
    config = named_config(
        args.config,
        mnist_dir=args.mnist_dir,
        dtd_dir=args.dtd_dir,
        seed=args.seed,
        download=not args.no_download,
        partition=args.partition,
        max_train=args.max_train,
        max_test=args.max_test,
        validation_size=args.validation_size,
        background_only=args.background_only,
    )
    result = build(
        config, args.out, overwrite=args.overwrite, num_proc=args.num_proc, command=_command()
    )
    sizes = ", ".join(f"{k} {v['num_examples']:,}" for k, v in result.splits.items())
    print(f"built {result.config} into {result.out}: {sizes}")
    print(f"fingerprint {result.fingerprint}")
    return 0


def cmd_preview(args) -> int:
    from .preview import write_preview

    path = write_preview(args.dir, args.config, args.out)
    print(f"wrote {path}")
    return 0


def _command() -> str:
    """The generation command as typed, for the card (paths are the user's own)."""
    return "texmnist " + shlex.join(sys.argv[1:])


def _usage(message: str):
    from .errors import ConfigError

    return ConfigError(message)


COMMANDS = [_add_build, _add_preview]


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except TexmnistError as e:
        if args.debug:
            raise
        print(f"texmnist: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("texmnist: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())

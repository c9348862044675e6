"""`texmnist build` and `texmnist preview`: render configs into a folder, draw a grid."""

from __future__ import annotations

import shlex
from pathlib import Path

from ..errors import ConfigError
from ..generate.config import NAMED_CONFIGS


def add_build(sub) -> None:
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
    p.add_argument("--num-proc", type=int, help="worker processes (default: every usable core)")
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


def add_preview(sub) -> None:
    p = sub.add_parser("preview", help="grid image: one row per split, one column per class")
    p.add_argument("dir", type=Path)
    p.add_argument("--config", default="default")
    p.add_argument("--out", type=Path, default=Path("preview.png"))
    p.set_defaults(func=cmd_preview)


def cmd_build(args) -> int:
    from ..repo.folder import build_many

    if args.num_proc is not None and args.num_proc < 1:
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

    from ..generate.config import custom_config, parse_settings

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
    from ..generate.config import EXTRA_SPLITS

    if args.counterfactual_size is not None:
        return args.counterfactual_size
    return EXTRA_SPLITS["counterfactual_size"] if args.counterfactual else None


def cmd_preview(args) -> int:
    from ..repo.preview import write_preview

    path = write_preview(args.dir, args.config, args.out)
    print(f"wrote {path}")
    return 0


def _command(argv: list[str]) -> str:
    """The generation command for texmnist.json and the card: the options as typed, each
    path option's value replaced by its role (`--mnist-dir <MNIST>`)."""
    from ..repo.command import with_path_roles

    return with_path_roles("texmnist " + shlex.join(argv))

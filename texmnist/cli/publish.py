"""`texmnist verify` and `texmnist push`: check a folder against the Hub's rules, upload it."""

from __future__ import annotations

import sys
from pathlib import Path


def add_verify(sub) -> None:
    p = sub.add_parser("verify", help="check a dataset folder against its card and the Hub rules")
    p.add_argument("dir", type=Path, help="dataset repository folder")
    p.add_argument("--quick", action="store_true", help="skip the load_dataset round trips")
    p.set_defaults(func=cmd_verify)


def add_push(sub) -> None:
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
    from ..repo.verify import verify

    problems = verify(args.dir, load=not args.quick, progress=True)
    for problem in problems:
        print(problem)
    if problems:
        n = len(problems)
        print(f"texmnist: {args.dir}: {n} problem{'s' * (n != 1)}", file=sys.stderr)
        return 1
    print(f"ok: {args.dir} passes every check")
    return 0


def cmd_push(args) -> int:
    from ..repo.push import push
    from ..repo.verify import VerificationFailed

    try:
        result = push(
            args.dir,
            args.repo,
            private=args.private,
            revision=args.revision,
            create_pr=args.create_pr,
            message=args.message,
            dry_run=args.dry_run,
            progress=True,
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

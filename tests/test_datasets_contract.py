"""What `TexturedMNIST._prepare_split_single` must return, checked against `datasets` itself.

The builder overrides `datasets`' `_prepare_split_single` (see `texmnist/builder.py`). If a
`datasets` upgrade changes the shape of what that method yields, this test fails with the
difference spelled out instead of the build failing somewhere deep inside `datasets`.
"""

from __future__ import annotations

import datasets
import pyarrow as pa

from texmnist.generate.config import named_config
from texmnist.repo.folder import builder_for


def _final(results):
    done = [content for _, is_done, content in results if is_done]
    progress = sum(content for _, is_done, content in results if not is_done)
    assert len(done) == 1, "exactly one final (job_id, True, result) item"
    return done[0], progress


def test_our_split_writer_returns_what_datasets_returns(fake_sources, tmp_path):
    mnist, dtd = fake_sources
    config = named_config("default", mnist_dir=str(mnist), dtd_dir=str(dtd), max_test=25)
    builder = builder_for(config, tmp_path / "cache")
    generators = builder._split_generators(dl_manager=None)
    split = next(g for g in generators if g.name == "test_random")
    args = dict(file_format="arrow", max_shard_size=2**30, split_info=split.split_info, job_id=0)
    ours = list(builder._prepare_split_single(
        split.gen_kwargs, str(tmp_path / "ours-JJJJJ-SSSSS.arrow"), **args
    ))  # fmt: skip
    theirs = list(datasets.GeneratorBasedBuilder._prepare_split_single(
        builder, split.gen_kwargs, str(tmp_path / "theirs-JJJJJ-SSSSS.arrow"), **args
    ))  # fmt: skip
    (ours_result, ours_progress), (their_result, their_progress) = _final(ours), _final(theirs)
    assert len(ours_result) == len(their_result), (
        f"datasets now returns {len(their_result)} values from _prepare_split_single "
        f"(we return {len(ours_result)}): update TexturedMNIST._prepare_split_single"
    )
    assert [type(v) for v in ours_result] == [type(v) for v in their_result]
    assert ours_result[0] == their_result[0] == ours_progress == their_progress == 25
    assert ours_result[2] == their_result[2]  # features
    assert ours_result[4] == their_result[4] == [25]  # shard lengths
    # and the rows are identical
    ours_table = pa.ipc.open_stream(open(tmp_path / "ours-00000-00000.arrow", "rb")).read_all()
    their_table = pa.ipc.open_stream(open(tmp_path / "theirs-00000-00000.arrow", "rb")).read_all()
    assert ours_table.equals(their_table)

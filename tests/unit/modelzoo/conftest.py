"""A three-clip SynthGrid corpus, built once per session by the tests that ask for it."""

import pytest

from modelzoo.synthgrid.build import build


@pytest.fixture(scope="session")
def synthgrid(tmp_path_factory):
    """(corpus root, [test clip name, val clip name]): one clip per split."""
    root = tmp_path_factory.mktemp("synthgrid-eval") / "corpus"
    build(root, utterances=3, seed=0)
    names = [(root / "filelists" / f"{s}.txt").read_text().split()[0] for s in ("test", "val")]
    return root, names

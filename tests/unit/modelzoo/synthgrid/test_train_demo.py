"""train_demo's registry update: the digests land in the right demo_entry call, re-runnably."""

import pytest

from modelzoo.errors import UserError
from modelzoo.synthgrid.train_demo import record_digests
from modelzoo.zoo import registry

SOURCE = """REGISTRY = {
    e.id: e
    for e in (
        demo_entry("avrelscore", sha256={}),
        demo_entry("alm", sha256={}),
    )
}
"""


def digests(fill: str) -> dict[str, str]:
    return {"config.json": fill * 64, "model.safetensors": fill * 64}


def test_digests_go_into_their_architectures_entry_only():
    text = record_digests(SOURCE, "alm", digests("a"))
    namespace = {"demo_entry": lambda arch, sha256: type("E", (), {"id": arch, "sha": sha256})}
    exec(text, namespace)
    assert namespace["REGISTRY"]["alm"].sha == digests("a")
    assert namespace["REGISTRY"]["avrelscore"].sha == {}


def test_a_rerun_replaces_the_earlier_digests():
    twice = record_digests(record_digests(SOURCE, "alm", digests("a")), "alm", digests("b"))
    assert "a" * 64 not in twice and twice.count("b" * 64) == 2


def test_the_package_registry_has_an_entry_for_each_demo():
    with open(registry.__file__) as f:
        source = f.read()
    for architecture in ("avrelscore", "alm", "cals", "syncnet"):
        assert architecture in record_digests(source, architecture, digests("c"))


def test_a_missing_entry_is_an_error():
    with pytest.raises(UserError, match="cals"):
        record_digests(SOURCE, "cals", digests("a"))

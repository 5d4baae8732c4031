"""The Result record: declared once, built from the accounting, replayable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import iosim
from iosim.accounting import Accounting
from iosim.result import COUNTER_FIELDS, DOC_HEADER, RESULT_FIELDS, field_table

DOCS = Path(__file__).resolve().parent.parent / "docs" / "results.md"


def test_every_counter_is_an_accounting_attribute_and_a_result_field():
    acct = Accounting()
    assert set(COUNTER_FIELDS) <= set(RESULT_FIELDS)
    assert all(getattr(acct, name) == 0 for name in COUNTER_FIELDS)
    r = iosim.simulate("read_write", "64KiB")
    assert set(json.loads(r.to_json())) == set(RESULT_FIELDS)


def test_the_docs_table_is_current():
    assert DOCS.read_text() == DOC_HEADER + field_table(), (
        "regenerate: iosim fields --markdown > docs/results.md")
    assert all(f"`{name}`" in DOCS.read_text() for name in RESULT_FIELDS)


@pytest.mark.parametrize(("path", "kw"), [
    ("read_write", {}),
    ("sendfile", {"cache": "warm", "overrides": {"nic.rate": "25Gbit/s"}}),
    ("splice", {"loss": 0.01, "seed": 4, "size_bytes": "1MiB"}),
    ("msg_zerocopy", {"writer": "userbuf", "writer_rate": 1e5, "buffer_offset_bytes": 100}),
    ("mmap_write", {"profile": "nvme-100g-2024", "pressure": 8,
                    "pressure_interval_s": "20us", "watch_page": 2}),
])
def test_replay_gives_the_same_result(path, kw):
    kw = {"size_bytes": "256KiB", **kw}
    first = iosim.simulate(path, **kw)
    assert iosim.replay(first).to_json() == first.to_json()


def test_run_takes_validated_inputs():
    from iosim.simulate import prepare

    profile, scenario = prepare("splice", "128KiB", cache="warm")
    assert iosim.run(profile, scenario).to_json() == iosim.simulate(
        "splice", "128KiB", cache="warm").to_json()

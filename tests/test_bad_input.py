"""Hostile input, every subcommand, every kind of profile key and every file type: exit 2,
one line on stderr naming the file or flag, the key and what was expected, no traceback,
nothing on stdout and nothing left on disk. In-process: the whole matrix runs in seconds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from iosim.cli import main
from iosim.config import SCHEMA, bundled_profiles, bundled_scenarios

TEACHING = bundled_profiles()["teaching"].read_text()
SPEC_HEAD = '[base]\npath = "splice"\nsize = "64KiB"\n'

# one bad value per way a value can be bad, for each kind of profile key
BAD_BY_KIND = {
    "time": [("5parsecs", "expected a time"), ("nan", "expected a time"),
             ("1e999", "finite"), ("-1us", "expected a positive value")],
    "size": [("12XB", "expected a size"), ("16Mb", "Mb counts bits"), ("inf", "a size"),
             ("1.5", "whole number of bytes")],
    "rate": [("5", "expected a rate with its unit"), ("inf", "expected a rate"),
             ("10gbps", "case-sensitive"), ("10Kbps", "K is ambiguous")],
    "count": [("1.5", "whole number"), ("nan", "finite whole number"), ("lots", "whole number"),
              ("0", "expected a positive value")],
    "bool": [("yes", "true or false"), ("2", "true or false")],
    "choice": [("linux-2", "expected one of ")],
}
# a TOML value of the wrong type, as a profile file writes it
TOML_BAD = [("[1]", "a list [1]"), ("{x = 1}", "a table {x = 1}"),
            ("1979-05-27", "a date or time 1979-05-27"), ("nan", "nan"), ("inf", "inf")]


def _case(argv, expected, files=None, id_=None):
    return pytest.param(argv, expected, files or {}, id=id_ or " ".join(argv)[:80])


def _set_cases():
    out = []
    for section, spec in SCHEMA.items():
        for key, (kind, _) in spec.items():
            for value, what in BAD_BY_KIND[kind]:
                if kind == "bool" and value == "2":
                    value = "maybe"
                out.append(_case(["run", "splice", "--set", f"{section}.{key}={value}"],
                                 ["--set", f"'{section}.{key}'", what]))
    return out


def _profile_file_cases():
    out = []
    for key, line in (("nic.rate", 'rate = "10Gbit/s"'), ("wire.rtt", 'rtt = "100us"'),
                      ("kernel.sndbuf", 'sndbuf = "1MiB"'), ("cpu.cores", "cores = 2"),
                      ("nic.sg", "sg = true")):
        name = line.split(" ")[0]
        for value, what in TOML_BAD:
            if value in ("nan", "inf") and key == "nic.sg":
                what = "true or false"
            text = TEACHING.replace(line, f"{name} = {value}")
            out.append(_case(["run", "splice", "--profile", "p.toml"],
                             ["p.toml", f"'{key}'", what], {"p.toml": text},
                             f"profile {key} = {value}"))
    return out


LIMIT_CASES = [
    _case(["run", "read_write", "--set", "nic.mtu=48"], ["--set", "'nic.mtu'", "52 bytes"]),
    _case(["run", "read_write", "--set", "nic.mtu=52"], ["--set", "'nic.mtu'", "52 bytes"]),
    _case(["run", "read_write", "--set", "cpu.cores=1e9"],
          ["--set", "'cpu.cores'", "at most 8192"]),
    _case(["run", "read_write", "--set", "disk.queue_depth=1e9"],
          ["--set", "'disk.queue_depth'", "at most 65536"]),
    _case(["run", "read_write", "--set", "kernel.page_size=1000"],
          ["--set", "'kernel.page_size'", "power of two"]),
    _case(["run", "read_write", "--set", "kernel.page_size=1MiB"],
          ["--set", "'kernel.page_size'", "power of two"]),
    _case(["run", "read_write", "--set", "kernel.pipe_size=5000"],
          ["--set", "'kernel.pipe_size'", "whole number of pages"]),
    _case(["run", "read_write", "--set", "kernel.page_cache=4KiB"],
          ["--set", "'kernel.page_cache'", "at least 64 pages"]),
    _case(["run", "read_write", "--set", "kernel.readahead=5000"],
          ["--set", "'kernel.readahead'", "whole number of pages"]),
    _case(["run", "read_write", "--set", "nic.tso_max=1000"],
          ["--set", "'nic.tso_max'", "at least nic.mtu"]),
    _case(["run", "read_write", "--set", "kernel.sndbuf=100"],
          ["--set", "'kernel.sndbuf'", "at least one page"]),
    _case(["run", "read_write", "--set", "kernel.fault_around=5000"],
          ["--set", "'kernel.fault_around'", "whole number of pages"]),
    _case(["run", "read_write", "--set", "nic.rat=3"], ["--set", "'nic.rat'", "did you mean"]),
    _case(["run", "read_write", "--set", "zz.qq=3"], ["--set", "'zz.qq'", "iosim keys"]),
    _case(["run", "read_write", "--set", "novalue"], ["--set", "expected KEY=VALUE"]),
    _case(["run", "read_write", "--set", "=3"], ["--set", "expected KEY=VALUE"]),
]

FLAG_CASES = [
    _case(["run", "teleport"], ["unknown path 'teleport'", "expected one of"]),
    _case(["run", "splice", "--size", "12XB"], ["--size", "'size_bytes'", "expected a size"]),
    _case(["run", "splice", "--size", "1e999"], ["--size", "'size_bytes'", "finite"]),
    _case(["run", "splice", "--size", "0"], ["--size", "'size_bytes'", "positive"]),
    _case(["run", "splice", "--size", "-1"], ["--size", "'size_bytes'", "zero or more"]),
    _case(["run", "splice", "--size", "1e30"], ["--size", "'size_bytes'", "8 EiB"]),
    _case(["run", "splice", "--size", "16Mb"], ["--size", "'size_bytes'", "bits"]),
    _case(["run", "splice", "--size", "1.5"], ["--size", "'size_bytes'", "whole number"]),
    _case(["compare", "--size", "nan"], ["--size", "'size_bytes'", "expected a size"]),
    _case(["run", "splice", "--buffer", "0"], ["--buffer", "'buffer_bytes'", "positive"]),
    _case(["run", "splice", "--buffer", "lots"], ["--buffer", "'buffer_bytes'", "a size"]),
    _case(["run", "msg_zerocopy", "--zc-buffers", "0"], ["--zc-buffers", "'zc_buffers'",
                                                        "positive"]),
    _case(["run", "msg_zerocopy", "--zc-buffers", "1.5"], ["--zc-buffers", "'zc_buffers'",
                                                          "whole number"]),
    _case(["run", "splice", "-s", "-1"], ["--seed", "'seed'", "zero or more"]),
    _case(["run", "splice", "-s", "x"], ["--seed", "'seed'", "whole number"]),
    _case(["run", "splice", "--watch-page", "x"], ["--watch-page", "'watch_page'",
                                                   "whole number"]),
    _case(["run", "splice", "--watch-page", "-2"], ["--watch-page", "'watch_page'",
                                                    "zero or more"]),
    _case(["run", "splice", "--cache", "hot"], ["--cache", "invalid choice", "cold"]),
    _case(["run", "splice", "--writer", "ghost"], ["--writer", "invalid choice", "shared"]),
    _case(["run", "splice", "--writer", "shared"], ["--writer", "'writer'", "writer_rate"]),
    _case(["run", "splice", "--writer", "write", "--writer-rate", "nan"],
          ["--writer-rate", "'writer_rate'", "finite"]),
    _case(["run", "splice", "--writer", "write", "--writer-rate", "inf"],
          ["--writer-rate", "'writer_rate'", "finite"]),
    _case(["run", "splice", "--writer", "write", "--writer-rate", "1e10"],
          ["--writer-rate", "'writer_rate'", "at most 1e9"]),
    _case(["run", "splice", "--writer", "write", "--writer-rate", "-5"],
          ["--writer-rate", "'writer_rate'", "zero or more"]),
    _case(["run", "splice", "--writer", "write", "--writer-rate", "fast"],
          ["--writer-rate", "'writer_rate'", "a number"]),
    _case(["run", "splice", "--writer-rate", "10"], ["--writer-rate", "'writer_rate'",
                                                     "needs 'writer'"]),
    _case(["run", "splice", "--writer-at", "20480"], ["--writer-at", "'writer_at'",
                                                      "needs 'writer'"]),
    _case(["run", "splice", "--size", "64KiB", "--writer", "shared", "--writer-at", "1MiB"],
          ["--writer-at", "'writer_at'", "within the 65536-byte transfer"]),
    _case(["run", "splice", "--writer", "shared", "--writer-at", "x"],
          ["--writer-at", "'writer_at'", "a size"]),
    _case(["run", "splice", "--pressure", "-3"], ["--pressure", "'pressure'", "zero or more"]),
    _case(["run", "splice", "--pressure", "many"], ["--pressure", "'pressure'", "whole number"]),
    _case(["run", "splice", "--pressure", "1", "--pressure-interval", "1e-300"],
          ["--pressure-interval", "'pressure_interval_s'", "at least 1ns"]),
    _case(["run", "splice", "--pressure", "1", "--pressure-interval", "0"],
          ["--pressure-interval", "'pressure_interval_s'", "at least 1ns"]),
    _case(["run", "splice", "--pressure", "1", "--pressure-interval", "5 sec"],
          ["--pressure-interval", "'pressure_interval_s'", "expected a time"]),
    _case(["run", "splice", "--pressure-reader", "5"],
          ["--pressure-reader", "'pressure_reader'", "with its unit"]),
    _case(["run", "splice", "--pressure-reader", "inf"],
          ["--pressure-reader", "'pressure_reader'", "expected a rate"]),
    _case(["run", "splice", "--pressure-reader", "-2GB/s"],
          ["--pressure-reader", "'pressure_reader'", "zero or more"]),
    _case(["run", "splice", "--pressure-reader", "1e9PB/s"],
          ["--pressure-reader", "'pressure_reader'", "one 128 KiB read-ahead chunk per ns"]),
    _case(["run", "splice", "--truncate-at", "nan"], ["--truncate-at", "'truncate_at_s'",
                                                      "expected a time"]),
    _case(["run", "splice", "--truncate-at", "-1ms"], ["--truncate-at", "'truncate_at_s'",
                                                       "zero or more"]),
    _case(["run", "splice", "--truncate-at", "1MS"], ["--truncate-at", "'truncate_at_s'",
                                                      "did you mean ms"]),
    _case(["run", "splice", "--loss", "1"], ["--loss", "'loss'", "probability"]),
    _case(["run", "splice", "--loss", "-0.1"], ["--loss", "'loss'", "probability"]),
    _case(["run", "splice", "--loss", "nan"], ["--loss", "'loss'", "finite"]),
    _case(["run", "splice", "--loss", "often"], ["--loss", "'loss'", "a number"]),
    _case(["run", "splice", "--drop", "0"], ["--drop", "'drop'", "from 1"]),
    _case(["run", "splice", "--drop", "3,x"], ["--drop", "'drop'", "whole number"]),
    _case(["run", "splice", "--offset", "-1"], ["--offset", "'offset_bytes'", "zero or more"]),
    _case(["run", "splice", "--offset", "8EiB"], ["--offset", "'offset_bytes'", "a size"]),
    _case(["run", "splice", "--buffer-offset", "x"], ["--buffer-offset",
                                                      "'buffer_offset_bytes'", "a size"]),
    _case(["run", "splice", "--profile", "nope"], ["unknown profile 'nope'", "expected one of"]),
    _case(["run", "splice", "--profile", "missing.toml"], ["missing.toml", "cannot read"]),
    _case(["run", "splice", "--scenario", "nope"], ["unknown scenario 'nope'", "iosim scenarios"]),
    _case(["run", "splice", "--wall-limit", "0"], ["--wall-limit", "positive time"]),
    _case(["run", "splice", "--wall-limit", "soon"], ["--wall-limit", "expected a time"]),
    _case(["run", "splice", "--trace", "a_file/t.json"], ["--trace", "a_file",
                                                          "cannot write"], {"a_file": ""}),
    _case(["run", "splice", "--trace", "adir"], ["--trace", "adir", "is a folder"],
          {"adir/keep": ""}),
    _case(["run", "splice", "--bogus"], ["unrecognized arguments: --bogus"]),
    _case(["compare", "--profile", "nope"], ["unknown profile 'nope'"]),
    _case(["compare", "--set", "nic.rate=fast"], ["--set", "'nic.rate'", "expected a rate"]),
    _case(["compare", "--writer", "private"], ["--writer", "'writer'", "writer_at"]),
    _case(["compare", "--size", "64KiB", "--set", "kernel.page_cache=1PiB",
           "--pressure-reader", "1GB/s"], ["--set", "'kernel.page_cache'", "available"]),
    _case(["explain", "teleport"], ["unknown path 'teleport'"]),
    _case(["explain", "splice", "--size", "0"], ["--size", "positive size"]),
    _case(["explain", "splice", "--page", "-1"], ["--page", "from 0"]),
    _case(["explain", "splice", "--drop", "0"], ["--drop", "'drop'", "from 1"]),
    _case(["explain", "splice", "--set", "nic.mtu=40"], ["--set", "'nic.mtu'", "52 bytes"]),
    _case(["explain", "splice", "--writer", "shared"], ["--writer", "'writer'", "writer_at"]),
    _case(["animate", "splice", "teleport", "--out", "a.html"], ["unknown path 'teleport'"]),
    _case(["animate", "splice", "--out", "a.txt"], ["--out a.txt", "a .html file name"]),
    _case(["animate", "splice", "--out", "a_file/a.html"], ["--out", "a_file", "cannot write"],
          {"a_file": ""}),
    _case(["animate", "splice", "--out", "a.html", "--writer", "shared"],
          ["--writer", "'writer'", "writer_rate"]),
    _case(["animate", "splice", "--out", "a.html", "--size", "1e999"],
          ["--size", "'size_bytes'", "finite"]),
    _case(["run", "splice", "--kernel", "linux-2"], ["--kernel", "expected one of linux-6"]),
    _case(["diagram", "teleport"], ["unknown path 'teleport'"]),
    _case(["diagram", "splice", "--out", "flow.txt"], ["--out flow.txt", ".png, .svg or .pdf"]),
    _case(["diagram", "splice", "--out", "a_file/flow.png"], ["--out", "a_file",
                                                             "cannot write"], {"a_file": ""}),
    _case(["diagram", "splice", "--set", "cpu.cores=nan"], ["--set", "'cpu.cores'", "finite"]),
    _case(["diagram", "splice", "--size", "1e999"], ["--size", "finite"]),
    _case(["quiz", "-n", "-5"], ["-n/--count", "from 1 to 100"]),
    _case(["quiz", "-n", "0"], ["-n/--count", "from 1 to 100"]),
    _case(["quiz", "-n", "1000"], ["-n/--count", "from 1 to 100"]),
    _case(["quiz", "--profile", "nope"], ["unknown profile 'nope'"]),
    _case(["quiz", "--kind", "trivia"], ["--kind", "invalid choice"]),
    _case(["experiment", "../tests/conftest"], ["unknown experiment '../tests/conftest'",
                                               "expected one of"]),
    _case(["experiment", "/etc/passwd"], ["unknown experiment '/etc/passwd'"]),
    _case(["experiment", "copies", "--out", "a_file"], ["--out a_file", "is a file"],
          {"a_file": ""}),
    _case(["keys", "gpu"], ["keys", "'gpu'", "expected a section"]),
    _case(["validate", "--sizes", "1e999"], ["--sizes", "finite"]),
    _case(["validate", "--sizes", "0"], ["--sizes", "from 1 byte"]),
    _case(["validate", "--buffer", "1GiB"], ["--buffer", "1 byte to 64MiB"]),
    _case(["validate", "--repeats", "0"], ["--repeats", "at least 1"]),
    _case(["validate", "--paths", "teleport"], ["--paths", "unknown path 'teleport'"]),
    _case(["validate", "--profile", "nope"], ["unknown profile 'nope'"]),
    _case(["validate", "--profile", "teaching", "--out", "a_file"], ["--out a_file",
                                                                    "is a file"], {"a_file": ""}),
    _case(["calibrate", "--out", "adir"], ["--out adir", "is a folder"], {"adir/keep": ""}),
    _case(["calibrate", "--out", "a_file/host.toml"], ["--out", "a_file", "cannot write"],
          {"a_file": ""}),
    _case(["sweep"], ["the following arguments are required: spec"]),
    _case(["nosuch"], ["invalid choice: 'nosuch'"]),
]

PROFILE_FILE_CASES = [
    _case(["run", "splice", "--profile", "p.toml"], ["p.toml", "not valid TOML"],
          {"p.toml": "this is = = not toml"}),
    _case(["run", "splice", "--profile", "p.toml"], ["p.toml", "not UTF-8"],
          {"p.toml": b"\xff\xfe = 1\n"}),
    _case(["run", "splice", "--profile", "pdir.toml"], ["pdir.toml", "is a directory"],
          {"pdir.toml/keep": ""}),
    _case(["run", "splice", "--profile", "p.toml"], ["p.toml", "[gpu]", "expected one of"],
          {"p.toml": 'extends = "teaching"\n[gpu]\ncores = 3\n'}),
    _case(["run", "splice", "--profile", "p.toml"], ["p.toml", "'wire.speed'", "expected one"],
          {"p.toml": 'extends = "teaching"\n[wire]\nspeed = 3\n'}),
    _case(["run", "splice", "--profile", "p.toml"], ["p.toml", "'nic'", "[nic] table"],
          {"p.toml": 'extends = "teaching"\nnic = 5\n'}),
    _case(["run", "splice", "--profile", "p.toml"], ["p.toml", "missing key 'wire.rtt'",
                                                     "expected a time"],
          {"p.toml": TEACHING.replace('rtt = "100us"', "")}),
    _case(["run", "splice", "--profile", "p.toml"], ["p.toml", "'extends'", "a profile name"],
          {"p.toml": "extends = 5\n"}),
    _case(["run", "splice", "--profile", "p.toml"], ["p.toml", "'extends'", "unknown profile"],
          {"p.toml": 'extends = "nosuch"\n'}),
    _case(["run", "splice", "--profile", "p.toml"], ["p.toml", "'extends'", "no profile file",
                                                     "relative to the profile"],
          {"p.toml": 'extends = "base.toml"\n'}),
    _case(["run", "splice", "--profile", "sub/child.toml"], ["sub/base.toml", "'nic.mtu'",
                                                             "52 bytes"],
          {"sub/child.toml": 'extends = "base.toml"\n',
           "sub/base.toml": 'extends = "teaching"\n[nic]\nmtu = 48\n'}),
    _case(["run", "splice", "--profile", "a.toml"], ["b.toml", "'extends'", "cycle"],
          {"a.toml": 'extends = "b.toml"\n', "b.toml": 'extends = "a.toml"\n'}),
    _case(["run", "splice", "--profile", "d0.toml"], ["d0.toml", "'extends' chain deeper"],
          {f"d{i}.toml": f'extends = "d{i + 1}.toml"\n' for i in range(1200)}
          | {"d1200.toml": 'extends = "teaching"\n'}, "extends chain of 1200"),
    _case(["run", "splice", "--profile", "p.toml"], ["p.toml", "'name'", "a string"],
          {"p.toml": 'extends = "teaching"\nname = 5\n'}),
    _case(["run", "splice", "--profile", "p.toml"], ["p.toml", "'nic.rate'", "with its unit"],
          {"p.toml": 'extends = "teaching"\n[nic]\nrate = 1250000000\n'}),
    _case(["run", "splice", "--profile", "p.toml"], ["p.toml", "'disk.bandwidth'",
                                                     "expected a positive value, got -5"],
          {"p.toml": 'extends = "teaching"\n[disk]\nbandwidth = -5\n'}),
]

SCENARIO_FILE_CASES = [
    _case(["run", "splice", "--scenario", "s.toml"], ["s.toml", "'scenario'", "a [scenario]"],
          {"s.toml": "scenario = 5\n"}),
    _case(["run", "splice", "--scenario", "s.toml"], ["s.toml", "outside the [scenario]"],
          {"s.toml": "loss = 0.1\n[scenario]\nseed = 2\n"}),
    _case(["run", "splice", "--scenario", "s.toml"], ["s.toml", "'path'", "unknown path"],
          {"s.toml": 'path = "teleport"\n'}),
    _case(["run", "splice", "--scenario", "s.toml"], ["s.toml", "'rate'", "expected one of"],
          {"s.toml": "rate = [1]\n"}),
    _case(["run", "splice", "--scenario", "s.toml"], ["s.toml", "'seed'", "whole number"],
          {"s.toml": 'seed = "three"\n'}),
    _case(["run", "splice", "--scenario", "s.toml"], ["s.toml", "'size_bytes'", "a list"],
          {"s.toml": "size = [1]\n"}),
    _case(["run", "splice", "--scenario", "s.toml"], ["s.toml", "'truncate_at_s'", "a date"],
          {"s.toml": "truncate_at = 1979-05-27\n"}),
    _case(["run", "splice", "--scenario", "s.toml"], ["s.toml", "'writer_at'", "a table"],
          {"s.toml": 'writer = "write"\nwriter_at = [{}]\n'}),
    _case(["run", "splice", "--scenario", "s.toml"], ["s.toml", "'loss'", "finite"],
          {"s.toml": "loss = nan\n"}),
    _case(["run", "splice", "--scenario", "s.toml"], ["s.toml", "'pressure_interval_s'",
                                                      "at least 1ns"],
          {"s.toml": "pressure = 4\npressure_interval = 1e-300\n"}),
    _case(["run", "splice", "--scenario", "s.toml"], ["s.toml", "'writer'", "writer_rate"],
          {"s.toml": 'writer = "shared"\n'}),
    _case(["run", "splice", "--scenario", "s.toml"], ["s.toml", "'pressure_reader'",
                                                      "with its unit"],
          {"s.toml": "pressure_reader = 2000000000\n"}),
    _case(["run", "splice", "--scenario", "s.toml"], ["s.toml", "'cache'", "a name"],
          {"s.toml": "cache = 5\n"}),
    _case(["run", "splice", "--scenario", "s.toml"], ["s.toml", "not UTF-8"],
          {"s.toml": b"loss = 0.1 # \xff\n"}),
    _case(["run", "splice", "--scenario", "s.toml"], ["s.toml", "not valid TOML"],
          {"s.toml": "loss = = 1\n"}),
    _case(["run", "splice", "--scenario", "sdir.toml"], ["sdir.toml", "is a directory"],
          {"sdir.toml/keep": ""}),
    _case(["run", "splice", "--scenario", "missing.toml"], ["missing.toml", "cannot read"]),
    _case(["run", "splice", "--scenario", "inplace-writer", "--size", "64KiB"],
          ["inplace-writer.toml", "'writer_at'", "within the 65536-byte transfer",
           "size from --size"]),
    _case(["compare", "--scenario", "inplace-writer", "--size", "64KiB"],
          ["inplace-writer.toml", "'writer_at'", "size from --size"]),
    _case(["run", "splice", "--scenario", "s.toml", "--writer-at", "x"],
          ["--writer-at", "'writer_at'", "a size"], {"s.toml": 'writer = "shared"\n'}),
]

SWEEP_CASES = [
    _case(["sweep", "spec.toml"], ["spec.toml", "[grid] unknown key 'nic.rat'",
                                   "did you mean nic.rate"],
          {"spec.toml": SPEC_HEAD + '[grid]\n"nic.rat" = ["1Gbit/s"]\n'}),
    _case(["sweep", "spec.toml"], ["spec.toml", "'nic.rate'", "expected a rate"],
          {"spec.toml": SPEC_HEAD + '[grid.nic]\nrate = ["1Gbit/s", "fast"]\n'}),
    _case(["sweep", "spec.toml"], ["spec.toml", "'nic.rate'", "with its unit"],
          {"spec.toml": SPEC_HEAD + '[grid.nic]\nrate = [1250000000]\n'}),
    _case(["sweep", "spec.toml"], ["spec.toml", "'seed'", "expected a list or a range"],
          {"spec.toml": SPEC_HEAD + "[grid]\nseed = 3\n"}),
    _case(["sweep", "spec.toml"], ["spec.toml", "'size_bytes'", "the range has 6,907,755,621"],
          {"spec.toml": '[base]\npath = "splice"\n[grid]\n'
                        "size = {start = 1, stop = 1e300, factor = 1.0000001}\n"}),
    _case(["sweep", "spec.toml"], ["spec.toml", "'seed'", "1,000,000,001 values"],
          {"spec.toml": SPEC_HEAD + "[grid]\nseed = {start = 0, stop = 1e9, step = 1}\n"}),
    _case(["sweep", "spec.toml"], ["spec.toml", "'wire.rtt'", "finite"],
          {"spec.toml": SPEC_HEAD + '[grid]\n"wire.rtt" = {start = "1us", stop = inf, '
                                    "num = 3}\n"}),
    _case(["sweep", "spec.toml"], ["spec.toml", "'loss'", "finite"],
          {"spec.toml": SPEC_HEAD + '[grid]\nloss = {start = 0, stop = nan, num = 3}\n'}),
    _case(["sweep", "spec.toml"], ["spec.toml", "'cache'", "a string, a number"],
          {"spec.toml": SPEC_HEAD + '[grid]\ncache = [["warm"]]\n'}),
    _case(["sweep", "spec.toml"], ["spec.toml", "unknown top-level key 'gird'"],
          {"spec.toml": SPEC_HEAD + "[gird]\nseed = [1]\n"}),
    _case(["sweep", "spec.toml"], ["spec.toml", "'profile'", "a profile name"],
          {"spec.toml": SPEC_HEAD.replace("[base]\n", "[base]\nprofile = 5\n")}),
    _case(["sweep", "spec.toml"], ["spec.toml", "unknown path 'teleport'"],
          {"spec.toml": '[base]\nsize = "64KiB"\n[grid]\npath = ["splice", "teleport"]\n'}),
    _case(["sweep", "spec.toml"], ["spec.toml", "(nic.mtu=9000, nic.tso_max=4096)",
                                   "'nic.tso_max'"],
          {"spec.toml": SPEC_HEAD + '[grid]\n"nic.mtu" = [1500, 9000]\n'
                                    '"nic.tso_max" = [4096]\n'}),
    _case(["sweep", "spec.toml"], ["spec.toml", "'writer'", "writer_rate"],
          {"spec.toml": SPEC_HEAD + '[grid]\nwriter = ["shared"]\n'}),
    _case(["sweep", "spec.toml"], ["spec.toml", "not UTF-8"],
          {"spec.toml": SPEC_HEAD.encode() + b"# \xff\n"}),
    _case(["sweep", "spec.toml"], ["spec.toml", "not valid TOML"], {"spec.toml": "[base\n"}),
    _case(["sweep", "missing.toml"], ["missing.toml", "cannot read sweep spec"]),
    _case(["sweep", "sdir.toml"], ["sdir.toml", "is a directory"], {"sdir.toml/keep": ""}),
    _case(["sweep", "spec.toml", "--out", "a_file"], ["--out a_file", "is a file"],
          {"spec.toml": SPEC_HEAD, "a_file": ""}),
    _case(["sweep", "spec.toml", "--out", "a_file/x"], ["--out a_file/x", "a_file is a file"],
          {"spec.toml": SPEC_HEAD, "a_file": ""}),
    _case(["sweep", "spec.toml", "--out", "out"], ["--out out/runs", "is a file"],
          {"spec.toml": SPEC_HEAD, "out/runs": ""}),
    _case(["sweep", "spec.toml", "--workers", "0"], ["--workers", "1 or more"],
          {"spec.toml": SPEC_HEAD}),
    _case(["sweep", "spec.toml", "--workers", "-2"], ["--workers", "1 or more"],
          {"spec.toml": SPEC_HEAD}),
    _case(["sweep", "spec.toml", "--scheduler", "udp://x:1"], ["--scheduler", "tcp://HOST:PORT"],
          {"spec.toml": SPEC_HEAD}),
    _case(["sweep", "spec.toml", "--scheduler", "tcp://127.0.0.1:1"],
          ["--scheduler tcp://127.0.0.1:1", "cannot connect"], {"spec.toml": SPEC_HEAD}),
    _case(["sweep", "spec.toml", "--scheduler", "tcp://nohost"],
          ["--scheduler tcp://nohost", "tcp://HOST:PORT"], {"spec.toml": SPEC_HEAD}),
    _case(["sweep", "spec.toml", "--scheduler", "tcp://h:1", "--workers", "2"],
          ["--workers applies to local processes"], {"spec.toml": SPEC_HEAD}),
]

ALL_CASES = [*_set_cases(), *_profile_file_cases(), *LIMIT_CASES, *FLAG_CASES,
             *PROFILE_FILE_CASES, *SCENARIO_FILE_CASES, *SWEEP_CASES]


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def test_the_matrix_is_large_and_covers_every_subcommand():
    assert len(ALL_CASES) >= 150
    commands = {case.values[0][0] for case in ALL_CASES}
    assert {"run", "compare", "explain", "diagram", "animate", "quiz", "experiment", "keys",
            "sweep", "validate", "calibrate"} <= commands


@pytest.mark.parametrize(("argv", "expected", "files"), ALL_CASES)
def test_bad_input_is_one_clear_line_and_exit_2(tmp_path, monkeypatch, capsys, argv, expected,
                                                files):
    _write(tmp_path, files)
    monkeypatch.chdir(tmp_path)
    before = _tree(tmp_path)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("iosim")
    assert "Traceback" not in err
    for fragment in expected:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    assert out == ""
    assert _tree(tmp_path) == before


def test_every_bundled_scenario_and_profile_is_valid(capsys):
    for name in bundled_scenarios():
        assert main(["run", "splice", "--scenario", name, "--size", "1MiB", "--json",
                     "--quiet"]) == 0
    for name in bundled_profiles():
        assert main(["run", "splice", "--profile", name, "--size", "64KiB", "--json"]) == 0
    capsys.readouterr()


def test_a_bad_input_through_the_real_command_has_no_traceback(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "s.toml"
    bad.write_text("scenario = 5\n")
    proc = subprocess.run([sys.executable, "-m", "iosim", "run", "splice", "--scenario",
                           str(bad)], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == (f"iosim: error: {bad}: key 'scenario': expected a [scenario] "
                           f"table, got 5\n")

import pytest

import iosim
from iosim import ConfigError, load_profile
from iosim.config import bundled_profiles, known_keys

TEACHING = bundled_profiles()["teaching"].read_text()


def test_bundled_profiles_load():
    names = set(bundled_profiles())
    assert {"teaching", "hdd-1g-2010", "nvme-100g-2024"} <= names
    for name in names:
        p = load_profile(name)
        assert p.name == name
        assert p.kernel.page_size_bytes == 4096


def test_teaching_values_are_round():
    p = load_profile("teaching")
    assert p.nic.rate_bytes_per_s == 1.25e9  # 10 Gbit/s / 8 bits per byte
    assert p.cpu.copy_bandwidth_bytes_per_s == 2e9
    assert p.kernel.pipe_size_bytes == 16 * 4096
    assert p.kernel.max_skb_frags == 17


def _write(tmp_path, text, name="p.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_missing_key_names_file_and_key(tmp_path):
    path = _write(tmp_path, TEACHING.replace('rtt = "100us"', ""))
    with pytest.raises(ConfigError, match=r"p\.toml: missing key 'wire\.rtt'.*expected a time"):
        load_profile(path)


def test_unknown_key(tmp_path):
    path = _write(tmp_path, TEACHING.replace("[wire]", "[wire]\nspeed = 3"))
    with pytest.raises(ConfigError, match=r"p\.toml: unknown key 'wire\.speed'"):
        load_profile(path)


def test_unknown_section(tmp_path):
    path = _write(tmp_path, TEACHING + "\n[gpu]\ncores = 3\n")
    with pytest.raises(ConfigError, match=r"unknown section \[gpu\]"):
        load_profile(path)


@pytest.mark.parametrize(("old", "new", "message"), [
    ('rate = "10Gbit/s"', 'rate = "fast"', r"'nic\.rate'.*expected a rate"),
    ('rate = "10Gbit/s"', 'rate = "0Gbit/s"', r"'nic\.rate'.*expected a positive value"),
    ('latency = "100us"', 'latency = "-1us"', r"'disk\.latency'"),
    ("cores = 2", "cores = 2.5", r"'cpu\.cores'.*whole number"),
    ("sg = true", 'sg = "yes"', r"'nic\.sg'.*true or false"),
    ('pipe_size = "64KiB"', 'pipe_size = "5000"', r"'kernel\.pipe_size'.*whole number of pages"),
])
def test_bad_values(tmp_path, old, new, message):
    assert old in TEACHING
    path = _write(tmp_path, TEACHING.replace(old, new))
    with pytest.raises(ConfigError, match=message):
        load_profile(path)


def test_not_toml(tmp_path):
    path = _write(tmp_path, "this is = = not toml")
    with pytest.raises(ConfigError, match=r"p\.toml: not valid TOML"):
        load_profile(path)


def test_extends_overrides_only_what_it_names(tmp_path):
    path = _write(tmp_path, 'extends = "teaching"\n[nic]\nrate = "25Gbit/s"\n')
    p = load_profile(path)
    assert p.nic.rate_bytes_per_s == 25e9 / 8
    assert p.disk == load_profile("teaching").disk


def test_overrides_validate():
    p = load_profile("teaching", {"nic.sg": False, "membus.bandwidth": "20GB/s"})
    assert p.nic.sg is False
    assert p.membus.bandwidth_bytes_per_s == 20e9
    with pytest.raises(ConfigError, match=r"key 'nic\.rat'; did you mean nic\.rate"):
        load_profile("teaching", {"nic.rat": 3})
    with pytest.raises(ConfigError, match=r"'nic\.mtu'.*positive"):
        load_profile("teaching", {"nic.mtu": 0})


def test_unknown_profile_name():
    with pytest.raises(ConfigError, match="unknown profile 'nope'"):
        load_profile("nope")


def test_known_keys_cover_schema():
    assert "nic.rate" in known_keys() and "kernel.sndbuf" in known_keys()


@pytest.mark.parametrize("overrides", [
    {}, {"nic.loopback": True, "cpu.cores": 1, "kernel.model": "linux-6"},
    {"cpu.rx_skb": "3us", "nic.rate": "25Gbit/s", "kernel.pipe_size": "128KiB"},
    {"cpu.per_skb": "1.2345678us", "membus.bandwidth": "12.3456789GB/s"},
])
def test_profile_changes_are_the_set_keys_that_give_the_run_its_profile(overrides):
    """What a Result's profile differs in from its named profile, as --set keys a person
    writes (units where they give the same value): loading them gives that profile back."""
    from iosim.config import profile_changes
    r = iosim.simulate("sendfile_sg", "64KiB", overrides=overrides)
    base = load_profile(r.profile["name"])
    changes = profile_changes(r.profile, base)
    assert set(changes) == {k for k in overrides
                            if load_profile("teaching", {k: overrides[k]}).to_dict()
                            != base.to_dict()}
    assert load_profile(r.profile["name"], changes).to_dict() == r.profile

"""iosim quiz: reproducible problems, worked answers equal to simulate(), golden output."""

import pytest

from iosim import simulate
from iosim.cli import main
from iosim.teach.quiz import KINDS, answer, problems, render
from tests.regen_golden import CASES, GOLDEN_DIR, output


@pytest.mark.parametrize("name", [n for n in CASES if n.startswith("quiz")])
def test_output_matches_the_golden_file(name):
    expected = (GOLDEN_DIR / name).read_text()
    assert output(CASES[name]) == expected, "regenerate with: python -m tests.regen_golden"


def test_the_same_seed_gives_the_same_problems():
    assert problems(7, 5) == problems(7, 5)
    assert problems(7, 5) != problems(8, 5)
    assert render(3) == render(3)


def test_a_kind_keeps_the_seeds_other_draws():
    mixed = problems(4, 6)
    only = problems(4, 6, "membus")
    assert all(p.kind == "membus" for p in only)
    assert [p.path for p in mixed] == [p.path for p in only]


@pytest.mark.parametrize("kind", KINDS)
def test_worked_answers_equal_simulate_on_the_same_inputs(kind):
    for p in problems(11, 3, kind):
        a = answer(p)
        assert a.ok, a.checks
        for name, derived, _, tolerance in a.checks:
            field, _, path = name.partition(" of ")
            r = simulate(path or p.path, p.size_bytes, cache=p.cache,
                         buffer_bytes=p.buffer_bytes, overrides={"nic.sg": p.sg},
                         **p.scenario())
            assert abs(derived - getattr(r, field)) <= tolerance, (p, name)


def test_without_c_it_asks_and_says_how_to_see_the_answers(capsys):
    assert main(["quiz", "-s", "5", "-n", "2"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:6] == ["ARG seed 5", "ARG kind all", "ARG count 2",
                                    "ARG profile teaching", "ARG kernel textbook",
                                    "ARG compute False"]
    assert "Answer" not in out and "rerun with -c" in out
    assert out.count("  Q: ") == 2


def test_with_c_every_check_passes(capsys):
    assert main(["quiz", "-s", "9", "-c", "-n", "6"]) == 0
    out = capsys.readouterr().out
    assert out.count("Answer:") == 6
    assert "MISMATCH" not in out and ": ok" in out


def test_bad_kind_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["quiz", "--kind", "speed"])
    assert exc.value.code == 2
    with pytest.raises(ValueError, match="unknown kind"):
        problems(0, 1, "speed")


@pytest.mark.parametrize("seed", range(12))
def test_failure_mode_problems_work_out(seed):
    for p in problems(seed, 3, "faults"):
        assert p.fault in ("drop", "private", "shared")
        assert answer(p).ok, (p, answer(p).checks)


@pytest.mark.parametrize("seed", range(6))
def test_linux6_answers_check_against_the_linux6_model(seed, capsys):
    # on Linux 6 a NIC without SG copies at each transmission (resends too) and the skb keeps
    # its page references: the worked answers derive that, and every check passes
    assert main(["quiz", "-s", str(seed), "-c", "--kind", "faults", "--kernel", "linux-6"]) == 0
    out = capsys.readouterr().out
    assert "ARG kernel linux-6" in out
    assert "MISMATCH" not in out and out.count(": ok") >= 4


def test_a_linux6_resend_without_sg_is_copied_again():
    from iosim.teach.quiz import Problem, answer

    p = Problem(1, "faults", "read_write", 256 * 1024, "cold", 64 * 1024, False,
                fault="drop", fault_n=4)
    a = answer(p, overrides={"kernel.model": "linux-6"})
    assert a.ok
    derived = {name: d for name, d, _, _ in a.checks}
    # review K5: 3 copies of 262144 B (read, write into the socket's frags, GSO) + 1448 B
    assert derived["cpu_copy_bytes"] == 3 * 262144 + 1448 == 787880
    assert any("copied again" in line for line in a.lines)


@pytest.mark.parametrize("path", ["writev_sendfile", "vmsplice_splice", "io_uring_send_zc",
                                  "ktls_sendfile"])
def test_the_quiz_asks_about_the_issue_17_paths(path):
    asked = [p for seed in range(40) for p in problems(seed, 4) if path in (p.path, p.other)]
    assert asked, "the quiz draws from every registered path"
    for p in asked[:4]:
        a = answer(p)
        assert a.ok, a.checks

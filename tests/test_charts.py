"""Charts: one colour per path everywhere, slide-readable text, atomic PNG+SVG files."""

import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

import iosim
from iosim import charts
from iosim.trace import Tracer

SIZE = "128KiB"


@pytest.fixture(scope="module")
def cold():
    return [iosim.simulate(p, SIZE, watch_page=0) for p in iosim.PATHS]


@pytest.fixture(scope="module")
def warm():
    return [iosim.simulate(p, SIZE, cache="warm") for p in iosim.PATHS]


def test_every_path_has_its_own_colour():
    assert set(charts.PATH_COLORS) == set(iosim.PATHS)
    assert len(set(charts.PATH_COLORS.values())) == len(charts.PATH_COLORS)


def _texts(fig: Figure) -> list[Text]:
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def _figures(cold, warm):
    tracer = Tracer()
    traced = iosim.simulate("read_write", SIZE, tracer=tracer)
    sweep = [(x, iosim.simulate(p, SIZE, overrides={"nic.rate": f"{x}Gbit/s"}))
             for x in (1, 10) for p in iosim.PATHS]
    return {
        "copies": charts.copies_chart(cold, warm),
        "size": charts.size_chart(cold + [iosim.simulate(p, "16KiB") for p in iosim.PATHS]),
        "sweep": charts.sweep_chart(sweep, "NIC rate (Gbit/s)", "sweep"),
        "compare": charts.compare_chart(warm, "compare"),
        "failure": charts.failure_chart(
            [charts.Panel("goodput (Gbit/s)", "NIC rate (Gbit/s)", sweep,
                          lambda r, base: r.goodput_bps / 1e9),
             charts.Panel("extra copies per byte", "NIC rate (Gbit/s)", sweep,
                          lambda r, base: r.copies - base.copies, even_x=True),
             charts.Panel("data received", "NIC rate (Gbit/s)", sweep)],
            "failure", note="a note"),
        "timeline": charts.timeline_chart(tracer.sorted_events(), traced),
        "timeline_grid": charts.timeline_grid([(traced, tracer.sorted_events())] * 2),
        "refcount": charts.refcount_chart(cold[3].page_log, cold[3]),
    }


def test_charts_are_titled_labelled_and_readable_at_slide_size(cold, warm):
    for name, fig in _figures(cold, warm).items():
        width_in, _ = fig.get_size_inches()
        assert width_in == charts.SLIDE_SIZE_IN[0], name
        assert fig.get_suptitle(), name
        sizes = [t.get_fontsize() for t in _texts(fig)]
        assert min(sizes) >= 12, (name, min(sizes))
        for ax in fig.axes:
            if ax.get_visible() and ax.axison:
                shared = ax.get_shared_x_axes().get_siblings(ax)
                assert any(a.get_xlabel() for a in shared), (name, ax.get_title())
                shared = ax.get_shared_y_axes().get_siblings(ax)
                assert any(a.get_ylabel() or a.get_yticklabels() for a in shared), name


def test_path_lines_and_bars_use_the_path_colour(cold, warm):
    fig = charts.size_chart(cold)
    ax = fig.axes[0]
    by_label = {line.get_label(): line.get_color() for line in ax.get_lines()}
    for path, colour in charts.PATH_COLORS.items():
        assert by_label[path] == colour


def test_save_figure_writes_png_and_svg_atomically(tmp_path, cold, warm):
    files = charts.save_figure(charts.copies_chart(cold, warm), tmp_path / "sub" / "copies")
    assert [f.name for f in files] == ["copies.png", "copies.svg"]
    assert files[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in files[1].read_text()
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["copies.png", "copies.svg"]


def test_save_as_rejects_unknown_formats(tmp_path, cold, warm):
    with pytest.raises(ValueError, match=r"expected a \.png"):
        charts.save_as(charts.copies_chart(cold, warm), tmp_path / "x.txt")
    assert not list(tmp_path.iterdir())


def test_figures_show_themselves_in_notebooks(warm):
    png = charts.compare_chart(warm, "x")._repr_png_()
    assert png[:4] == b"\x89PNG"


def test_zerocopy_crossover_is_where_msg_zerocopy_gets_cheaper():
    results = [iosim.simulate(p, s, profile="nvme-100g-2024", cache="warm")
               for s in (4096, 16384, 65536, 16 * 1024 * 1024)
               for p in ("read_write", "msg_zerocopy")]
    cross = charts.zerocopy_crossover_bytes(results)
    cpu = {(r.path, r.bytes_requested): r.cpu_time_s for r in results}
    assert cross is not None
    assert cpu["msg_zerocopy", 4096] > cpu["read_write", 4096]
    for size in (s for s in (4096, 16384, 65536, 16 * 1024 * 1024) if s >= cross):
        assert cpu["msg_zerocopy", size] < cpu["read_write", size]


def test_lines_that_coincide_are_striped_so_none_hides():
    _, (ax,) = charts.new_figure()
    charts.path_lines(ax, {"sendfile_sg": ([1, 2, 3], [5.0, 5.0, 9.0]),
                           "splice": ([1, 2, 3], [5.0, 5.0, 1.0])})
    segments = [line for line in ax.get_lines() if line.get_label() not in iosim.PATHS]
    first = [line for line in segments if list(line.get_xdata()) == [1, 2]]
    last = [line for line in segments if list(line.get_xdata()) == [2, 3]]
    # the shared segment: both colours, dashed at complementary offsets
    assert {line.get_color() for line in first} == {charts.PATH_COLORS["sendfile_sg"],
                                                   charts.PATH_COLORS["splice"]}
    offsets = {line._unscaled_dash_pattern[0] for line in first}
    assert len(offsets) == 2
    assert all(line.get_linestyle() == "-" for line in last)  # apart: solid
    assert {line.get_label() for line in ax.get_lines()} >= {"sendfile_sg", "splice"}

"""USHCN, Human Activity and MIMIC loaders on small files in each source's exact format."""

from __future__ import annotations

from pathlib import Path

import pytest

from itnet_ts.datasets.activity import VARIABLES as ACTIVITY_VARIABLES
from itnet_ts.datasets.activity import load_activity
from itnet_ts.datasets.mimic import load_mimic
from itnet_ts.datasets.ushcn import load_ushcn
from itnet_ts.errors import ITNetInputError

USHCN = """ID,Time,Value_0,Value_1,Value_2,Value_3,Value_4,Mask_0,Mask_1,Mask_2,Mask_3,Mask_4
10,0.5,-0.3,0.0,0.0,1.25,0.0,1.0,0.0,0.0,1.0,0.0
2,100.0,0.1,0.2,0.3,0.4,0.5,1.0,1.0,1.0,1.0,1.0
10,0.5,0.0,0.0,0.0,0.75,0.0,0.0,0.0,0.0,1.0,0.0
2,12.5,0.0,0.0,0.7,0.0,0.0,0.0,0.0,1.0,0.0,0.0
"""


def _tidy_rows(frame) -> list[tuple]:
    return [tuple(r) for r in frame.iter_rows()]


def test_ushcn(tmp_path: Path) -> None:
    (tmp_path / "small_chunked_sporadic.csv").write_text(USHCN)
    frame = load_ushcn(tmp_path)
    assert frame.columns == ["unique_id", "ds", "variable", "value"]
    m = 48.0 / 200.0
    assert _tidy_rows(frame) == [
        ("2", 12.5 * m, "Value_2", 0.7),
        ("2", 100.0 * m, "Value_0", 0.1),
        ("2", 100.0 * m, "Value_1", 0.2),
        ("2", 100.0 * m, "Value_2", 0.3),
        ("2", 100.0 * m, "Value_3", 0.4),
        ("2", 100.0 * m, "Value_4", 0.5),
        ("10", 0.5 * m, "Value_0", -0.3),  # ids in numeric order; masked entries dropped
        ("10", 0.5 * m, "Value_3", 1.0),  # the same station and time twice: averaged
    ]
    raw = load_ushcn(tmp_path / "small_chunked_sporadic.csv", months=False)
    assert raw["ds"].to_list()[:2] == [12.5, 100.0]


def test_ushcn_errors(tmp_path: Path) -> None:
    with pytest.raises(ITNetInputError, match="not found"):
        load_ushcn(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("ID,Time,Value_0\n1,0.0,1.0\n")
    with pytest.raises(ITNetInputError, match="mask column"):
        load_ushcn(bad)
    bad.write_text("ID,Time,Value_0,Mask_0\n1,0.0,,1\n")
    with pytest.raises(ITNetInputError, match="no finite value"):
        load_ushcn(bad)


def test_mimic(tmp_path: Path) -> None:
    header = ",".join(["ID", "Time", *[f"Value_{k}" for k in range(3)]])
    header += "," + ",".join(f"Mask_{k}" for k in range(3)) + ",label"
    rows = [
        "7,30.0,1.5,0.0,2.5,1,0,1,0",
        "7,90.0,0.0,-4.0,0.0,0,1,0,0",
        "3,1440.0,9.0,0.0,0.0,1,0,0,1",
    ]
    (tmp_path / "full_dataset.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    frame = load_mimic(tmp_path)
    assert _tidy_rows(frame) == [
        ("3", 24.0, "Value_0", 9.0),
        ("7", 0.5, "Value_0", 1.5),
        ("7", 0.5, "Value_2", 2.5),
        ("7", 1.5, "Value_1", -4.0),
    ]
    assert load_mimic(tmp_path, hours=False)["ds"].to_list() == [1440.0, 30.0, 30.0, 90.0]


# the UCI file: sequence, tag, ticks (100 ns), date, x, y, z, label
ACTIVITY = """A01,010-000-024-033,633790226051280329,27.05.2009 14:03:25:127,4.0,1.5,0.5,walking
A01,020-000-032-221,633790226051550000,27.05.2009 14:03:25:155,3.0,2.0,1.0,walking
A01,020-000-032-221,633790226051560000,27.05.2009 14:03:25:156,5.0,4.0,3.0,walking
A01,010-000-030-096,633790226061280329,27.05.2009 14:03:26:127,1.0,1.0,1.0,sitting down
B02,020-000-033-111,633790226000000000,27.05.2009 14:03:20:000,-1.0,0.0,2.0,lying
"""


def test_activity(tmp_path: Path) -> None:
    (tmp_path / "ConfLongDemo_JSI.txt").write_text(ACTIVITY)
    frame = load_activity(tmp_path)
    assert len(ACTIVITY_VARIABLES) == 12 and ACTIVITY_VARIABLES[:2] == (
        "ANKLE_LEFT_x",
        "ANKLE_LEFT_y",
    )
    a01 = [r for r in _tidy_rows(frame) if r[0] == "A01"]
    # ms since the first line: (...51550000 - ...51280329) / 1e4 = 26.97 -> 27; the BELT readings
    # at 27 and 28 ms are separate times; the ANKLE_RIGHT reading is 1,000 ms after the start
    assert a01 == [
        ("A01", 0.0, "ANKLE_LEFT_x", 4.0),
        ("A01", 0.0, "ANKLE_LEFT_y", 1.5),
        ("A01", 0.0, "ANKLE_LEFT_z", 0.5),
        ("A01", 27.0, "BELT_x", 3.0),
        ("A01", 27.0, "BELT_y", 2.0),
        ("A01", 27.0, "BELT_z", 1.0),
        ("A01", 28.0, "BELT_x", 5.0),
        ("A01", 28.0, "BELT_y", 4.0),
        ("A01", 28.0, "BELT_z", 3.0),
        ("A01", 1000.0, "ANKLE_RIGHT_x", 1.0),
        ("A01", 1000.0, "ANKLE_RIGHT_y", 1.0),
        ("A01", 1000.0, "ANKLE_RIGHT_z", 1.0),
    ]
    b02 = [r for r in _tidy_rows(frame) if r[0] == "B02"]
    assert b02 == [
        ("B02", 0.0, "CHEST_x", -1.0),
        ("B02", 0.0, "CHEST_y", 0.0),
        ("B02", 0.0, "CHEST_z", 2.0),
    ]


def test_activity_averages_one_tag_within_a_millisecond(tmp_path: Path) -> None:
    lines = [
        "C03,010-000-024-033,633790226000000000,d,1.0,2.0,3.0,walking",
        "C03,010-000-024-033,633790226000004000,d,3.0,4.0,5.0,walking",  # 0.4 ms -> 0
    ]
    (tmp_path / "a.txt").write_text("\n".join(lines) + "\n")
    frame = load_activity(tmp_path / "a.txt")
    assert frame["ds"].to_list() == [0.0, 0.0, 0.0]
    assert frame["value"].to_list() == [2.0, 3.0, 4.0]


def test_activity_errors(tmp_path: Path) -> None:
    with pytest.raises(ITNetInputError, match="not found"):
        load_activity(tmp_path)
    (tmp_path / "a.txt").write_text("A01,999-000-000-000,1,d,1.0,2.0,3.0,walking\n")
    with pytest.raises(ITNetInputError, match="unknown tag"):
        load_activity(tmp_path / "a.txt")

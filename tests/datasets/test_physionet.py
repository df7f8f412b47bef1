"""PhysioNet 2012 loader, benchmark protocol and metric."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from itnet_ts.datasets.physionet import ENV_VAR, VARIABLES, load_physionet2012
from itnet_ts.datasets.protocol import (
    baseline_forecast,
    physionet_protocol,
    protocol_metrics,
)
from itnet_ts.errors import ITNetInputError
from itnet_ts.metrics import per_variable_mse_mae

# --------------------------------------------------------------------------------------------
# synthetic records in the exact PhysioNet format

REC_A1 = """Time,Parameter,Value
00:00,RecordID,132539
00:00,Age,54
00:00,Gender,-1
00:00,Height,-1
00:00,ICUType,4
00:00,Weight,-1
00:07,GCS,15
00:07,HR,73
00:07,HR,75
00:37,NIDiasABP,-1
01:37,,2.7
23:59,HR,70
24:00,HR,80
24:00,Weight,81
30:00,Lactate,2.5
47:59,Weight,80.5
"""
REC_A2 = """Time,Parameter,Value
00:00,RecordID,132540
00:00,Age,76
00:00,Gender,1
00:00,Height,175.3
00:00,ICUType,2
00:00,Weight,76
00:00,Weight,78
00:31,Temp,35.1
12:15,HR,88
30:20,HR,90
30:20,Temp,36.0
"""
REC_B1 = """Time,Parameter,Value
00:00,RecordID,140001
00:00,Age,40
00:00,Gender,0
00:00,Height,160
00:00,ICUType,3
00:00,Weight,60
02:00,HR,100
03:00,Lactate,2
26:00,HR,96
48:00,HR,99
"""


def _write_tar(path: Path, folder: str, records: dict[str, str]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(folder)
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
        for rid, text in records.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{folder}/{rid}.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "physionet"
    root.mkdir()
    _write_tar(root / "set-a.tar.gz", "set-a", {"132539": REC_A1, "132540": REC_A2})
    _write_tar(root / "set-b.tar.gz", "set-b", {"140001": REC_B1})
    return root


def _load(root: Path, **kw) -> pl.DataFrame:
    kw.setdefault("sets", ("set-a", "set-b"))
    kw.setdefault("cache", False)
    return load_physionet2012(root, **kw)


def _rows(frame: pl.DataFrame, rid: str, variable: str) -> list[tuple[float, float]]:
    sub = frame.filter((pl.col("unique_id") == rid) & (pl.col("variable") == variable))
    return list(zip(sub["ds"].to_list(), sub["value"].to_list(), strict=True))


# --------------------------------------------------------------------------------------------
# loader


def test_parse_values_hours_and_averaging(data_dir: Path) -> None:
    frame = _load(data_dir)
    assert dict(frame.schema) == {
        "unique_id": pl.Utf8,
        "ds": pl.Float64,
        "variable": pl.Utf8,
        "value": pl.Float64,
    }
    assert frame["unique_id"].unique(maintain_order=True).to_list() == [
        "132539",
        "132540",
        "140001",
    ]
    assert "RecordID" not in frame["variable"].to_list()
    assert set(frame["variable"].to_list()) <= set(VARIABLES)
    # hours = hh + mm / 60, no rounding; the duplicate HR at 00:07 is averaged
    assert _rows(frame, "132539", "HR") == [
        (7 / 60, 74.0),
        (23 + 59 / 60, 70.0),
        (24.0, 80.0),
    ]
    assert _rows(frame, "132539", "Age") == [(0.0, 54.0)]
    assert _rows(frame, "132540", "Weight") == [(0.0, 77.0)]  # descriptor given twice
    assert _rows(frame, "132540", "Temp") == [(31 / 60, 35.1), (30 + 20 / 60, 36.0)]
    assert _rows(frame, "140001", "HR") == [(2.0, 100.0), (26.0, 96.0), (48.0, 99.0)]
    # rows sorted by record, time and the benchmark's variable order
    first = frame.filter(pl.col("unique_id") == "132540").head(6)
    assert first["variable"].to_list() == ["Age", "Gender", "Height", "ICUType", "Weight", "Temp"]
    # the unnamed parameter row (01:37,,2.7) is ignored
    assert frame.filter(
        (pl.col("unique_id") == "132539") & (pl.col("ds") == 1 + 37 / 60)
    ).is_empty()


def test_minus_one_descriptors_missing_by_default(data_dir: Path) -> None:
    frame = _load(data_dir)
    assert _rows(frame, "132539", "Gender") == []
    assert _rows(frame, "132539", "Height") == []
    # a -1 Weight descriptor is dropped; the later Weight measurements stay
    assert _rows(frame, "132539", "Weight") == [(24.0, 81.0), (47 + 59 / 60, 80.5)]
    # -1 of a time series is a measured value, kept in both modes
    assert _rows(frame, "132539", "NIDiasABP") == [(37 / 60, -1.0)]


def test_minus_one_descriptors_kept_for_protocol(data_dir: Path) -> None:
    frame = _load(data_dir, descriptor_missing="protocol")
    assert _rows(frame, "132539", "Gender") == [(0.0, -1.0)]
    assert _rows(frame, "132539", "Height") == [(0.0, -1.0)]
    assert _rows(frame, "132539", "Weight") == [(0.0, -1.0), (24.0, 81.0), (47 + 59 / 60, 80.5)]
    default = _load(data_dir)
    assert frame.height == default.height + 3


def test_sets_and_extracted_folders(data_dir: Path, tmp_path: Path) -> None:
    only_b = _load(data_dir, sets=("set-b",))
    assert only_b["unique_id"].unique().to_list() == ["140001"]
    # the same records as extracted folders give the same frame
    extracted = tmp_path / "extracted"
    for name, records in (
        ("set-a", {"132539": REC_A1, "132540": REC_A2}),
        ("set-b", {"140001": REC_B1}),
    ):
        (extracted / name).mkdir(parents=True)
        for rid, text in records.items():
            (extracted / name / f"{rid}.txt").write_text(text)
    assert _load(extracted).equals(_load(data_dir))


def test_env_var_and_path_errors(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(ITNetInputError, match=ENV_VAR) as err:
        load_physionet2012(cache=False)
    assert "physionet.org" in str(err.value)

    monkeypatch.setenv(ENV_VAR, str(data_dir))
    assert load_physionet2012(sets=("set-a", "set-b"), cache=False).equals(_load(data_dir))

    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(ITNetInputError, match="does not exist"):
        load_physionet2012(cache=False)
    with pytest.raises(ITNetInputError, match=r"set-c not found"):
        load_physionet2012(data_dir, cache=False)  # default sets include set-c
    with pytest.raises(ITNetInputError, match="descriptor_missing"):
        _load(data_dir, descriptor_missing="drop")
    with pytest.raises(ITNetInputError, match="twice"):
        _load(data_dir, sets=("set-a", "set-a"))


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("01:00,Heartrate,80", "unknown PhysioNet parameter"),
        ("1h00,HR,80", "not 'hh:mm'"),
        ("01:75,HR,80", "not 'hh:mm'"),
        ("01:00,HR,eighty", "not a finite number"),
    ],
)
def test_malformed_rows_raise(tmp_path: Path, line: str, match: str) -> None:
    _write_tar(tmp_path / "set-a.tar.gz", "set-a", {"1": REC_B1 + line + "\n"})
    with pytest.raises(ITNetInputError, match=match):
        load_physionet2012(tmp_path, sets=("set-a",), cache=False)


def test_bad_header_and_corrupt_archive(tmp_path: Path) -> None:
    _write_tar(tmp_path / "set-a.tar.gz", "set-a", {"1": "Zeit,Param,Wert\n00:00,Age,5\n"})
    with pytest.raises(ITNetInputError, match="Time,Parameter,Value"):
        load_physionet2012(tmp_path, sets=("set-a",), cache=False)
    (tmp_path / "set-b.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(ITNetInputError, match="cannot read"):
        load_physionet2012(tmp_path, sets=("set-b",), cache=False)


def test_parquet_cache(data_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = load_physionet2012(data_dir, sets=("set-a", "set-b"), cache_dir=cache)
    files = sorted(os.listdir(cache))
    assert len(files) == 1 and files[0].endswith(".parquet")
    again = load_physionet2012(data_dir, sets=("set-a", "set-b"), cache_dir=cache)
    assert again.equals(first) and again.equals(_load(data_dir))
    load_physionet2012(
        data_dir, sets=("set-a", "set-b"), descriptor_missing="protocol", cache_dir=cache
    )
    assert len(os.listdir(cache)) == 2  # keyed by the options too; no temporary files left


# --------------------------------------------------------------------------------------------
# metric


def test_per_variable_metric_by_hand() -> None:
    # variable A: errors 1, 3 -> MSE 5, MAE 2; variable B: error 0.5 -> MSE 0.25, MAE 0.5
    out = per_variable_mse_mae([0.0, 1.0, 0.0], [1.0, 0.5, 3.0], ["A", "B", "A"])
    assert out["mse"] == pytest.approx((5 + 0.25) / 2)  # not the pooled (1 + 9 + .25) / 3
    assert out["mae"] == pytest.approx((2 + 0.5) / 2)
    assert out["n_variables"] == 2
    assert out["per_variable"]["A"] == {"mse": 5.0, "mae": 2.0, "count": 2}
    with pytest.raises(ITNetInputError, match="length"):
        per_variable_mse_mae([0.0], [1.0, 2.0], ["A", "A"])
    with pytest.raises(ITNetInputError, match="NaN"):
        per_variable_mse_mae([0.0], [np.nan], ["A"])


def test_protocol_metrics_frame_and_array() -> None:
    target = pl.DataFrame(
        {
            "unique_id": ["r1", "r1", "r2"],
            "ds": [0.6, 0.7, 0.6],
            "variable": ["A", "B", "A"],
            "value": [0.0, 1.0, 0.0],
        }
    )
    pred = pl.DataFrame(
        {
            "unique_id": ["r2", "r1", "r1"],
            "ds": [0.6, 0.7, 0.6],
            "variable": ["A", "B", "A"],
            "y_pred": [3.0, 0.5, 1.0],
        }
    )
    expect = {"mse": pytest.approx(2.625), "mae": pytest.approx(1.25)}
    assert protocol_metrics(pred, target) == expect
    assert protocol_metrics(np.array([1.0, 0.5, 3.0]), target) == expect
    with pytest.raises(ITNetInputError, match="no prediction"):
        protocol_metrics(pred.head(2), target)
    with pytest.raises(ITNetInputError, match="shape"):
        protocol_metrics(np.zeros(2), target)


# --------------------------------------------------------------------------------------------
# protocol on the synthetic records


def _split_json(tmp_path: Path, train: list[str], val: list[str], test: list[str]) -> Path:
    path = tmp_path / "split.json"
    path.write_text(
        json.dumps({"train": train, "val": val, "test": test, "variables": list(VARIABLES)})
    )
    return path


def test_protocol_windows_and_scaling(data_dir: Path, tmp_path: Path) -> None:
    frame = _load(data_dir, descriptor_missing="protocol")
    with pytest.raises(ITNetInputError, match="twice"):
        physionet_protocol(
            frame,
            _split_json(tmp_path, ["132540", "132539"], ["140001"], ["132539"]),
            check_published=False,
        )
    split = _split_json(tmp_path, ["132540"], ["140001"], ["132539"])
    with pytest.raises(ITNetInputError, match="split sizes"):
        physionet_protocol(frame, split)  # the published check wants 7,200 / 2,400 / 2,400
    proto = physionet_protocol(frame, split, check_published=False)

    # min / max over the observed values of train + val only (132540, 140001), all times
    i = {v: k for k, v in enumerate(VARIABLES)}
    assert proto.time_max == 48.0
    assert (proto.data_min[i["HR"]], proto.data_max[i["HR"]]) == (88.0, 100.0)
    assert (proto.data_min[i["Age"]], proto.data_max[i["Age"]]) == (40.0, 76.0)
    assert proto.data_range[i["Lactate"]] == 1e-8  # one value (2.0): a zero range
    assert proto.data_range[i["NIDiasABP"]] == 1.0  # never observed in train + val: 0 .. 1

    test = proto.test
    assert test.ids == ("132539",)
    hist = {(r["variable"], r["ds"]): r["value"] for r in test.history.iter_rows(named=True)}
    targ = {(r["variable"], r["ds"]): r["value"] for r in test.targets.iter_rows(named=True)}
    # descriptors at time 0 are history, -1 included (scaled with the train + val range)
    assert hist[("Age", 0.0)] == pytest.approx((54 - 40) / 36)
    assert hist[("Gender", 0.0)] == pytest.approx(-1.0)  # Gender 0 .. 1 in train + val
    # 23:59 is history, exactly 24:00 is a target; times are divided by time_max = 48 h
    assert hist[("HR", (23 + 59 / 60) / 48)] == pytest.approx((70 - 88) / 12)
    assert targ[("HR", 0.5)] == pytest.approx((80 - 88) / 12)
    assert targ[("Lactate", 30 / 48)] == pytest.approx((2.5 - 2.0) / 1e-8)
    assert set(targ) == {
        ("HR", 0.5),
        ("Weight", 0.5),
        ("Lactate", 30 / 48),
        ("Weight", (47 + 59 / 60) / 48),
    }
    assert proto.history_cutoff == 0.5
    # 140001 has HR at 48:00, the last time point (scaled time 1.0)
    assert proto.val.targets.filter(pl.col("ds") == 1.0)["variable"].to_list() == ["HR"]

    back = proto.unscale(test.targets).filter(pl.col("variable") == "HR")
    assert back["value"].to_list() == [pytest.approx(80.0)]
    assert back["ds"].to_list() == [24.0]


def test_protocol_dense_and_baselines(data_dir: Path, tmp_path: Path) -> None:
    frame = _load(data_dir, descriptor_missing="protocol")
    proto = physionet_protocol(
        frame, _split_json(tmp_path, ["140001"], ["132540"], ["132539"]), check_published=False
    )
    i = {v: k for k, v in enumerate(VARIABLES)}
    assert proto.data_range[i["Temp"]] == pytest.approx(0.9)  # 35.1 .. 36.0 (val only)

    dense = proto.test.to_dense()
    assert dense["history_values"].shape[0] == 1 and dense["history_values"].shape[2] == 41
    # 132539 history time points: 0, 7 min, 37 min, 23:59 (the unnamed row leaves none)
    assert dense["history_lengths"].tolist() == [4]
    assert dense["target_lengths"].tolist() == [3]
    np.testing.assert_allclose(
        dense["target_times"][0], [0.5, 30 / 48, (47 + 59 / 60) / 48], rtol=1e-6
    )
    assert dense["history_mask"][0, 1, i["HR"]] == 1 and dense["history_mask"][0, 1, i["Age"]] == 0
    assert dense["history_values"][0, 1, i["Age"]] == 0  # unobserved entries are 0
    assert dense["target_mask"].sum() == proto.test.targets.height

    def hr(v: float) -> float:  # HR range over train + val: 88 .. 100
        return (v - 88.0) / 12.0

    pers = baseline_forecast(proto, "test", "persistence")
    assert pers.select("unique_id", "ds", "variable").equals(
        proto.test.targets.select("unique_id", "ds", "variable")
    )
    got = dict(zip(pers["variable"].to_list(), pers["y_pred"].to_list(), strict=True))
    assert got["HR"] == pytest.approx(hr(70.0))  # the last history value (23:59)
    # Weight: the last history value is the -1 descriptor, scaled
    w_min, w_rng = proto.data_min[i["Weight"]], proto.data_range[i["Weight"]]
    assert got["Weight"] == pytest.approx((-1 - w_min) / w_rng)
    # Lactate: no history value -> the training-history mean (140001: 2.0, scaled 0)
    assert got["Lactate"] == pytest.approx(0.0)
    means = baseline_forecast(proto, "test", "history_mean")
    got = dict(zip(means["variable"].to_list(), means["y_pred"].to_list(), strict=True))
    assert got["HR"] == pytest.approx((hr(74.0) + hr(70.0)) / 2)
    # global mean: over the training histories (140001: HR 100 at 02:00 only)
    glob = baseline_forecast(proto, "test", "global_mean")
    got = dict(zip(glob["variable"].to_list(), glob["y_pred"].to_list(), strict=True))
    assert got["HR"] == pytest.approx(hr(100.0))
    assert set(protocol_metrics(pers, proto.test.targets)) == {"mse", "mae"}
    with pytest.raises(ITNetInputError, match="unknown baseline"):
        baseline_forecast(proto, "test", "median")


def test_protocol_rejects_bad_frames(data_dir: Path, tmp_path: Path) -> None:
    frame = _load(data_dir, descriptor_missing="protocol")
    split = _split_json(tmp_path, ["140001"], ["132540"], ["132539"])
    with pytest.raises(ITNetInputError, match="not in the frame"):
        physionet_protocol(
            frame.filter(pl.col("unique_id") != "132539"), split, check_published=False
        )
    with pytest.raises(ITNetInputError, match="more than one row"):
        physionet_protocol(pl.concat([frame, frame.head(1)]), split, check_published=False)
    with pytest.raises(ITNetInputError, match="lacks column"):
        physionet_protocol(frame.drop("ds"), split, check_published=False)
    with pytest.raises(ITNetInputError, match="cannot read"):
        physionet_protocol(frame, tmp_path / "missing.json", check_published=False)


# --------------------------------------------------------------------------------------------
# the real data (slow)

_REAL = Path(os.environ.get(ENV_VAR) or "/work/shared/data/physionet2012")


@pytest.mark.slow
@pytest.mark.skipif(
    not (_REAL / "set-a.tar.gz").exists() or not (_REAL / "split_tpatchgnn.json").exists(),
    reason=f"PhysioNet 2012 archives not found (set {ENV_VAR})",
)
def test_real_data_reproduces_the_published_baselines(tmp_path: Path) -> None:
    frame = load_physionet2012(_REAL, descriptor_missing="protocol", cache_dir=tmp_path)
    assert frame["unique_id"].n_unique() == 12_000
    assert frame.filter((pl.col("ds") == 0) & (pl.col("value") == -1)).height == 6_739
    proto = physionet_protocol(frame, _REAL / "split_tpatchgnn.json")  # checks min/max too
    assert [len(proto.train), len(proto.val), len(proto.test)] == [7_200, 2_400, 2_400]
    assert proto.time_max == 48.0

    scores = protocol_metrics(baseline_forecast(proto, "test", "persistence"), proto.test.targets)
    assert f"{scores['mse']:.3e}" == "5.835e-03"
    assert f"{scores['mae']:.3e}" == "3.665e-02"
    scores = protocol_metrics(baseline_forecast(proto, "test", "global_mean"), proto.test.targets)
    assert f"{scores['mse']:.3e}" == "9.241e-03"
    assert f"{scores['mae']:.3e}" == "5.609e-02"

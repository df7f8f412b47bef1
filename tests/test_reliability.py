"""Reliability: model files are safe to load, invariances hold, numerics stay finite,
training is reproducible.

* model files: a hypothesis fuzz test mutates a saved model (flipped bytes, truncation,
  appended bytes, edited JSON metadata, other format versions, re-hashed crafted metadata);
  ``ITNetForecaster.load`` only ever raises ``ITNetModelFileError`` and never loads changed
  content;
* properties: ingest -> ragged -> frame round trip; forecasts invariant to row order and to a
  constant time shift; pandas and polars identical; scaling a channel scales its forecasts;
* numerics: no NaN / inf under extreme gaps, constant channels, values of 1e12 / 1e300 / 1e-30,
  tiny variance; divergence is detected and nothing is kept;
* determinism: same seed and data give identical CPU forecasts; the numba and reference scan
  backends agree.

Everything uses tiny models (see ``_tiny.py``); hypothesis runs few examples.
"""

from __future__ import annotations

import json
import math
import struct
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from _tiny import FAST, datetime_frame, datetime_model, numeric_frame, numeric_model

from itnet_ts import ITNetError, ITNetForecaster, ITNetInputError, ITNetModelFileError
from itnet_ts.estimators._training import TrainingDivergedError

FEW = settings(
    max_examples=6, deadline=None, database=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _sorted(df) -> pl.DataFrame:
    df = df if isinstance(df, pl.DataFrame) else pl.from_pandas(df)
    return df.sort(df.columns[:-1])


# =============================================================================================
# model files
# =============================================================================================


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("model_files")
    path = d / "model.itnet"
    numeric_model().save(path)
    return d, path.read_bytes(), ITNetForecaster.load(path)


def _split(raw: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def _join(header: dict, body: bytes) -> bytes:
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + body


def _same_model(a: ITNetForecaster, b: ITNetForecaster) -> bool:
    sa, sb = a.model_.state_dict(), b.model_.state_dict()
    return (
        sa.keys() == sb.keys()
        and all(torch.equal(sa[k], sb[k]) for k in sa)
        and a.get_params() == b.get_params()
        and a.spec_ == b.spec_
        and a.config_ == b.config_
        and np.array_equal(a.scaler_.loc, b.scaler_.loc)
        and np.array_equal(a.scaler_.scale, b.scaler_.scale)
        and (a.time_unit_, a.horizon_, a.n_series_) == (b.time_unit_, b.horizon_, b.n_series_)
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip


@st.composite
def mutations(draw, raw: bytes):
    """A damaged copy of ``raw``: (kind, bytes)."""
    kind = draw(st.sampled_from(
        ["flip", "flip_header", "truncate", "append", "insert", "delete", "meta_text",
         "meta_json", "version"]
    ))  # fmt: skip
    n = len(raw)
    (hn,) = struct.unpack("<Q", raw[:8])
    if kind == "flip":
        i = draw(st.integers(0, n - 1))
        return kind, raw[:i] + bytes([raw[i] ^ draw(st.integers(1, 255))]) + raw[i + 1 :]
    if kind == "flip_header":  # the length prefix and the JSON header
        i = draw(st.integers(0, 8 + hn - 1))
        return kind, raw[:i] + bytes([raw[i] ^ draw(st.integers(1, 255))]) + raw[i + 1 :]
    if kind == "truncate":
        return kind, raw[: draw(st.integers(0, n - 1))]
    if kind == "append":
        return kind, raw + draw(st.binary(min_size=1, max_size=64))
    if kind == "insert":
        i = draw(st.integers(0, n))
        return kind, raw[:i] + draw(st.binary(min_size=1, max_size=16)) + raw[i:]
    if kind == "delete":
        i = draw(st.integers(0, n - 1))
        return kind, raw[:i] + raw[i + draw(st.integers(1, 16)) :]
    header, body = _split(raw)
    meta = header["__metadata__"]
    key = draw(st.sampled_from(sorted(meta)))
    if kind == "meta_text":
        meta[key] = draw(st.text(max_size=40))
    elif kind == "meta_json":  # change one field inside a JSON entry (without re-hashing)
        entry = json.loads(meta[key]) if key in ("params", "config", "spec", "fitted") else {}
        if isinstance(entry, dict) and entry:
            entry[draw(st.sampled_from(sorted(entry)))] = draw(json_values)
        meta[key] = json.dumps(entry)
    else:
        meta["format_version"] = draw(
            st.sampled_from(["0", "2", "99", "-1", "1.0", " 1", "", "01", "1_0", "x"])
        )
    return kind, _join(header, body)


@st.composite
def crafted(draw, raw: bytes):
    """Metadata edited *and re-hashed*: what someone crafting a file could do."""
    from safetensors.torch import load, save

    from itnet_ts.estimators._persistence import _digest

    header, _ = _split(raw)
    meta = dict(header["__metadata__"])
    key = draw(st.sampled_from(["params", "config", "spec", "fitted"]))
    entry = json.loads(meta[key])
    field = draw(st.sampled_from(sorted(entry)))
    entry[field] = draw(json_values)
    meta[key] = json.dumps(entry)
    tensors = load(raw)
    if draw(st.booleans()):  # and/or a scaler tensor
        name = draw(st.sampled_from(["scaler.loc", "scaler.scale"]))
        tensors[name] = torch.tensor(draw(st.lists(
            st.floats(allow_nan=True, allow_infinity=True), min_size=0, max_size=3)),
            dtype=torch.float64)  # fmt: skip
    meta["sha256"] = _digest(meta, tensors)
    return f"{key}.{field}", save(tensors, metadata=meta)


@settings(max_examples=80, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(data=st.data())
def test_fuzzed_model_files_only_raise_our_error(saved, data):
    d, raw, reference = saved
    kind, damaged = data.draw(mutations(raw), label="mutation")
    path = d / "fuzzed.itnet"
    path.write_bytes(damaged)
    try:
        loaded = ITNetForecaster.load(path)
    except ITNetModelFileError:
        return
    # loading succeeded: only a change that leaves the content as it was (e.g. JSON whitespace)
    assert _same_model(loaded, reference), f"{kind}: changed content was loaded"


@settings(max_examples=60, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(data=st.data())
def test_crafted_rehashed_metadata_only_raises_our_error(saved, data):
    d, raw, _ = saved
    _what, content = data.draw(crafted(raw), label="crafted")
    path = d / "crafted.itnet"
    path.write_bytes(content)
    try:
        ITNetForecaster.load(path)  # may succeed: e.g. verbose=False -> True is a valid model
    except ITNetModelFileError:
        pass


def test_model_file_edge_cases(saved, tmp_path):
    _, raw, reference = saved
    header, body = _split(raw)
    header["__metadata__"]["format_version"] = "2"
    (tmp_path / "v2").write_bytes(_join(header, body))
    with pytest.raises(ITNetModelFileError, match="newer itnet-ts"):
        ITNetForecaster.load(tmp_path / "v2")
    with pytest.raises(ITNetModelFileError, match="does not exist"):
        ITNetForecaster.load(tmp_path)  # a directory
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(ITNetModelFileError, match="too short"):
        ITNetForecaster.load(tmp_path / "empty")
    # re-serialising the same header (other JSON spacing) is still the same model
    (tmp_path / "same").write_bytes(_join(*_split(raw)))
    assert _same_model(ITNetForecaster.load(tmp_path / "same"), reference)


def test_saved_model_file_has_ordinary_permissions(tmp_path):
    import os

    umask = os.umask(0)
    os.umask(umask)
    numeric_model().save(tmp_path / "m.itnet")
    assert (tmp_path / "m.itnet").stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["m.itnet"]  # no temporary file left


# =============================================================================================
# properties
# =============================================================================================

_obs = st.tuples(
    st.sampled_from(["a", "b", "c"]),
    st.integers(-(10**6), 10**6),  # time (seconds, or units)
    st.sampled_from(["x", "y"]),
    st.floats(-1e9, 1e9, allow_nan=False),
)


@FEW
@given(
    obs=st.lists(_obs, min_size=1, max_size=30, unique_by=lambda o: (o[0], o[1], o[2])),
    datetime=st.booleans(),
    library=st.sampled_from(["polars", "pandas"]),
    shape=st.sampled_from(["tidy", "wide"]),
)
def test_ingest_ragged_frame_round_trip(obs, datetime, library, shape):
    from itnet_ts.data._ingest import ingest, to_user_frame
    from itnet_ts.data._ragged import ragged_from_canonical

    ids, t, var, val = map(list, zip(*obs, strict=True))
    tidy = pl.DataFrame({"unique_id": ids, "ds": t, "variable": var, "value": val})
    tidy = tidy.with_columns(
        pl.from_epoch("ds", "s") if datetime else pl.col("ds").cast(pl.Float64)
    )
    df = (
        tidy.pivot("variable", index=["unique_id", "ds"], values="value")
        if shape == "wide"
        else tidy
    )
    df = df.to_pandas() if library == "pandas" else df
    canon, spec = ingest(df)
    r = ragged_from_canonical(canon, spec.channels)
    # ragged -> canonical rows
    point, chan = np.nonzero(r.mask)
    series = np.searchsorted(r.indptr, point, side="right") - 1
    back = pl.DataFrame(
        {"unique_id": r.ids[series].tolist(), "time": r.times[point],
         "variable": [r.channels[c] for c in chan], "value": r.values[point, chan]}
    ).sort("unique_id", "time", "variable")  # fmt: skip
    assert back.equals(canon.sort("unique_id", "time", "variable"))
    # canonical -> the user's frame: the same observations, the same dtypes
    out = to_user_frame(canon.rename({"value": "y_hat"}), spec)
    out = pl.from_pandas(out) if library == "pandas" else out
    expect = tidy.sort("unique_id", "ds", "variable").rename({"value": "y_hat"})
    got = out.sort("unique_id", "ds", "variable")
    assert got.schema["ds"] == expect.schema["ds"]
    assert got.select(expect.columns).equals(expect)


@FEW
@given(seed=st.integers(0, 2**16), shift=st.floats(-1e6, 1e6).map(round))
def test_forecasts_invariant_to_row_order_and_time_shift(seed, shift):
    est, df = numeric_model(), numeric_frame()
    base = _sorted(est.predict(h=2.0, df=df))
    moved = df.sample(fraction=1.0, shuffle=True, seed=seed).with_columns(pl.col("ds") + shift)
    got = _sorted(est.predict(h=2.0, df=moved))
    np.testing.assert_allclose(got["ds"] - shift, base["ds"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(got["y_hat"], base["y_hat"], rtol=1e-5, atol=1e-6)


@FEW
@given(seed=st.integers(0, 2**16), seconds=st.integers(-(10**9), 10**9))
def test_datetime_shift_invariance_is_exact(seed, seconds):
    # datetime coordinates are int64 ns differences: a shift changes nothing, bit for bit
    est, df = datetime_model(), datetime_frame()
    base = _sorted(est.predict(h="2h", df=df))
    delta = pd.Timedelta(seconds=seconds)
    moved = df.sample(fraction=1.0, shuffle=True, seed=seed).with_columns(pl.col("ds") + delta)
    got = _sorted(est.predict(h="2h", df=moved))
    assert (got["ds"] - delta).equals(base["ds"])
    np.testing.assert_array_equal(got["y_hat"], base["y_hat"])


@FEW
@given(seed=st.integers(0, 2**16), keep=st.floats(0.5, 1.0))
def test_pandas_and_polars_give_identical_forecasts(seed, keep):
    est = numeric_model()
    df = numeric_frame().sample(fraction=keep, seed=seed)
    a = est.predict(h=2.0, df=df)
    b = est.predict(h=2.0, df=df.to_pandas())
    assert isinstance(b, pd.DataFrame)
    assert pl.from_pandas(b).equals(a)


@pytest.mark.parametrize("k", [4.0, 1e-3, 1e6])
def test_scaling_a_channel_scales_its_forecasts(k):
    """Standard scaling is refit on the scaled data, so the network sees the same numbers:
    forecasts of the scaled channel scale by k (exactly for a power of two, else to float
    rounding) and the other channel's are unchanged. Holds for k > 0 with scaling='standard'
    only (the network is not odd in its inputs; scaling='none' feeds raw values)."""
    base = _sorted(numeric_model().predict(h=2.0))
    est = ITNetForecaster(**FAST).fit(numeric_frame().with_columns(pl.col("ch0") * k))
    got = _sorted(est.predict(h=2.0))
    ch0, ch1 = (pl.col("variable") == "ch0"), (pl.col("variable") == "ch1")
    a, b = got.filter(ch0)["y_hat"].to_numpy(), base.filter(ch0)["y_hat"].to_numpy()
    if k == 4.0:
        np.testing.assert_array_equal(a, k * b)
        np.testing.assert_array_equal(got.filter(ch1)["y_hat"], base.filter(ch1)["y_hat"])
    else:
        np.testing.assert_allclose(a, k * b, rtol=1e-4, atol=1e-6 * k)
        np.testing.assert_allclose(got.filter(ch1)["y_hat"], base.filter(ch1)["y_hat"], rtol=1e-4)


# =============================================================================================
# numerical robustness
# =============================================================================================


def _extreme_frame() -> pl.DataFrame:
    """Channels of extreme magnitude / variance; series b jumps by a gap of 1e9 time units and
    series c by one of ~1e40 (past float32's range)."""
    rng = np.random.default_rng(0)
    n = 24
    t = np.arange(n, dtype=np.float64)
    times = {"a": t, "b": np.where(t < 12, t, 1e9 + t), "c": np.where(t < 12, t, 1e40 * (1 + t))}
    rows = []
    for sid, ts in times.items():
        x = np.sin(np.arange(n) / 3.0) + 0.1 * rng.normal(size=n)
        rows.append(pl.DataFrame({
            "unique_id": sid, "ds": ts,
            "big": x * 1e12, "offset": x + 1e12, "const": np.full(n, 5.0),
            "tiny_var": 3.0 + 1e-12 * x, "tiny": x * 1e-30, "huge": x * 1e300,
        }))  # fmt: skip
    return pl.concat(rows)


def test_no_nan_or_inf_under_extreme_values_and_gaps():
    df = _extreme_frame()
    est = ITNetForecaster(**{**FAST, "max_epochs": 2}, time_unit=1.0, horizon=3.0).fit(df)
    assert all(
        math.isfinite(r["train_loss"]) and math.isfinite(r["val_loss"])
        for r in est.train_result_.history
    )
    pred = est.predict(h=3.0)
    far = est.predict(times=pl.DataFrame({"unique_id": ["a", "b", "c"], "ds": [1e5, 1e12, 1e42]}))
    for p in (pred, far):
        assert p["y_hat"].is_finite().all()
        for c in ("big", "offset", "const", "tiny_var", "tiny", "huge"):
            v = df[c].to_numpy()
            m = np.abs(v).max()  # (in units of m: no overflow for the 1e300 channel)
            mean, spread = (v / m).mean(), (v / m).std() or abs((v / m).mean())
            y = p.filter(pl.col("variable") == c)["y_hat"].to_numpy() / m
            # forecasts on the channel's own scale (a 1e-30 channel is not forecast as 0.002)
            assert np.all(np.abs(y - mean) <= 100 * spread), (c, y[:3] * m, mean * m)


def test_values_beyond_float32_are_refused_not_silently_broken():
    df = numeric_frame().with_columns(pl.col("ch0") * 1e39)
    with pytest.raises(
        ITNetInputError, match=r"channel 'ch0' of series 's000\d'.*scaling='standard'"
    ):
        ITNetForecaster(**FAST, scaling="none").fit(df)
    huge = numeric_frame().with_columns(pl.col("ch1") * 1e30)
    with pytest.raises(ITNetInputError, match=r"predict\(df=\.\.\.\): channel 'ch1' of series"):
        numeric_model().predict(h=2.0, df=huge)


def test_divergence_is_detected_and_nothing_is_kept(tmp_path):
    est = ITNetForecaster(**{**FAST, "max_epochs": 3}, learning_rate=1e6)
    with pytest.raises(TrainingDivergedError, match="diverged") as info:
        est.fit(numeric_frame())
    assert isinstance(info.value, ITNetError)
    assert not hasattr(est, "model_")  # nothing was kept ...
    with pytest.raises(ITNetError):
        est.save(tmp_path / "m.itnet")
    assert not (tmp_path / "m.itnet").exists()  # ... and nothing can be saved


def test_non_finite_gradients_stop_training_before_a_step_touches_the_weights():
    import copy

    from itnet_ts.data._windows import make_batch, validation_windows
    from itnet_ts.estimators._training import fit_model

    est = numeric_model()
    model = copy.deepcopy(est.model_)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    next(model.parameters()).register_hook(lambda g: g * math.inf)
    w, _ = validation_windows(est.history_, 2.0)
    batch = make_batch(est.history_, w, np.arange(len(w)), est.scaler_, est.time_unit_)
    assert bool(batch.y_known.any())
    with pytest.raises(TrainingDivergedError, match=r"gradient norm was (nan|inf)"):
        fit_model(model, lambda epoch: [batch], None, max_epochs=2, learning_rate=1e-2,
                  patience=5, device=torch.device("cpu"), progress=False)  # fmt: skip
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_a_nan_validation_loss_counts_as_divergence():
    from itnet_ts.estimators._training import TrainResult, check_converged

    ok = TrainResult(0, 0.5, [{"epoch": 0, "train_loss": 1.0, "val_loss": 0.5}])
    check_converged(ok)
    bad = TrainResult(0, 0.5, [*ok.history, {"epoch": 1, "train_loss": 9e12, "val_loss": math.nan}])
    with pytest.raises(TrainingDivergedError, match="val loss was nan at epoch 1"):
        check_converged(bad)


# =============================================================================================
# determinism
# =============================================================================================


def test_same_seed_same_cpu_forecasts():
    a = numeric_model().predict(h=2.0)
    b = ITNetForecaster(**FAST).fit(numeric_frame()).predict(h=2.0)
    assert a.equals(b)


def test_numba_and_reference_backends_agree(monkeypatch):
    from itnet_ts.data._windows import forecast_windows, make_batch
    from itnet_ts.ops import available_backends

    if available_backends().get("numba") != "available":
        pytest.skip("numba backend unavailable")
    est = numeric_model()
    r = est.history_
    S = r.n_series
    qt = r.times[r.indptr[1:] - 1] + 0.5
    w = forecast_windows(r, np.arange(S), qt, np.zeros(S, np.int64))
    batch = make_batch(r, w, np.arange(S), est.scaler_, est.time_unit_)
    out = {}
    for backend in ("numba", "reference"):
        monkeypatch.setenv("ITNET_BACKEND", backend)
        with torch.no_grad():
            st_ = est.model_.encode(batch)
        out[backend] = ([s.clone() for s in st_.states], est.predict(h=2.0)["y_hat"].to_numpy())
    for a, b in zip(out["numba"][0], out["reference"][0], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["numba"][1], out["reference"][1], rtol=1e-5, atol=1e-6)
    # training under either backend gives the same model, to float tolerance
    monkeypatch.setenv("ITNET_BACKEND", "reference")
    ref = ITNetForecaster(**FAST).fit(numeric_frame()).predict(h=2.0)["y_hat"].to_numpy()
    np.testing.assert_allclose(ref, out["numba"][1], rtol=1e-4, atol=1e-5)


def test_predict_shows_a_progress_bar_over_batches_when_verbose(capsys):
    import copy

    est = copy.deepcopy(numeric_model())
    est.set_params(verbose=True, batch_size=1)  # 4 series -> 4 batches
    quiet = copy.deepcopy(numeric_model()).predict(h=2.0)
    capsys.readouterr()
    got = est.predict(h=2.0)  # batching changes the forecasts by float32 rounding at most
    assert got.drop("y_hat").equals(quiet.drop("y_hat"))
    np.testing.assert_allclose(got["y_hat"], quiet["y_hat"], rtol=1e-5, atol=1e-6)
    assert "forecasting" in capsys.readouterr().err
    est.set_params(verbose=False)
    est.predict(h=2.0)
    assert "forecasting" not in capsys.readouterr().err

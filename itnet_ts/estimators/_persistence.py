"""Saving and loading fitted forecasters: one safetensors file, no pickle.

The file holds the network weights and the channel scaler as tensors, and in the safetensors
header metadata: a format name and version, the estimator's parameters, the model config, the
fitted data spec (all JSON), and a SHA-256 over everything else, checked on load. Loading
parses JSON and raw tensor bytes only; nothing in the file is ever executed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import struct
from pathlib import Path

import numpy as np
import torch

from itnet_ts._files import write_bytes_atomic
from itnet_ts.data._ingest import FrameSpec
from itnet_ts.data._windows import ValueScaler
from itnet_ts.errors import ITNetInputError, ITNetModelFileError
from itnet_ts.estimators._quantiles import plan_outputs
from itnet_ts.estimators._state import FittedState
from itnet_ts.estimators._training import TrainResult
from itnet_ts.model.config import ITNetConfig
from itnet_ts.model.itnet import ITNet
from itnet_ts.model.periodic import MAX_FREQS

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "load_forecaster", "save_forecaster"]

FORMAT_NAME = "itnet-ts-forecaster"
FORMAT_VERSION = 1
_MAX_HEADER = 16 * 1024 * 1024


def _digest(meta: dict[str, str], tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for k in sorted(meta):
        if k != "sha256":
            h.update(f"{k}={meta[k]}\n".encode())
    for k in sorted(tensors):
        t = tensors[k].detach().cpu().contiguous()
        h.update(f"{k}:{t.dtype}:{tuple(t.shape)}\n".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def save_forecaster(est, path, overwrite: bool = False) -> Path:
    """Write ``est`` atomically to ``path``; refuses to replace a file unless ``overwrite``."""
    from safetensors.torch import save

    path = Path(path)
    if getattr(est, "checkpoint", None) is not None:
        raise ITNetInputError(
            "save() does not support pretrained forecasters yet: a zero-shot one is "
            f"ITNetForecaster.pretrained({est.checkpoint!r}) again; refit a fine-tuned one"
        )
    if path.exists() and not overwrite:
        raise ITNetInputError(f"{path} already exists; pass overwrite=True to replace it")
    tensors = {
        f"model.{k}": v.detach().cpu().contiguous() for k, v in est.model_.state_dict().items()
    }
    tensors["scaler.loc"] = torch.from_numpy(np.asarray(est.scaler_.loc, np.float64))
    tensors["scaler.scale"] = torch.from_numpy(np.asarray(est.scaler_.scale, np.float64))
    spec = dataclasses.asdict(est.spec_)
    meta = {
        "format": FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        "params": json.dumps(_plain(est.get_params(deep=False))),
        "config": json.dumps(est.config_.to_dict()),
        "spec": json.dumps(spec),
        "fitted": json.dumps(
            {
                "time_unit": est.time_unit_,
                "horizon": est.horizon_,
                "n_series": est.n_series_,
                "best_epoch": est.train_result_.best_epoch,
                "best_val_loss": est.train_result_.best_val_loss,
                "validation": _plain(getattr(est, "validation_", None)),
            }
        ),
    }
    cov = getattr(est, "covariates_", None)
    if cov is not None and (cov.n_static or cov.n_futr):  # names + standardisation (JSON)
        meta["covariates"] = cov.to_json()
    meta["sha256"] = _digest(meta, tensors)
    return write_bytes_atomic(path, save(tensors, metadata=meta))


def _plain(value):
    """Parameters as JSON-able values: tuples and numpy arrays / scalars become lists and
    Python numbers (``quantiles=np.array([0.1, 0.9])`` saves as ``[0.1, 0.9]``)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _read_metadata(raw: bytes, path: Path) -> dict[str, str]:
    if len(raw) < 8:
        raise ITNetModelFileError(f"{path} is not an itnet-ts model file (too short)")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > _MAX_HEADER or n < 2:
        raise ITNetModelFileError(f"{path} is not an itnet-ts model file")
    if 8 + n > len(raw):
        if raw[8:9] != b"{":
            raise ITNetModelFileError(f"{path} is not an itnet-ts model file")
        raise ITNetModelFileError(
            f"{path} is truncated ({len(raw)} bytes; its header alone needs {8 + n}); save the "
            "model again"
        )
    try:
        header = json.loads(raw[8 : 8 + n])
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ITNetModelFileError(f"{path} has a corrupt header ({exc})") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ITNetModelFileError(f"{path} is not an itnet-ts model file")
    if not all(isinstance(v, str) for v in meta.values()):
        raise ITNetModelFileError(f"{path} has a corrupt header")
    # the size the header promises: truncation / appended bytes get their own message
    ends = [
        e["data_offsets"][1]
        for k, e in header.items()
        if k != "__metadata__"
        and isinstance(e, dict)
        and isinstance(e.get("data_offsets"), list)
        and len(e["data_offsets"]) == 2
        and isinstance(e["data_offsets"][1], int)
    ]
    if ends:
        expected, actual = 8 + n + max(ends), len(raw)
        if actual < expected:
            raise ITNetModelFileError(
                f"{path} is truncated ({actual} of {expected} bytes); save the model again"
            )
        if actual > expected:
            raise ITNetModelFileError(
                f"{path} is damaged: {actual - expected} unexpected bytes after the end of the "
                "model; save the model again"
            )
    return meta


def load_forecaster(cls, path, device: str = "cpu"):
    """Rebuild a fitted forecaster from ``path`` (see module docstring).

    Raises ``ITNetModelFileError`` -- and nothing else -- for any file that is missing,
    unreadable, truncated, damaged, of a newer format, or whose content does not describe a
    valid model. The content hash detects damage; it is no signature (anyone can recompute
    it), so every field is also validated before use and nothing from the file is executed.
    """
    path = Path(path)
    if not path.is_file():
        raise ITNetModelFileError(f"model file {path} does not exist")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ITNetModelFileError(f"cannot read model file {path}: {exc}") from None
    meta = _read_metadata(raw, path)
    version_txt = meta.get("format_version", "")
    if not re.fullmatch(r"[0-9]{1,9}", version_txt) or int(version_txt) < 1:
        raise ITNetModelFileError(f"{path} has no valid format version ({version_txt!r})")
    version = int(version_txt)
    if version > FORMAT_VERSION:
        raise ITNetModelFileError(
            f"{path} was written by a newer itnet-ts (model format {version}; this version "
            f"reads up to {FORMAT_VERSION}); upgrade itnet-ts to load it"
        )
    try:
        tensors = _load_tensors(raw)
        digest = _digest(meta, tensors)
    except Exception as exc:  # safetensors raises its own error types on corrupt data
        raise ITNetModelFileError(f"{path} is corrupt: {_short(exc)}") from None
    if meta.get("sha256") != digest:
        raise ITNetModelFileError(
            f"{path} failed its integrity check (content hash mismatch): the file was modified "
            "or damaged after it was saved"
        )
    try:
        est = _rebuild(cls, meta, tensors)
    except ITNetModelFileError as exc:
        raise ITNetModelFileError(f"{path} does not describe a valid model: {exc}") from None
    except Exception as exc:  # whatever a crafted (re-hashed) file provokes is still our error
        raise ITNetModelFileError(
            f"{path} does not describe a valid model: {_short(exc)}"
        ) from None
    est.model_ = est.model_.to(device)
    return est


def _load_tensors(raw: bytes) -> dict[str, torch.Tensor]:
    from safetensors.torch import load

    return load(raw)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return first[:300]


def _json(meta: dict[str, str], key: str, kind: type):
    if key not in meta:
        raise ITNetModelFileError(f"the {key!r} entry is missing")
    try:
        value = json.loads(meta[key])
    except (ValueError, RecursionError):
        raise ITNetModelFileError(f"the {key!r} entry is not valid JSON") from None
    if not isinstance(value, kind):
        raise ITNetModelFileError(f"the {key!r} entry is not a JSON {kind.__name__}")
    return value


def _finite(value, name: str, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ITNetModelFileError(f"{name} is not a number")
    value = float(value)
    if not math.isfinite(value) or (positive and value <= 0):
        raise ITNetModelFileError(f"{name} is {value}, not a {'positive ' * positive}finite number")
    return value


def _check_config(cfg_d: dict, n_elements: int) -> ITNetConfig:
    """Every field of the right type; sizes bounded by the tensors actually in the file (so a
    crafted config cannot make us build a huge model)."""
    defaults = ITNetConfig()
    for f in dataclasses.fields(ITNetConfig):
        if f.name not in cfg_d:
            continue  # from_dict fills the default
        v, d = cfg_d[f.name], getattr(defaults, f.name)
        if isinstance(d, bool):
            ok = isinstance(v, bool)
        elif f.name == "period_n_freq":  # a search grid, not a size of the weights
            ok = isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_FREQS
        elif isinstance(d, int):
            ok = isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= max(n_elements, 1)
        elif isinstance(d, float):
            ok = not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)
            ok = ok and (v >= 0 or not f.name.startswith("period_"))
        elif isinstance(d, str):
            ok = isinstance(v, str)
        else:
            ok = True
        if not ok:
            raise ITNetModelFileError(f"model config field {f.name}={v!r} is invalid")
    return ITNetConfig.from_dict(cfg_d)


def _rebuild(cls, meta: dict[str, str], tensors: dict[str, torch.Tensor]):
    from itnet_ts.estimators._params import validate_params

    params = _json(meta, "params", dict)
    est = cls(**params)  # unknown names: TypeError
    validate_params(est)
    model = _read_model(meta, tensors)
    cfg = model.cfg
    if "start" not in params:  # a file from before the parameter: say what the model does
        est.set_params(start=cfg.start)
    spec = _read_spec(meta, cfg)
    scaler = _read_scaler(tensors, cfg.n_channels)
    fitted = _json(meta, "fitted", dict)
    time_unit = _finite(fitted.get("time_unit"), "fitted time_unit", positive=True)
    horizon = _finite(fitted.get("horizon"), "fitted horizon", positive=True)
    n_series, best_epoch = fitted.get("n_series"), fitted.get("best_epoch")
    for name, v in (("n_series", n_series), ("best_epoch", best_epoch)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise ITNetModelFileError(f"fitted {name} is not an integer")
    best_val = fitted.get("best_val_loss")
    if isinstance(best_val, bool) or not isinstance(best_val, (int, float)):
        raise ITNetModelFileError("fitted best_val_loss is not a number")
    validation = fitted.get("validation")
    plan = plan_outputs(est.quantiles, est.level)
    if plan.n_outputs != cfg.n_outputs:
        raise ITNetModelFileError(
            f"the model has {cfg.n_outputs} outputs but its quantiles / level parameters "
            f"need {plan.n_outputs}"
        )
    FittedState(
        model=model.eval(),
        config=cfg,
        spec=spec,
        time_unit=time_unit,
        horizon=horizon,
        scaler=scaler,
        n_series=n_series,
        train_result=TrainResult(best_epoch, float(best_val)),
        quantile_plan=plan,
        covariates=_read_covariates(meta, cfg, est),
        history=None,  # a file holds no data
        validation=validation if isinstance(validation, dict) else None,
    ).apply(est)
    return est


def _read_model(meta: dict[str, str], tensors: dict[str, torch.Tensor]) -> ITNet:
    """The network of the file, its config checked against the weights it holds."""
    model_t = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    other = sorted(set(tensors) - {f"model.{k}" for k in model_t} - {"scaler.loc", "scaler.scale"})
    if other:
        raise ITNetModelFileError(f"unexpected tensors {other[:5]}")
    n_elements = sum(t.numel() for t in model_t.values())
    cfg_d = _json(meta, "config", dict)
    cfg_d.setdefault("start", "persistence")  # files from before the "mix" start
    cfg_d.setdefault("mix_version", 1)  # files from before the second mix
    cfg = _check_config(cfg_d, n_elements)
    if "fallback" not in model_t and "n_channels" in cfg_d:  # files from before the fallback
        model_t["fallback"] = torch.zeros(cfg.n_channels, dtype=torch.long)
    # build on the meta device first (allocates nothing) and compare with the file
    with torch.device("meta"):
        skeleton = ITNet(cfg)
    want = {k: (tuple(v.shape), v.dtype) for k, v in skeleton.state_dict().items()}
    got = {k: (tuple(v.shape), v.dtype) for k, v in model_t.items()}
    if want != got:
        diff = sorted(set(want.items()) ^ set(got.items()))[:3]
        raise ITNetModelFileError(f"the weights do not match the model config ({diff})")
    model = ITNet(cfg)
    model.load_state_dict(model_t, strict=True)
    fb = model.fallback
    if bool(((fb < 0) | (fb > 2)).any()):
        raise ITNetModelFileError("the model's per-channel fallback codes must be 0, 1 or 2")
    return model


def _read_spec(meta: dict[str, str], cfg: ITNetConfig) -> FrameSpec:
    """The frame spec of the file, every field of the right type."""
    spec = FrameSpec(**_json(meta, "spec", dict))  # unknown / missing fields: TypeError
    if not isinstance(spec.channels, (list, tuple)) or not all(
        isinstance(c, str) for c in spec.channels
    ):
        raise ITNetModelFileError("the channel names are not a list of strings")
    spec = dataclasses.replace(spec, channels=tuple(spec.channels))
    for name in ("library", "shape", "time_col", "time_kind", "time_dtype", "id_dtype"):
        if not isinstance(getattr(spec, name), str):
            raise ITNetModelFileError(f"spec field {name} is not a string")
    for name in ("id_col", "target_col", "variable_col", "value_col", "time_zone"):
        if not isinstance(getattr(spec, name), (str, type(None))):
            raise ITNetModelFileError(f"spec field {name} is not a string or null")
    if spec.library not in ("pandas", "polars") or spec.shape not in ("long", "wide", "tidy"):
        raise ITNetModelFileError(f"unknown frame library / shape {spec.library!r}/{spec.shape!r}")
    if spec.time_kind not in ("datetime", "numeric"):
        raise ITNetModelFileError(f"unknown time kind {spec.time_kind!r}")
    if len(spec.channels) != cfg.n_channels or len(set(spec.channels)) != len(spec.channels):
        raise ITNetModelFileError("the channel names do not match the model's channels")
    return spec


def _read_scaler(tensors: dict[str, torch.Tensor], C: int) -> ValueScaler:
    loc, scale = tensors.get("scaler.loc"), tensors.get("scaler.scale")
    for name, t in (("scaler.loc", loc), ("scaler.scale", scale)):
        if t is None or t.dtype != torch.float64 or tuple(t.shape) != (C,):
            raise ITNetModelFileError(f"tensor {name} is missing or not float64 of shape ({C},)")
        if not bool(torch.isfinite(t).all()):
            raise ITNetModelFileError(f"tensor {name} holds non-finite values")
    if not bool((scale > 0).all()):
        raise ITNetModelFileError("tensor scaler.scale holds values <= 0")
    return ValueScaler(loc.numpy().copy(), scale.numpy().copy())


def _read_covariates(meta: dict[str, str], cfg: ITNetConfig, est):
    """The fitted covariate layout (absent in files of models without covariates)."""
    from itnet_ts.estimators._covariates import Covariates

    d = _json(meta, "covariates", dict) if "covariates" in meta else {}
    try:
        cov = Covariates.from_dict(d)
    except ValueError as exc:
        raise ITNetModelFileError(str(exc)) from None
    if cov.n_static != cfg.n_static or cov.n_futr != cfg.n_futr:
        raise ITNetModelFileError("the covariate columns do not match the model config")
    if list(est.futr_exog_list or []) != list(cov.futr_cols):
        raise ITNetModelFileError("futr_exog_list does not match the model's covariates")
    return cov

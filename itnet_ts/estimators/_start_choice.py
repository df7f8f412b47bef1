"""Training the network from its start(s): ``ITNetForecaster(start="auto")`` trains it once
from the fitted mix of simple predictors and once from persistence, on the same windows with
the same seed, and keeps the one with the lower validation MSE (after each one's check
against the baselines). Neither start is better on every data set: the mix wins where the
level or a trend is learnable from the history, persistence where the mix, fitted to
training windows, does not carry over to later ones (growth curves, drifting levels)."""

from __future__ import annotations

import copy
import dataclasses
import math
import warnings
from dataclasses import dataclass

from itnet_ts.estimators._batches import TrainingBatches
from itnet_ts.estimators._engine import seeded, train_network
from itnet_ts.estimators._fallback import apply_fallback, fit_start, rolling_baseline_scores
from itnet_ts.estimators._training import TrainResult, check_converged
from itnet_ts.model.itnet import ITNet

__all__ = ["STARTS", "Trained", "train_from_starts"]

#: the starts ``start="auto"`` trains from, in order (a tie keeps the first)
STARTS = ("mix", "persistence")


@dataclass
class Trained:
    """One trained network: its model, training result, validation summary, the training
    data with its config (and so its start), and the warnings its baseline check raised."""

    model: ITNet
    result: TrainResult
    validation: dict
    data: object
    caught: list

    @property
    def start(self) -> str:
        return self.data.config.start


def train_from_starts(est, data, strategy, seed: int) -> Trained:
    """Train from ``est.start`` (``"auto"``: each of :data:`STARTS`) and return the network
    to keep; its ``validation["start_choice"]`` has every start's validation MSE."""
    starts = STARTS if est.start == "auto" else (est.start,)
    # the packed batches and the baselines' rolling scores do not depend on the start
    batches = TrainingBatches(data, strategy, est.batch_size, est.max_history)
    rolling = None
    if est.baseline_choice == "rolling" and batches.val_store is not None:
        rolling = rolling_baseline_scores(data, est.max_history)
    rng_state = _rng_states(strategy)
    runs = []
    for i, start in enumerate(starts):
        _set_rng_states(strategy, rng_state)  # the same window draws for every start
        label = f"training from {start} ({i + 1}/{len(starts)})" if len(starts) > 1 else "training"
        with seeded(seed, strategy.device):
            run = _train_one(est, _with_start(data, start), batches, strategy, rolling, label)
        runs.append(run)
        if not math.isfinite(_val_mse(runs[-1])):
            break  # no validation windows to choose on: the first start
    best = min(runs, key=_val_mse)
    if est.start == "auto":
        best.validation["start_choice"] = {
            "starts": {r.start: r.validation.get("mse_fitted") for r in runs},
            "chosen": best.start,
            "rule": "the start whose trained network (after its baseline check) has the "
            "lower validation MSE; a tie or no validation windows keeps 'mix'",
        }
    for w in best.caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return best


def _train_one(est, data, batches, strategy, rolling, label: str) -> Trained:
    """Train from ``data.config.start`` on ``batches``; ``rolling``: the baselines' rolling
    scores for the check; ``label`` titles the progress bar."""
    model = ITNet(data.config).to(strategy.device)
    # the mix of simple predictors, fitted on one extra draw of training windows (its
    # feature set chosen on the validation windows)
    info = fit_start(
        model, batches.train(est.max_epochs), strategy.device, val_iter=batches.all_validation()
    )
    result = train_network(model, batches, strategy, est, label)
    check_converged(result)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        validation = apply_fallback(
            model, batches.val_store, est.batch_size, strategy.device, data.spec.channels,
            rolling=rolling, choice=est.baseline_choice,
        )  # fmt: skip
    validation.update(start={**info, "val_loss": result.start_val_loss}, periodic=data.periodic)
    return Trained(model, result, validation, data, list(caught))


def _with_start(data, start: str):
    """``data`` with its model config set to ``start`` (persistence: no periodic predictor,
    which is one of the mix's)."""
    if data.config.start == start:
        return data
    cfg = dataclasses.replace(data.config, start=start)
    if start != "mix":
        cfg = dataclasses.replace(cfg, period_f_min=0.0, period_df=0.0, period_n_freq=0)
    return dataclasses.replace(data, config=cfg)


def _val_mse(run: Trained) -> float:
    mse = run.validation.get("mse_fitted")
    return math.inf if mse is None or not math.isfinite(mse) else float(mse)


def _rng_states(strategy) -> tuple:
    return tuple(copy.deepcopy(g.bit_generator.state) for g in (strategy.rng, strategy.shared_rng))


def _set_rng_states(strategy, states: tuple) -> None:
    strategy.rng.bit_generator.state = copy.deepcopy(states[0])
    strategy.shared_rng.bit_generator.state = copy.deepcopy(states[1])

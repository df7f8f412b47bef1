"""The scikit-learn estimator contract of ``ITNetForecaster``.

Two parts (docs/sklearn.md lists the checks and why some are skipped):

1. scikit-learn's own checks (``sklearn.utils.estimator_checks``) that apply to an estimator
   whose ``fit`` takes a dataframe: the API checks that never fit on a numeric array.
2. A forecaster conformance suite: the checks scikit-learn runs on ``fit(X_numeric)``
   (parameters not overwritten, fitted attributes end in ``_``, fit returns self, pickling,
   idempotent fits, not-fitted errors, ...) redone on irregular dataframes.
"""

import pickle

import joblib
import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.utils import estimator_checks as ec
from sklearn.utils.validation import check_is_fitted

from itnet_ts import ITNetForecaster, ITNetInputError, ITNetNotFittedError, TimeCutoffSplitter
from itnet_ts.datasets import make_irregular
from itnet_ts.estimators._params import PARAMETER_CONSTRAINTS

FAST = dict(d_model=8, rank=2, n_layers=1, max_epochs=1, windows_per_series=2, verbose=False)

#: scikit-learn checks that apply as they are (none of them fits on a numeric array).
SKLEARN_CHECKS = [
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_estimator_tags_renamed",
    "check_valid_tag_types",
    "check_mixin_order",
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_estimators_unfitted",
    "check_estimator_sparse_tag",
]

#: An invalid value for every hyperparameter (each must fail at fit, naming the parameter).
BAD = {
    "horizon": -1, "time_unit": 0, "max_history": 0, "d_model": 0, "n_layers": 1.5,
    "rank": None, "dropout": 1.0, "oscillatory": "yes", "selective": 1, "kwn": None,
    "integral_norm": "no",
    "weights": "gaps", "quantiles": [0.0, 0.5], "level": [100], "max_epochs": 0,
    "batch_size": -3, "learning_rate": 0.0, "patience": 0, "windows_per_series": 0,
    "scaling": "minmax", "duplicates": "first", "device": "tpu", "random_state": -1,
    "verbose": "quiet", "futr_exog_list": "price", "strategy": "horovod",
}  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def frame():
    return make_irregular(n_series=6, n_channels=2, length=20.0, seed=5, shape="wide")


def _estimator(**kw):
    return ITNetForecaster(**{**FAST, **kw})


# ---- 1. scikit-learn's checks ---------------------------------------------------------------


@pytest.mark.parametrize("check", SKLEARN_CHECKS)
@pytest.mark.parametrize("params", [{}, {"level": [80, 95]}, {"quantiles": (0.1, 0.9)}])
def test_sklearn_estimator_check(check, params):
    getattr(ec, check)("ITNetForecaster", _estimator(**params))


# ---- 2. the forecaster conformance suite ----------------------------------------------------


@pytest.mark.parametrize("library", ["polars", "pandas"])
def test_fit_returns_self_and_fit_and_score_take_an_ignored_y(frame, library):
    """sklearn's check_estimators_fit_returns_self and check_fit_score_takes_y."""
    train, test = (frame.filter(pl.col("ds") <= 15.0), frame.filter(pl.col("ds") > 15.0))
    if library == "pandas":
        train, test = train.to_pandas(), test.to_pandas()
    est = _estimator()
    assert est.fit(train) is est
    assert est.fit(train, None) is est
    assert est.fit(train, y=np.zeros(len(train))) is est  # ignored (Pipeline / GridSearchCV)
    check_is_fitted(est)
    assert isinstance(est.score(test), float)
    assert est.score(test, y=np.zeros(len(test))) == est.score(test)


def test_fit_does_not_change_the_parameters(frame):
    """sklearn's check_estimators_overwrite_params, on a dataframe."""
    est = _estimator(quantiles=[0.9, 0.1], horizon="3", time_unit=1.0)
    before = est.get_params()
    hashes = {k: joblib.hash(v) for k, v in before.items()}
    est.fit(frame)
    after = est.get_params()
    assert {k: joblib.hash(v) for k, v in after.items()} == hashes
    assert after["quantiles"] == [0.9, 0.1]  # not sorted in place


def test_fit_sets_only_trailing_underscore_attributes(frame):
    """sklearn's check_dont_overwrite_parameters / check_no_attributes_set_in_init."""
    est = _estimator(level=[80])
    before = dict(vars(est))
    est.fit(frame)
    new = set(vars(est)) - set(before)
    public = [k for k in new if not k.startswith("_")]
    assert public and all(k.endswith("_") for k in public), public
    assert all(vars(est)[k] is v for k, v in before.items())


def test_not_fitted_errors_are_sklearn_and_itnet_errors(frame, tmp_path):
    est = _estimator()
    for call in (
        lambda: est.predict(h=2.0),
        lambda: est.score(frame),
        lambda: est.save(tmp_path / "m.itnet"),
        lambda: est.get_fitted_summary(),
    ):
        with pytest.raises(NotFittedError, match="not fitted"):
            call()
        with pytest.raises(ITNetNotFittedError):
            call()
    with pytest.raises(NotFittedError):
        check_is_fitted(est)


def test_clone_gives_an_unfitted_copy_with_equal_parameters(frame):
    est = _estimator(level=[80, 95]).fit(frame)
    c = clone(est)
    assert not hasattr(c, "model_") and not hasattr(c, "quantile_plan_")
    assert c.get_params() == est.get_params()
    assert c.level == est.level and c.level is not est.level  # lists are copied
    with pytest.raises(NotFittedError):
        c.predict(h=2.0)


def test_set_params_rejects_unknown_names_and_validates_at_fit(frame):
    est = _estimator()
    with pytest.raises(ValueError, match="Invalid parameter"):
        est.set_params(not_a_param=1)
    est.set_params(d_model=0)  # no validation here (sklearn: __init__ / set_params only store)
    with pytest.raises(ITNetInputError, match="d_model"):
        est.fit(frame)


def test_every_parameter_has_a_declared_constraint():
    assert set(ITNetForecaster().get_params()) == set(PARAMETER_CONSTRAINTS)


@pytest.mark.parametrize(("param", "value"), sorted(BAD.items()))
def test_invalid_parameter_fails_at_fit_naming_it(frame, param, value):
    if param not in ITNetForecaster().get_params():
        pytest.skip(f"{param} is not a parameter of this version")
    est = _estimator(**{param: value})
    with pytest.raises(ITNetInputError, match=rf"\b{param}\b"):
        est.fit(frame)
    assert not hasattr(est, "model_")


def test_pickle_round_trip_of_a_fitted_forecaster(frame):
    """sklearn's check_estimators_pickle (joblib / GridSearchCV(n_jobs>1) pickle estimators;
    ``save`` / ``load`` is the safe format for files)."""
    est = _estimator(quantiles=[0.2, 0.8]).fit(frame)
    back = pickle.loads(pickle.dumps(est))
    assert back.get_params() == est.get_params()
    assert back.predict(h=3.0).equals(est.predict(h=3.0))


def test_fit_is_idempotent_and_a_refit_forgets_the_first_fit(frame):
    """sklearn's check_fit_idempotent: fitting twice gives the same model; fitting on other
    data gives the model of that data alone."""
    other = make_irregular(n_series=5, n_channels=2, length=20.0, seed=9, shape="wide")
    est = _estimator(level=[90])
    first = est.fit(frame).predict(h=3.0)
    assert est.fit(frame).predict(h=3.0).equals(first)
    est.fit(other)
    fresh = _estimator(level=[90]).fit(other)
    assert est.predict(h=3.0).equals(fresh.predict(h=3.0))
    assert est.n_series_ == 5


def test_row_order_does_not_matter(frame):
    """sklearn's check_methods_sample_order_invariance, for rows of a frame."""
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=1)
    a = _estimator(quantiles=[0.1, 0.9]).fit(frame).predict(h=3.0)
    b = _estimator(quantiles=[0.1, 0.9]).fit(shuffled).predict(h=3.0)
    np.testing.assert_allclose(a.select(pl.col("^y_hat.*$")), b.select(pl.col("^y_hat.*$")),
                               rtol=1e-5, atol=1e-5)  # fmt: skip


def test_grid_search_over_the_interval_parameters(frame):
    search = GridSearchCV(
        _estimator(), {"level": [None, [80]]}, cv=TimeCutoffSplitter(n_splits=2, h=3.0)
    )
    search.fit(frame.to_pandas())
    assert search.best_params_["level"] in (None, [80])
    pred = search.best_estimator_.predict(h=3.0)
    assert isinstance(pred, pd.DataFrame) and "y_hat" in pred.columns

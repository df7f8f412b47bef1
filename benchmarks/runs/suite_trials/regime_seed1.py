import warnings, numpy as np, polars as pl, torch
torch.set_num_threads(1); warnings.simplefilter("ignore")
from itnet_ts.bench.data import load_dataset
from itnet_ts.bench.runs import _full_frame, _max_lead
from itnet_ts import ITNetForecaster
d = load_dataset("synthetic-regime_shifts")
est = ITNetForecaster(max_epochs=30, patience=5, random_state=1, verbose=False, horizon=_max_lead(d.train))
tidy = dict(id_col="unique_id", time_col="ds", variable_col="variable", value_col="value")
est.fit(pl.concat([_full_frame(d.split(s)) for s in ("train", "val")]), **tidy)
t = d.test
pred = est.predict(df=t.history, times=t.targets.select("unique_id", "ds", "variable"))
j = t.targets.join(pred, on=["unique_id", "ds", "variable"])
last = t.history.sort("ds").group_by("unique_id", "variable").agg(last=pl.col("value").last(), n=pl.len())
j = j.join(last, on=["unique_id", "variable"]).with_columns(e_m=(pl.col("value")-pl.col("y_hat"))**2, e_p=(pl.col("value")-pl.col("last"))**2)
print("mse model", j["e_m"].mean(), "pers", j["e_p"].mean())
g = j.group_by("unique_id", "variable").agg(pl.col("e_m").sum(), pl.col("e_p").sum(), pl.col("y_hat").first(), pl.col("last").first(), pl.col("value").first(), pl.col("n").first()).sort("e_m", descending=True)
print(g.head(8))

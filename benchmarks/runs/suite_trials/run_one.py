import json, sys, torch
torch.set_num_threads(1)
from itnet_ts.bench.data import load_dataset
from itnet_ts.bench.runs import run_itnet
r = run_itnet(load_dataset("synthetic-sparse_periodic"), 0, epochs=int(sys.argv[2]), patience=int(sys.argv[3]), params=json.loads(sys.argv[4]))
json.dump(r, open(sys.argv[1], "w"), indent=1, default=str)
print("test", r["test_mse"], "best", r["best_epoch"], r["epochs_run"], "val net", r["validation"]["mse_network"], "hm", r["validation"]["mse_history_mean"])

"""The moving average of the weights that training validates and keeps
(``_training.WeightAverage``, ``fit_model(average_decay=)``)."""

import dataclasses

import pytest
import torch
from test_itnet import _batch, _ragged

from itnet_ts.estimators._training import WeightAverage, evaluate_loss, fit_model
from itnet_ts.model.config import ITNetConfig
from itnet_ts.model.itnet import ITNet

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_average_follows_its_recursion_and_swaps_back():
    lin = torch.nn.Linear(3, 2)
    avg = WeightAverage(lin, decay=0.9)
    want = [p.detach().clone() for p in lin.parameters()]
    for t in range(1, 30):
        with torch.no_grad():
            for p in lin.parameters():
                p.add_(torch.randn_like(p))
        avg.update()
        d = min(0.9, (1 + t) / (10 + t))
        want = [d * w + (1 - d) * p.detach() for w, p in zip(want, lin.parameters(), strict=True)]
    last = [p.detach().clone() for p in lin.parameters()]
    with avg.swapped():
        for p, w in zip(lin.parameters(), want, strict=True):
            torch.testing.assert_close(p.detach(), w)
    for p, w in zip(lin.parameters(), last, strict=True):
        torch.testing.assert_close(p.detach(), w)  # the training weights are back
    with pytest.raises(ValueError, match="average_decay"):
        WeightAverage(lin, decay=1.0)


def _fit(average_decay):
    torch.manual_seed(0)
    val = _batch(_ragged(S=8, seed=1))
    last = val.last_value.gather(1, val.q_chan)
    val = dataclasses.replace(val, y=last + 0.3, y_known=val.q_valid)
    model = ITNet(ITNetConfig(n_channels=3, d_model=16, rank=4, dropout=0.0))
    res = fit_model(model, lambda epoch: [val, val], lambda: [val], max_epochs=4,
                    learning_rate=1e-2, patience=10, device=torch.device("cpu"),
                    progress=False, average_decay=average_decay)  # fmt: skip
    return model, val, res


def test_training_keeps_the_averaged_weights_it_validated():
    model, val, res = _fit(0.999)
    assert res.best_epoch >= 0
    # the model holds the weights whose validation loss was recorded (the average's)
    assert evaluate_loss(model, [val], torch.device("cpu")) == pytest.approx(res.best_val_loss)
    plain, _, res_plain = _fit(None)
    assert evaluate_loss(plain, [val], torch.device("cpu")) == pytest.approx(
        res_plain.best_val_loss
    )
    differs = any(
        not torch.allclose(a, b)
        for a, b in zip(model.parameters(), plain.parameters(), strict=True)
    )
    assert differs  # same seed and data: only the averaging differs

"""`training.engine.fit`: the epoch loop every trainer shares (best epoch, resume, files), on a real model."""

from __future__ import annotations

import json

import pytest
import torch

from training.engine import Loop, fit


def _loop(out, scores: list[float], identity=None) -> tuple[Loop, list[int]]:
    """A real linear model trained on a fixed regression; validation returns the scripted `scores`."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    x = torch.randn(32, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    saved: list[int] = []

    def one_epoch(epoch: int) -> dict[str, float]:
        loss = torch.nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        return {"loss": loss.item()}

    def save_best(epoch: int, metrics: dict[str, float]) -> str:
        saved.append(epoch)
        torch.save(model.state_dict(), out / "best.pt")
        return f"model-{epoch}"

    loop = Loop(out=out, modules={"model": model}, optimizer=optimizer, scheduler=scheduler, scaler=None,
                train_one_epoch=one_epoch, evaluate=lambda e: {"acc": scores[e]}, score=lambda r: r["acc"],
                save_best=save_best, pictures=32, identity=identity or {})
    return loop, saved


def test_keeps_the_best_epoch_and_writes_the_run_files(tmp_path):
    loop, saved = _loop(tmp_path, [0.2, 0.6, 0.4])
    result = fit(loop, 3, config={"lr": 0.1})
    assert saved == [1, 2]  # epoch 3 did not beat epoch 2
    assert result["best"]["epoch"] == 2 and result["best"]["model_id"] == "model-2" and result["epochs"] == 3
    history = json.loads((tmp_path / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3] and history[-1]["loss"] < history[0]["loss"]
    assert history[1]["lr"] == pytest.approx(0.1 * 0.5**2)
    assert json.loads((tmp_path / "result.json").read_text())["best"]["epoch"] == 2
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert state["epoch"] == 3 and state["config"] == {"lr": 0.1}


def test_resume_continues_where_the_run_stopped(tmp_path):
    loop, _ = _loop(tmp_path, [0.2, 0.6, 0.4, 0.9])
    fit(loop, 2)
    weights = {k: v.clone() for k, v in loop.modules["model"].state_dict().items()}
    again, saved = _loop(tmp_path, [0.2, 0.6, 0.4, 0.9])  # a fresh process: new model, same folder
    result = fit(again, 4, resume=True)
    history = json.loads((tmp_path / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert saved == [4] and result["best"]["epoch"] == 4  # epoch 3 (0.4) lost to the resumed best (0.6)
    assert again.optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**4)
    assert not torch.equal(again.modules["model"].weight, weights["weight"])  # it trained on from epoch 2


def test_resume_refuses_other_data(tmp_path):
    loop, _ = _loop(tmp_path, [0.5, 0.5], identity={"classes": ["a", "b"]})
    fit(loop, 1)
    other, _ = _loop(tmp_path, [0.5, 0.5], identity={"classes": ["a", "c"]})
    with pytest.raises(ValueError, match="classes differ"):
        fit(other, 2, resume=True)

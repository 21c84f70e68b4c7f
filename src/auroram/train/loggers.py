"""Training curves for the trackers a recipe picks (`train.loggers`): TensorBoard, Weights & Biases, MLflow.

Every point goes to each one alike: `log({"loss/cap": 3.1, "lr/cap": 2e-3}, tokens)`, the x axis being
tokens seen since the start of the run. Only rank 0 opens them. W&B and MLflow are offline unless the
recipe says otherwise: W&B in offline mode under the run's `wandb/`, MLflow in a file store at `mlruns/`.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import yaml

from auroram.config import TrainConfig
from auroram.errors import require_extra

# logger name -> (module it needs, the extra that brings it); tensorboard comes with the package
EXTRAS = {"wandb": ("wandb", "wandb"), "mlflow": ("mlflow", "mlflow")}


def require_loggers(names: list[str], what: str) -> None:
    """A missing extra is a one-line error naming it, before the run writes anything."""
    for name in dict.fromkeys(names):
        if name in EXTRAS:
            module, extra = EXTRAS[name]
            require_extra(module, extra, f"{what} '{name}'")


class TensorBoardLogger:
    def __init__(self, run_dir: Path, recipe: dict[str, Any], name: str):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(run_dir / "tb"))
        self.writer.add_text("recipe", "```yaml\n" + yaml.safe_dump(recipe, sort_keys=False, allow_unicode=True) + "```")

    def log(self, values: dict[str, float], tokens: int) -> None:
        for k, v in values.items():
            self.writer.add_scalar(k, v, tokens)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandbLogger:
    def __init__(self, run_dir: Path, recipe: dict[str, Any], name: str, train: TrainConfig):
        import wandb

        cfg = train.wandb
        # silent and console off: W&B would otherwise print banners and copy our stderr into its run
        settings = wandb.Settings(silent=True, console="off", disable_git=True, save_code=False, x_disable_stats=True)
        self.run = wandb.init(mode=cfg.mode, dir=str(run_dir), project=cfg.project, entity=cfg.entity, name=name,
                              group=run_dir.name, config=recipe, settings=settings, reinit="create_new")
        # tokens as the x axis: a resumed or rolled-back stage logs earlier points again, which W&B's own step refuses
        self.run.define_metric("tokens")
        self.run.define_metric("*", step_metric="tokens")

    def log(self, values: dict[str, float], tokens: int) -> None:
        self.run.log({**values, "tokens": tokens})

    def close(self) -> None:
        self.run.finish()


_MLFLOW_KEY = re.compile(r"[^A-Za-z0-9_\-. /:]")


class MlflowLogger:
    def __init__(self, run_dir: Path, recipe: dict[str, Any], name: str, train: TrainConfig):
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        cfg = train.mlflow
        uri = cfg.tracking_uri or (run_dir / "mlruns").resolve().as_uri()
        if uri.startswith("file:"):
            # MLflow 3 refuses a file store unless told; it is what keeps a run's curves offline and in the run
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = MlflowClient(tracking_uri=uri)
        exp = self.client.get_experiment_by_name(cfg.experiment)
        exp_id = exp.experiment_id if exp is not None else self.client.create_experiment(cfg.experiment)
        self.run_id = self.client.create_run(exp_id, run_name=name).info.run_id
        params = [Param(_MLFLOW_KEY.sub("_", k)[:250], v[:500]) for k, v in _flatten(recipe).items()]
        for i in range(0, len(params), 100):  # MLflow takes at most 100 params a call
            self.client.log_batch(self.run_id, params=params[i : i + 100])
        self.client.log_text(self.run_id, yaml.safe_dump(recipe, sort_keys=False, allow_unicode=True), "recipe.yaml")

    def log(self, values: dict[str, float], tokens: int) -> None:
        from mlflow.entities import Metric

        ms = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(_MLFLOW_KEY.sub("_", k), float(v), ms, int(tokens))
                                                    for k, v in values.items()])

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


def _flatten(obj: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(obj, dict):
        out: dict[str, str] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)}


class Loggers:
    """The selected trackers as one: each point and the close go to every one of them."""

    def __init__(self, backends: list[Any]):
        self.backends = backends

    def log(self, values: dict[str, float | None], tokens: int) -> None:
        values = {k: float(v) for k, v in values.items() if v is not None}
        if values:
            for b in self.backends:
                b.log(values, tokens)

    def flush(self) -> None:
        for b in self.backends:
            getattr(b, "flush", lambda: None)()  # W&B and MLflow write each point as it comes

    def close(self) -> None:
        for b in self.backends:
            b.close()
        self.backends = []


def open_loggers(train: TrainConfig, run_dir: Path, recipe: dict[str, Any], name: str) -> Loggers:
    """The recipe's trackers for this process (call on rank 0); `recipe` is the resolved recipe they record."""
    backends: list[Any] = []
    for kind in dict.fromkeys(train.loggers):
        if kind == "tensorboard":
            try:
                backends.append(TensorBoardLogger(run_dir, recipe, name))
            except ImportError:  # tensorboard is optional at run time
                continue
        elif kind == "wandb":
            backends.append(WandbLogger(run_dir, recipe, name, train))
        elif kind == "mlflow":
            backends.append(MlflowLogger(run_dir, recipe, name, train))
    return Loggers(backends)

"""MAE pretraining that acts on difficulty. ``maskstats.mae.config`` (settings) imports no
torch; the model, data, trainer and evaluation do."""

from maskstats.mae.config import (
    CONFIGS,
    EvalSettings,
    MAEConfig,
    Table5Settings,
    TrainConfig,
    VisualizeSettings,
)

__all__ = [
    "CONFIGS",
    "EvalSettings",
    "MAEConfig",
    "Table5Settings",
    "TrainConfig",
    "VisualizeSettings",
]

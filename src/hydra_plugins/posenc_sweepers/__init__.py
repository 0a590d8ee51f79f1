"""posenc's Hydra sweepers: `posenc` (the default: Hydra's basic sweeper, composing each job
once) and `optuna` (hyperparameter search over current Optuna)."""

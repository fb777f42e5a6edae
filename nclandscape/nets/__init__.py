"""Real networks (Flax ResNet18 on CIFAR-10 and image folders) with NC metrics during training.

Modules: ``resnet`` (model, simplex ETF), ``losses``, ``data`` (loaders, on-device
augmentation), ``config`` (TrainConfig, config files, ``--set`` overrides), ``runner``
(``train``), ``checkpoint``, ``plots`` (``plot_run``; reads files only). Names are imported
lazily so ``import nclandscape.nets.plots`` does not pull in jax.
"""
import importlib

_EXPORTS = {
    "ResNet": "resnet", "ResNet18": "resnet", "classifier_weights": "resnet",
    "simplex_etf": "resnet", "TrainConfig": "config", "apply_overrides": "config",
    "load_config_file": "config", "train": "runner", "plot_run": "plots",
    "is_training_run": "plots",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"nclandscape.nets.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'nclandscape.nets' has no attribute {name!r}")

"""Named models and datasets: how a project tells estimator_inmemory what `model.name` and
`data.name` mean.

    MODELS = Registry("model")        # in the project's model.py

    @MODELS.register("dnn")
    def dnn(model, trainer, data, config) -> tf.estimator.Estimator: ...

A model builder takes the `model` config (the project's own keys), the `Trainer`
settings, the `Dataset` and the `tf.estimator.RunConfig` to build with, and returns an
Estimator; a dataset loader takes the `data` config and returns a `Dataset`.
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import ConfigError


class Registry(dict):
    """`name -> builder` for one config group (`model` or `data`)."""

    def __init__(self, group: str):
        super().__init__()
        self.group = group

    def register(self, name: str) -> Callable:
        """A decorator: register the function under `<group>.name=<name>`."""

        def register(function: Callable) -> Callable:
            self[name] = function
            return function

        return register

    def get_for(self, name: str, where: str) -> Callable:
        """The function registered under `name`, or a ConfigError listing what is."""
        if name not in self:
            known = (
                f"registered: {', '.join(sorted(self))}"
                if self
                else f"nothing is registered in {where} yet"
            )
            raise ConfigError(
                f"{self.group}.name={name!r} has nothing registered: register a function with "
                f"@{where}.register({name!r}) ({known})"
            )
        return self[name]

"""The built-in backbones (``ast``, ``mlp``, ``cnn``): a plugin registered through the
``soundmatch`` entry-point group like any third party's.

Each backbone maps log-mel features ``(batch, n_mels, frames)``, already standardised, to
``(batch, num_params)`` values in [0, 1]. Configurations are data: a dict of keyword arguments per
name, so ``ast-tiny`` is the ``ast`` builder with smaller sizes.
"""

from soundmatch import hookimpl

from . import ast, cnn, mlp


@hookimpl
def register_backbones(register):
    register("ast", ast.build, ast.CONFIGS, default_lr=5e-5)
    register("mlp", mlp.build, mlp.CONFIGS, default_lr=3e-4)
    register("cnn", cnn.build, cnn.CONFIGS, default_lr=3e-4)

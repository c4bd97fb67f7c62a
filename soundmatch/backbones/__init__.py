"""The built-in backbones (``ast``, ``mlp``, ``cnn``): a plugin registered through the
``soundmatch`` entry-point group like any third party's.

Each backbone maps log-mel features ``(batch, n_mels, frames)``, already standardised, to
``(batch, num_params)`` values in [0, 1]. Configurations are data: a dict of keyword arguments per
name, so ``ast-tiny`` is the ``ast`` builder with smaller sizes. They live here, not in the model
files, so that listing backbones (``soundmatch plugins``, ``--help``) never imports torch: the
builders are imported when a model is built.
"""

from soundmatch import hookimpl
from soundmatch.plugins import lazy

AST = {
    # The paper's model: ViT-Base sizes, 16x16 patches at the stride the paper's text gives (6).
    "ast": dict(dim=768, depth=12, heads=12, patch_size=16, stride=6),
    # Smaller sizes that train on a CPU: fewer, wider-strided patches and a narrower encoder.
    "ast-small": dict(dim=384, depth=6, heads=6, patch_size=16, stride=10),
    "ast-tiny": dict(dim=192, depth=6, heads=3, patch_size=16, stride=16),
}
MLP = {"mlp": dict(width=2048, depth=5, dropout=0.3)}
CNN = {"cnn": dict(channels=128, conv_depth=5, kernel_size=7, width=2048, depth=5, dropout=0.3)}


@hookimpl
def register_backbones(register):
    register("ast", lazy("soundmatch.backbones.ast:build"), AST, default_lr=5e-5)
    register("mlp", lazy("soundmatch.backbones.mlp:build"), MLP, default_lr=3e-4)
    register("cnn", lazy("soundmatch.backbones.cnn:build"), CNN, default_lr=3e-4)

"""Training speed: our AST against Hugging Face's, and the data reader against training.

    pip install -e '.[bench]'
    python benchmarks/train_step.py [--configs ast-tiny ast-small] [--batch-size 32] [--device cpu]

For each AST configuration, one forward + backward + Adam step of our model and of
`transformers.ASTForAudioClassification` built from an `ASTConfig` with the same sizes (width,
depth, heads, MLP ratio, patch size, strides, input size; no download), on the same random batch
with an MSE loss. Ours steps as `soundmatch train` does (bf16 autocast where the hardware has it,
fused Adam); the reference as Hugging Face's AST trains by default (float32, torch's Adam).
A second line swaps the steps (ours in float32 with torch's Adam; the reference with ours), so the
gain of the step and of the model can be told apart. Steps alternate between the models after a
warm-up; figures are medians. ratio = ours / reference samples/s (>= 1.0: ours is faster).

Then the data reader: samples/s of a shuffled DataLoader over a rendered dataset, as training reads
it, to show that reading outpaces training.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from soundmatch.backbones import AST as CONFIGS
from soundmatch.models import create_model
from soundmatch.runtime import autocast, autocast_dtype, make_optimizer

INPUT = (64, 173)
PARAMS = 16


def reference_ast(config: dict, device):
    from transformers import ASTConfig, ASTForAudioClassification

    stride = config["stride"]
    fs, ts = (stride, stride) if isinstance(stride, int) else stride
    hf = ASTConfig(hidden_size=config["dim"], num_hidden_layers=config["depth"],
                   num_attention_heads=config["heads"], intermediate_size=4 * config["dim"],
                   patch_size=config["patch_size"], frequency_stride=fs, time_stride=ts,
                   num_mel_bins=INPUT[0], max_length=INPUT[1], num_labels=PARAMS,
                   hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    try:
        model = ASTForAudioClassification._from_config(hf, attn_implementation="sdpa")
    except (ValueError, TypeError):
        model = ASTForAudioClassification(hf)
    model = model.to(device)

    def forward(x):  # HF's AST takes (batch, frames, mels)
        return model(input_values=x.transpose(1, 2)).logits

    return model, forward


def stepper(model, forward, device, dtype, fused):
    """One training step: forward under autocast (``dtype`` None: float32), MSE, backward, Adam
    (``fused``: soundmatch's make_optimizer; else torch's default Adam)."""
    opt = (make_optimizer(model, 1e-4, device) if fused
           else torch.optim.Adam(model.parameters(), lr=1e-4))

    def step(x, y):
        with autocast(device, dtype):
            loss = torch.nn.functional.mse_loss(forward(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    return step


def bench_models(name: str, batch: int, rounds: int, device) -> None:
    config = CONFIGS[name]
    ours, _ = create_model(name, INPUT, PARAMS)
    ours = ours.to(device)
    ref, ref_forward = reference_ast(config, device)
    n_ours = sum(p.numel() for p in ours.parameters())
    n_ref = sum(p.numel() for p in ref.parameters())
    dtype = autocast_dtype(device)  # what `soundmatch train` uses here (--precision auto)
    # The reference as Hugging Face trains it by default (float32, torch's Adam), the reference
    # with soundmatch's precision and optimiser, and ours both ways: the ratios say how much of
    # the gain is the step and how much the model.
    steps = {"ours": stepper(ours, ours, device, dtype, True),
             "reference": stepper(ref, ref_forward, device, None, False),
             "ours fp32": stepper(ours, ours, device, None, False),
             "reference same step": stepper(ref, ref_forward, device, dtype, True)}
    x = torch.randn(batch, *INPUT, device=device)
    y = torch.rand(batch, PARAMS, device=device)
    for step in steps.values():  # warm-up: the first steps in a process are much slower
        for _ in range(3):
            step(x, y)
    times = {k: [] for k in steps}
    for _ in range(rounds):
        for k, step in steps.items():
            t0 = time.perf_counter()
            step(x, y)
            times[k].append(time.perf_counter() - t0)
    sps = {k: batch / statistics.median(v) for k, v in times.items()}
    precision = "bf16" if dtype is not None else "fp32"
    print(f"{name:>10} {ours.num_tokens:>6} {n_ours / 1e6:>7.1f}M {n_ref / 1e6:>7.1f}M "
          f"{sps['ours']:>12.1f} {sps['reference']:>14.1f} {sps['ours'] / sps['reference']:>6.2f}"
          f"   (ours {precision} + fused Adam)", flush=True)
    print(f"{'':>10} {'':>6} {'':>8} {'':>8} {sps['ours fp32']:>12.1f} "
          f"{sps['reference same step']:>14.1f} "
          f"{sps['ours'] / sps['reference same step']:>6.2f}   (first column: ours with the "
          f"reference's step; second: the reference with ours; ratio: ours / the latter)",
          flush=True)


def bench_reader(data: Path | None, batch: int, workers: int) -> None:
    from torch.utils.data import DataLoader, RandomSampler

    from soundmatch import plugins
    from soundmatch.dataset import DatasetReader
    from soundmatch.render import render_dataset
    from soundmatch.train import Examples

    with tempfile.TemporaryDirectory() as tmp:
        if data is None:
            data = Path(tmp) / "data"
            render_dataset(plugins.resolve_spec("builtin"), data, 2048, workers=2)
        reader = DatasetReader(data)
        examples = Examples(reader, torch.arange(len(reader)).numpy())
        shuffled = RandomSampler(examples, generator=torch.Generator().manual_seed(0))
        loader = DataLoader(examples, batch_size=batch, num_workers=workers, sampler=shuffled)
        rates = []
        for _ in range(3):
            start, n = time.perf_counter(), 0
            for xb, *_ in loader:
                n += len(xb)
            rates.append(n / (time.perf_counter() - start))
    print(f"data reader: {statistics.median(rates):,.0f} samples/s (shuffled, batch {batch}, "
          f"{workers} loader workers, {len(reader):,} examples in {data})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", default=["ast-tiny", "ast-small"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--data", type=Path, help="a rendered dataset for the reader benchmark")
    parser.add_argument("--loader-workers", type=int, default=0)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    print(f"device {device}, batch {args.batch_size}, {args.rounds} timed steps per model, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'config':>10} {'tokens':>6} {'ours':>8} {'HF':>8} {'ours samp/s':>12} "
          f"{'HF AST samp/s':>14} {'ratio':>6}")
    for name in args.configs:
        bench_models(name, args.batch_size, args.rounds, device)
    bench_reader(args.data, args.batch_size, args.loader_workers)


if __name__ == "__main__":
    main()

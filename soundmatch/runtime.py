"""Where training runs: the device (CUDA, MPS or CPU), the ranks of a ``torchrun`` job, and the
settings that make a step fast there (autocast dtype, fused Adam, loader workers)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .errors import SoundmatchError


@dataclass
class Runtime:
    device: torch.device
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_runtime(device: str | None) -> Runtime:
    """Pick the device (CUDA, then MPS, then CPU) and join the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device:
        dev = torch.device(device)
    elif torch.cuda.is_available():
        dev = torch.device("cuda", local_rank)
    elif torch.backends.mps.is_available():
        dev = torch.device("mps")
    else:
        dev = torch.device("cpu")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise SoundmatchError(f"--device: found '{device}', but CUDA is not available here")
        torch.cuda.set_device(dev)
    if world > 1:
        if not dist.is_initialized():
            dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        return Runtime(dev, dist.get_rank(), dist.get_world_size())
    return Runtime(dev)


def all_sum(values: list[float], rt: Runtime) -> list[float]:
    if rt.world == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=rt.device)
    dist.all_reduce(t)
    return t.tolist()


def weights_hash(model: torch.nn.Module) -> str:
    """A hash of the trainable weights (not of running statistics, which DDP does not sync)."""
    h = hashlib.sha256()
    for name, p in sorted(model.named_parameters()):
        h.update(name.encode())
        h.update(p.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


# ------------------------------------------------------------------------ speed

PRECISIONS = ("auto", "bf16", "fp32")


def _native_bf16(device: torch.device) -> bool:
    """Whether the device multiplies bf16 matrices in hardware: a CUDA GPU that says so, or a CPU
    with AMX or AVX-512 BF16 (oneDNN's bf16 kernels; elsewhere they are emulated and slower)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        cpu = torch.cpu
        return any(getattr(cpu, name, lambda: False)()
                   for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"))
    return False


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The dtype the forward and backward run in under autocast; None: float32 throughout.
    ``auto`` takes bf16 where the hardware has it (measured here, ast-tiny on a 2-core CPU with
    AMX: README "Speed"); weights, optimiser state and the loss stay float32 either way."""
    if precision not in PRECISIONS:
        raise SoundmatchError(f"--precision: found '{precision}', expected one of "
                              f"{', '.join(PRECISIONS)}")
    if precision == "fp32" or device.type not in ("cpu", "cuda"):
        return None
    if precision == "bf16" or _native_bf16(device):
        return torch.bfloat16
    return None


def autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def make_optimizer(model: torch.nn.Module, lr: float, device: torch.device) -> torch.optim.Adam:
    """Adam, fused into one kernel over all weights where torch has one (CPU and CUDA): the
    per-tensor loop of the default implementation costs more than a small model's backward."""
    return torch.optim.Adam(model.parameters(), lr=lr,
                            fused=device.type in ("cpu", "cuda") or None)


def loader_workers(requested: int | None, device: torch.device) -> int:
    if requested is not None:
        return requested
    cores = os.cpu_count() or 1
    # On a small CPU box the training math needs every core; on a GPU box, feed it.
    return min(8, cores // 2) if device.type == "cuda" else max(0, min(4, cores - 2))


def gather_hashes(model: torch.nn.Module, rt: Runtime) -> list[str]:
    mine = weights_hash(model)
    if rt.world == 1:
        return [mine]
    gathered: list[str] = [""] * rt.world
    dist.all_gather_object(gathered, mine)
    return gathered

"""Times one SimCLR or MoCo v2 training step in PyTorch on the CPU: the reference of SynthPair's benches.

The network mirrors SynthPair's buildBranch('online', {arch: 'resnet18', width, stem: 'imagenet'},
{hiddenDim: 512, outDim: 128}) layer for layer, so that both sides do the same arithmetic and hold the same
trainable parameters. MoCo v2 follows src/engine/methods/mocov2.ts: a momentum copy of the branch, a queue of
earlier keys and the InfoNCE loss symmetrised over the two views. Inputs are random tensors made once: the
step alone is timed, not data loading or augmentation.

Prints one JSON line: imagesPerSecond, stepMillis, parameters, torch, threads, method.
"""

import argparse
import copy
import json
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn


def stage_channels(width):
    # Same rounding and floor as src/engine/models/resnet.ts.
    return [max(8, round(channels * width)) for channels in (64, 128, 256, 512)]


class ConvBn(nn.Sequential):
    """A bias-free convolution followed by batch norm, as SynthPair's ConvBn."""

    def __init__(self, in_channels, out_channels, kernel, stride, zero_init_scale=False):
        # TF's 'same' pads the extra row and column at the bottom and right only; kernel // 2 on every side
        # gives the same output sizes for the even sizes used here, which is what the timing depends on.
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel, stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        nn.init.kaiming_normal_(self[0].weight, mode="fan_out", nonlinearity="relu")
        if zero_init_scale:
            nn.init.zeros_(self[1].weight)


class BasicBlock(nn.Module):
    def __init__(self, in_channels, channels, stride):
        super().__init__()
        self.conv1 = ConvBn(in_channels, channels, 3, stride)
        self.conv2 = ConvBn(channels, channels, 3, 1, zero_init_scale=True)
        self.shortcut = (
            ConvBn(in_channels, channels, 1, stride)
            if stride != 1 or in_channels != channels
            else nn.Identity()
        )

    def forward(self, x):
        return F.relu(self.conv2(F.relu(self.conv1(x))) + self.shortcut(x))


class Branch(nn.Module):
    """ResNet-18 with the 'imagenet' stem, then the Linear–BN–ReLU–Linear projector of SimCLR v2."""

    def __init__(self, width, hidden_dim, out_dim):
        super().__init__()
        channels = stage_channels(width)
        self.stem = ConvBn(3, channels[0], 7, 2)
        blocks = []
        in_channels = channels[0]
        for stage, stage_width in enumerate(channels):
            for index in range(2):
                blocks.append(BasicBlock(in_channels, stage_width, 2 if index == 0 and stage > 0 else 1))
                in_channels = stage_width
        self.blocks = nn.Sequential(*blocks)
        self.projector = nn.Sequential(
            nn.Linear(in_channels, hidden_dim, bias=False),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, out_dim),
        )

    def forward(self, images):
        x = F.max_pool2d(F.relu(self.stem(images)), 3, 2, padding=1)
        features = self.blocks(x).mean(dim=(2, 3))
        return self.projector(features)


def nt_xent(z1, z2, temperature):
    """SimCLR's NT-Xent over the 2N views, the same formulation as src/engine/losses/ntXent.ts."""
    views = F.normalize(torch.cat([z1, z2]), dim=1)
    count = views.shape[0]
    logits = views @ views.t() / temperature
    logits = logits.masked_fill(torch.eye(count, dtype=torch.bool), float("-inf"))
    half = z1.shape[0]
    positives = torch.cat([torch.arange(half, count), torch.arange(0, half)])
    return F.cross_entropy(logits, positives)


def info_nce(queries, keys, queue, temperature):
    """MoCo's InfoNCE with the positive key first, the same formulation as src/engine/losses/infoNce.ts."""
    q = F.normalize(queries, dim=1)
    positive = (q * keys).sum(dim=1, keepdim=True)
    logits = torch.cat([positive, q @ queue.t()], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long))


class MocoV2:
    """The momentum branch and key queue of SynthPair's createMocoV2 around an online Branch."""

    def __init__(self, online, queue_size, out_dim, momentum):
        self.online = online
        self.target = copy.deepcopy(online).requires_grad_(False)
        self.queue = F.normalize(torch.randn(queue_size, out_dim), dim=1)
        self.pointer = 0
        self.momentum = momentum

    @torch.no_grad()
    def keys(self, view):
        # Train mode, as SynthPair's momentum branch: batch norm normalises with this batch's statistics.
        return F.normalize(self.target(view), dim=1)

    def loss(self, view1, view2, temperature):
        k1, k2 = self.keys(view1), self.keys(view2)
        self.pending = torch.cat([k1, k2])
        q1, q2 = self.online(view1), self.online(view2)
        return 0.5 * (info_nce(q1, k2, self.queue, temperature) + info_nce(q2, k1, self.queue, temperature))

    @torch.no_grad()
    def after_step(self):
        # Running batch-norm statistics follow the online ones too, as in SynthPair's momentumUpdate.
        online = self.online.state_dict()
        for name, value in self.target.state_dict().items():
            if value.is_floating_point():
                value.mul_(self.momentum).add_(online[name], alpha=1 - self.momentum)
        count = min(self.pending.shape[0], self.queue.shape[0])
        rows = (torch.arange(count) + self.pointer) % self.queue.shape[0]
        self.queue[rows] = self.pending[:count]
        self.pointer = (self.pointer + count) % self.queue.shape[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=64, help="image height and width")
    parser.add_argument("--width", type=float, default=0.5, help="ResNet channel multiplier")
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads")
    parser.add_argument("--method", choices=["simclr", "mocov2"], default="simclr")
    parser.add_argument("--temperature", type=float, help="default 0.5 for SimCLR, 0.2 for MoCo v2")
    parser.add_argument("--queue-size", type=int, default=65536, help="MoCo v2 negatives")
    parser.add_argument("--momentum", type=float, default=0.999, help="MoCo v2 key encoder momentum")
    args = parser.parse_args()
    if args.temperature is None:
        args.temperature = 0.5 if args.method == "simclr" else 0.2

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    out_dim = 128
    model = Branch(args.width, hidden_dim=512, out_dim=out_dim)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    view1 = torch.randn(args.batch, 3, args.size, args.size)
    view2 = torch.randn(args.batch, 3, args.size, args.size)

    moco = MocoV2(model, args.queue_size, out_dim, args.momentum) if args.method == "mocov2" else None

    def step():
        optimizer.zero_grad(set_to_none=True)
        # Two forward passes, not one over the concatenated views, so that batch norm sees each view's own
        # statistics as in SynthPair's createSimClr and createMocoV2.
        if moco:
            loss = moco.loss(view1, view2, args.temperature)
        else:
            loss = nt_xent(model(view1), model(view2), args.temperature)
        loss.backward()
        optimizer.step()
        if moco:
            moco.after_step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    step_seconds = statistics.median(times)
    print(
        json.dumps(
            {
                "imagesPerSecond": args.batch / step_seconds,
                "stepMillis": step_seconds * 1000,
                "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "method": args.method,
            }
        )
    )


if __name__ == "__main__":
    main()

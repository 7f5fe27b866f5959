"""Times one training step in PyTorch on the CPU (or --device cuda): the reference of SynthPair's benches.

The network mirrors SynthPair's buildBranch('online', {arch: 'resnet18' or 'resnet50', width, stem: 'imagenet'},
{hiddenDim: 512, outDim: 128}) layer for layer, so that both sides do the same arithmetic and hold the same
trainable parameters. MoCo v2 follows src/engine/methods/mocov2.ts: a momentum copy of the branch, a queue of
earlier keys and the InfoNCE loss symmetrised over the two views. Inputs are random tensors made once: the
step alone is timed, not data loading or augmentation.

--step picks what one step trains (bench/stepBench.ts describes the same three on SynthPair's side):
- encoder: the SSL method's step (SimCLR or MoCo v2); with --arch resnet50 --size 224 --batch 32, the
  resnet50-224 step.
- decoder: the decoder of src/engine/models/decoder.ts ('resize' upsampling) learning to reconstruct the
  centre views from the pooled features of the encoder, frozen in evaluation mode.
- full: a SimCLR step of the synthesized-pair method as src/engine/synthesis/pairLoss.ts computes it once
  L_Cp is due: L_C + alpha * L_R + nu * L_Cp, with one Gaussian-perturbed copy per image, every masked
  dimension moved, and the decoder's output detached for L_Cp (perturb.samples 1, perturb.fraction 1,
  synthesis.detachDecoder true: the settings the bench pins).

Prints one JSON line: imagesPerSecond, stepMillis (the median), stepTimesMs, warmupTimesMs (the untimed
steps, the first with the device's one-time work), parameters (trainable ones of the step), maxRssKiB, torch,
threads, method, step, device (with its name and TF32 settings on CUDA).
"""

import argparse
import copy
import json
import math
import resource
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn


def js_round(value):
    """JavaScript's Math.round for the positive values here: halves go up, where Python's round goes to even."""
    return math.floor(value + 0.5)


def stage_channels(width):
    # Same rounding and floor as src/engine/models/resnet.ts.
    return [max(8, js_round(channels * width)) for channels in (64, 128, 256, 512)]


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
    expansion = 1

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


class Bottleneck(nn.Module):
    """ResNet-50's 1x1 -> 3x3 (with the stride) -> 1x1 block, widening fourfold, as SynthPair's."""

    expansion = 4

    def __init__(self, in_channels, channels, stride):
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = ConvBn(in_channels, channels, 1, 1)
        self.conv2 = ConvBn(channels, channels, 3, stride)
        self.conv3 = ConvBn(channels, out_channels, 1, 1, zero_init_scale=True)
        self.shortcut = (
            ConvBn(in_channels, out_channels, 1, stride)
            if stride != 1 or in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x):
        hidden = F.relu(self.conv2(F.relu(self.conv1(x))))
        return F.relu(self.conv3(hidden) + self.shortcut(x))


ARCHITECTURES = {"resnet18": (BasicBlock, [2, 2, 2, 2]), "resnet50": (Bottleneck, [3, 4, 6, 3])}


class Branch(nn.Module):
    """ResNet-18 or -50 with the 'imagenet' stem, then the Linear–BN–ReLU–Linear projector of SimCLR v2."""

    def __init__(self, arch, width, hidden_dim, out_dim):
        super().__init__()
        block, counts = ARCHITECTURES[arch]
        channels = stage_channels(width)
        self.stem = ConvBn(3, channels[0], 7, 2)
        blocks = []
        in_channels = channels[0]
        for stage, (stage_width, count) in enumerate(zip(channels, counts)):
            for index in range(count):
                blocks.append(block(in_channels, stage_width, 2 if index == 0 and stage > 0 else 1))
                in_channels = stage_width * block.expansion
        self.blocks = nn.Sequential(*blocks)
        self.projector = nn.Sequential(
            nn.Linear(in_channels, hidden_dim, bias=False),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, out_dim),
        )

    def features(self, images):
        """h: the pooled last feature map."""
        x = F.max_pool2d(F.relu(self.stem(images)), 3, 2, padding=1)
        return self.blocks(x).mean(dim=(2, 3))

    def forward(self, images):
        return self.projector(self.features(images))


DECODER_BASE_CHANNELS = 256


class Decoder(nn.Module):
    """SynthPair's Decoder with upsample 'resize': dense -> BN-ReLU map -> (nearest x2, 3x3 conv-BN-ReLU) per
    stage -> 3x3 conv with bias -> sigmoid, centre-cropped to the image size."""

    def __init__(self, feature_dim, image_size, width):
        super().__init__()
        # decoderLayout: the start map lies in [4, 8] pixels whatever the image size.
        stages = math.floor(math.log2(image_size / 4))
        self.start_size = math.ceil(image_size / 2**stages)
        self.image_size = image_size
        channels = [max(8, js_round(DECODER_BASE_CHANNELS * width / 2**index)) for index in range(stages + 1)]
        self.start_channels = channels[0]
        self.fc = nn.Linear(feature_dim, self.start_size**2 * self.start_channels, bias=False)
        self.fc_norm = nn.BatchNorm2d(self.start_channels)
        self.stages = nn.ModuleList(ConvBn(channels[index], channels[index + 1], 3, 1) for index in range(stages))
        self.head = nn.Conv2d(channels[-1], 3, 3, padding=1)

    def forward(self, features):
        size, count = self.start_size, features.shape[0]
        # TF.js reads the dense output as an NHWC map, channel = column mod C.
        x = self.fc(features).view(count, size, size, self.start_channels).permute(0, 3, 1, 2)
        x = F.relu(self.fc_norm(x))
        for stage in self.stages:
            x = F.relu(stage(F.interpolate(x, scale_factor=2, mode="nearest")))
        images = torch.sigmoid(self.head(x))
        offset = (images.shape[-1] - self.image_size) // 2
        return images[..., offset : offset + self.image_size, offset : offset + self.image_size]


def nt_xent(z1, z2, temperature):
    """SimCLR's NT-Xent over the 2N views, the same formulation as src/engine/losses/ntXent.ts."""
    views = F.normalize(torch.cat([z1, z2]), dim=1)
    count = views.shape[0]
    logits = views @ views.t() / temperature
    logits = logits.masked_fill(torch.eye(count, dtype=torch.bool, device=views.device), float("-inf"))
    half = z1.shape[0]
    positives = torch.cat([torch.arange(half, count), torch.arange(0, half)]).to(views.device)
    return F.cross_entropy(logits, positives)


def info_nce(queries, keys, queue, temperature):
    """MoCo's InfoNCE with the positive key first, the same formulation as src/engine/losses/infoNce.ts."""
    q = F.normalize(queries, dim=1)
    positive = (q * keys).sum(dim=1, keepdim=True)
    logits = torch.cat([positive, q @ queue.t()], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long, device=q.device))


def perturb_gaussian(features, mask, sigma, strength):
    """h' = h + m * eps, eps ~ N(0, (s * sigma_k)^2), as perturbFeatures in gaussian mode with fraction 1."""
    return torch.where(mask, features + torch.randn_like(features) * (strength * sigma), features)


def synthesis_loss(model, decoder, centre, perturbation, args):
    """alpha * L_R + nu * L_Cp of src/engine/synthesis/pairLoss.ts, with the decoder detached for L_Cp."""
    features = model.features(centre)
    reconstructions = decoder(features)
    reconstruction = F.mse_loss(reconstructions, centre)
    mask, sigma = perturbation
    variants = decoder(perturb_gaussian(features.detach(), mask, sigma, args.strength))
    # One encoder pass over originals and copies together, as SynthPair's: batch norm sees them as one batch.
    projections = model(torch.cat([reconstructions.detach(), variants.detach()]))
    count = centre.shape[0]
    pairs = nt_xent(projections[:count], projections[count:], args.pair_temperature)
    return args.alpha * reconstruction + args.nu * pairs


class MocoV2:
    """The momentum branch and key queue of SynthPair's createMocoV2 around an online Branch."""

    def __init__(self, online, queue_size, out_dim, momentum, device):
        self.online = online
        self.target = copy.deepcopy(online).requires_grad_(False)
        self.queue = F.normalize(torch.randn(queue_size, out_dim, device=device), dim=1)
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
        rows = (torch.arange(count, device=self.queue.device) + self.pointer) % self.queue.shape[0]
        self.queue[rows] = self.pending[:count]
        self.pointer = (self.pointer + count) % self.queue.shape[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=64, help="image height and width")
    parser.add_argument("--arch", choices=sorted(ARCHITECTURES), default="resnet18")
    parser.add_argument("--width", type=float, default=0.5, help="ResNet channel multiplier")
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads")
    parser.add_argument("--method", choices=["simclr", "mocov2"], default="simclr")
    parser.add_argument("--temperature", type=float, help="default 0.5 for SimCLR, 0.2 for MoCo v2")
    parser.add_argument("--queue-size", type=int, default=65536, help="MoCo v2 negatives")
    parser.add_argument("--momentum", type=float, default=0.999, help="MoCo v2 key encoder momentum")
    parser.add_argument("--step", choices=["encoder", "decoder", "full"], default="encoder")
    parser.add_argument("--decoder-width", type=float, default=0.5, help="decoder channel multiplier")
    parser.add_argument("--alpha", type=float, default=1.0, help="weight of L_R (full step)")
    parser.add_argument("--nu", type=float, default=1.0, help="weight of L_Cp (full step)")
    parser.add_argument("--pair-temperature", type=float, default=0.2, help="temperature of L_Cp")
    parser.add_argument("--strength", type=float, default=1.0, help="perturbation strength s")
    parser.add_argument("--mask-share", type=float, default=0.25, help="share of h's dimensions masked")
    parser.add_argument("--device", default="cpu", help="where the step runs: cpu, cuda or cuda:N")
    args = parser.parse_args()
    if args.temperature is None:
        args.temperature = 0.5 if args.method == "simclr" else 0.2
    if args.step != "encoder" and args.method != "simclr":
        parser.error(f"--step {args.step} is timed with SimCLR only")

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    out_dim = 128
    device = torch.device(args.device)
    model = Branch(args.arch, args.width, hidden_dim=512, out_dim=out_dim).to(device)
    model.train()
    feature_dim = stage_channels(args.width)[-1] * ARCHITECTURES[args.arch][0].expansion
    decoder = (
        None if args.step == "encoder" else Decoder(feature_dim, args.size, args.decoder_width).to(device)
    )
    if args.step == "decoder":
        # The frozen encoder: evaluation-mode batch norm, no gradients.
        model.eval().requires_grad_(False)
        trained = list(decoder.parameters())
    else:
        trained = list(model.parameters()) + (list(decoder.parameters()) if decoder else [])
    optimizer = torch.optim.Adam(trained, lr=1e-3)
    view1 = torch.randn(args.batch, 3, args.size, args.size, device=device)
    view2 = torch.randn(args.batch, 3, args.size, args.size, device=device)
    # The un-augmented centre views, in [0, 1] as the decoder's sigmoid output they are compared with.
    centre = torch.rand(args.batch, 3, args.size, args.size, device=device)
    masked = math.floor(args.mask_share * feature_dim)
    perturbation = (
        torch.arange(feature_dim, device=device) < masked,
        torch.ones(feature_dim, device=device),
    )

    moco = (
        MocoV2(model, args.queue_size, out_dim, args.momentum, device) if args.method == "mocov2" else None
    )

    def contrastive_loss():
        # Two forward passes, not one over the concatenated views, so that batch norm sees each view's own
        # statistics as in SynthPair's createSimClr and createMocoV2.
        if moco:
            return moco.loss(view1, view2, args.temperature)
        return nt_xent(model(view1), model(view2), args.temperature)

    def step():
        optimizer.zero_grad(set_to_none=True)
        if args.step == "decoder":
            with torch.no_grad():
                features = model.features(centre)
            loss = F.mse_loss(decoder(features), centre)
        elif args.step == "full":
            loss = contrastive_loss() + synthesis_loss(model, decoder, centre, perturbation, args)
        else:
            loss = contrastive_loss()
        loss.backward()
        optimizer.step()
        if moco:
            moco.after_step()
        # Reading the loss waits for the device to finish the step's queued work, the update included.
        return loss.item()

    warmup_times = []
    for _ in range(args.warmup):
        started = time.perf_counter()
        step()
        warmup_times.append(time.perf_counter() - started)
    times = []
    for _ in range(args.steps):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    step_seconds = statistics.median(times)
    on_device = (
        {
            "name": torch.cuda.get_device_name(device),
            # PyTorch's defaults run convolutions in TF32 on GPUs that have it, matrix products in FP32.
            "cudnnAllowTf32": torch.backends.cudnn.allow_tf32,
            "matmulAllowTf32": torch.backends.cuda.matmul.allow_tf32,
        }
        if device.type == "cuda"
        else {}
    )
    print(
        json.dumps(
            {
                "imagesPerSecond": args.batch / step_seconds,
                "stepMillis": step_seconds * 1000,
                "stepTimesMs": [seconds * 1000 for seconds in times],
                "warmupTimesMs": [seconds * 1000 for seconds in warmup_times],
                "parameters": sum(p.numel() for p in trained),
                # Kilobytes on Linux.
                "maxRssKiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "method": args.method,
                "step": args.step,
                "device": {"type": device.type, **on_device},
            }
        )
    )


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Independent reference values for SynthPair's Grad-CAM analysis (src/engine/analysis/gradcam.ts).

Run with Debian's PyTorch:  /usr/bin/python3 test/reference/gradcam.py
Writes test/fixtures/reference/gradcam.json for test/unit/analysis.test.ts.

Two views' feature maps A (N=3, h=w=4, C=6, non-negative like a ReLU stage's output) go through a small
differentiable SSL head written from the formulas: global average pooling, a linear projection, and SimCLR's
NT-Xent summed term by term. Autograd gives G = dL/dA; from it, written as pytorch-grad-cam computes them in
NCHW: the channel weights (signed, absolute, positive), the Grad-CAM and gradient x activation maps, and their
upsampling to the image with F.interpolate(bilinear, align_corners=False), checked here against the
half-pixel-centre formula written out, and normalised per image by the maximum.
"""

import json
import math
import pathlib

import numpy as np
import torch
import torch.nn.functional as F

SEED = 20240715
OUTPUT = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "reference" / "gradcam.json"
IMAGES, HEIGHT, WIDTH, CHANNELS, PROJECTION = 3, 4, 4, 6, 5
IMAGE_SIZE = (10, 13)  # scales 2.5 and 3.25, so half-pixel centres and corner alignment give different maps
TEMPERATURE = 0.5

rng = np.random.default_rng(SEED)
torch.set_default_dtype(torch.float64)  # reference values in double; the inputs themselves are float32 values


def nhwc_maps():
    return np.abs(rng.standard_normal((IMAGES, HEIGHT, WIDTH, CHANNELS))).astype(np.float32)


maps_nhwc = [nhwc_maps(), nhwc_maps()]
weight = (rng.standard_normal((CHANNELS, PROJECTION)) * 0.8).astype(np.float32)
bias = (rng.standard_normal(PROJECTION) * 0.1).astype(np.float32)


def nt_xent(z1, z2, temperature):
    # SimCLR eq. 1 term by term: l_i = -log(exp(s_i,p(i)) / sum_{j != i} exp(s_ij)), averaged over the 2N anchors.
    u = torch.cat([z1, z2])
    u = u / u.norm(dim=1, keepdim=True)
    count = u.shape[0]
    total = 0
    for i in range(count):
        positive = (i + count // 2) % count
        denominator = sum(torch.exp(u[i] @ u[j] / temperature) for j in range(count) if j != i)
        total = total - torch.log(torch.exp(u[i] @ u[positive] / temperature) / denominator)
    return total / count


# Autograd in NCHW, the layout pytorch-grad-cam's activations and gradients have.
activations = [torch.tensor(a.astype(np.float64)).permute(0, 3, 1, 2).requires_grad_(True) for a in maps_nhwc]
w = torch.tensor(weight.astype(np.float64))
b = torch.tensor(bias.astype(np.float64))
projections = [a.mean(dim=(2, 3)) @ w + b for a in activations]
loss = nt_xent(projections[0], projections[1], TEMPERATURE)
gradients = torch.autograd.grad(loss, activations)
activations = [a.detach() for a in activations]

both = torch.cat(gradients)  # the 2N (image, view) pairs
per_image_weights = both.mean(dim=(2, 3))
importance = {
    "signed": per_image_weights.mean(dim=0),
    "absolute": per_image_weights.abs().mean(dim=0),
    "positive": per_image_weights.clamp(min=0).mean(dim=0),
}


def grad_cam(a, g):
    # pytorch-grad-cam GradCAM: weights = mean of the gradient over (h, w); cam = ReLU(sum_k w_k A_k).
    weights = g.mean(dim=(2, 3), keepdim=True)
    return torch.relu((weights * a).sum(dim=1))


def gradient_times_activation(a, g):
    return torch.relu((g * a).sum(dim=1))


def half_pixel_bilinear(maps, size):
    # The align_corners=False rule written out: source = (destination + 0.5) * in / out - 0.5, clamped at 0.
    n, height, width = maps.shape
    out_height, out_width = size
    result = np.zeros((n, out_height, out_width))

    def source(index, size_in, size_out):
        position = max((index + 0.5) * size_in / size_out - 0.5, 0.0)
        low = min(int(math.floor(position)), size_in - 1)
        return low, min(low + 1, size_in - 1), position - low

    for y in range(out_height):
        y0, y1, fy = source(y, height, out_height)
        for x in range(out_width):
            x0, x1, fx = source(x, width, out_width)
            top = maps[:, y0, x0] * (1 - fx) + maps[:, y0, x1] * fx
            bottom = maps[:, y1, x0] * (1 - fx) + maps[:, y1, x1] * fx
            result[:, y, x] = top * (1 - fy) + bottom * fy
    return result


def upsample(maps, align_corners=False):
    return F.interpolate(maps.unsqueeze(1), size=IMAGE_SIZE, mode="bilinear", align_corners=align_corners)[:, 0]


def normalise(maps):
    peak = maps.amax(dim=(1, 2), keepdim=True)
    return torch.where(peak > 0, maps / torch.where(peak > 0, peak, torch.ones_like(peak)), torch.zeros_like(maps))


def flat(tensor):
    return tensor.reshape(-1).tolist()


views = []
for a, g in zip(activations, gradients):
    view = {}
    for name, cam in (("gradCam", grad_cam), ("gradientTimesActivation", gradient_times_activation)):
        raw = cam(a, g)
        upsampled = upsample(raw)
        written_out = half_pixel_bilinear(raw.numpy(), IMAGE_SIZE)
        assert np.allclose(upsampled.numpy(), written_out, rtol=0, atol=1e-12), name
        view[name] = {
            "raw": flat(raw),
            "normalised": flat(normalise(upsampled)),
            "normalisedAlignCorners": flat(normalise(upsample(raw, align_corners=True))),
        }
    views.append(view)

reference = {
    "seed": SEED,
    "shape": [IMAGES, HEIGHT, WIDTH, CHANNELS],
    "imageSize": list(IMAGE_SIZE),
    "temperature": TEMPERATURE,
    "inputs": {
        "featureMaps": [m.reshape(-1).tolist() for m in maps_nhwc],
        "weight": weight.tolist(),
        "bias": bias.tolist(),
    },
    "loss": loss.item(),
    "gradients": [flat(g.permute(0, 2, 3, 1)) for g in gradients],
    "importance": {name: value.tolist() for name, value in importance.items()},
    "views": views,
}

OUTPUT.parent.mkdir(parents=True, exist_ok=True)
OUTPUT.write_text(json.dumps(reference, separators=(",", ":")) + "\n")
print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size} bytes)")
print("loss", reference["loss"], "importance (absolute)", reference["importance"]["absolute"])

"""Features h of torchvision ResNets with seeded random weights, for the check that SynthPair computes the same.

Usage: python3 torch_features.py OUT_DIR SIZE COUNT. For resnet18 and resnet50, writes:
  <arch>.pth           the state dict (batch-norm statistics randomised, so that eval mode uses them)
  <arch>-h.bin         h of the images in eval mode: COUNT × features float32, the pooled output of layer4
and once images.bin: COUNT × SIZE × SIZE × 3 float32 (channels last, as SynthPair takes them), seeded normal.
"""
import os
import sys

import numpy
import torch
import torchvision

out, size, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.manual_seed(0)
images = torch.randn(count, size, size, 3)
images.numpy().astype('<f4').tofile(os.path.join(out, 'images.bin'))
for arch in ('resnet18', 'resnet50'):
    model = getattr(torchvision.models, arch)()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 2)
    model.eval()
    torch.save(model.state_dict(), os.path.join(out, arch + '.pth'))
    trunk = torch.nn.Sequential(*list(model.children())[:-2])
    with torch.no_grad():
        h = trunk(images.permute(0, 3, 1, 2)).mean(dim=(2, 3))
    h.numpy().astype('<f4').tofile(os.path.join(out, arch + '-h.bin'))

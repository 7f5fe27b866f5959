"""Features h of torchvision-layout ResNets with seeded random weights, for the check that SynthPair computes the same.

Usage: python3 torch_features.py OUT_DIR SIZE COUNT [IMAGES]. For each net below, writes:
  <name>.pth           the state dict (batch-norm statistics randomised, so that eval mode uses them)
  <name>-h.bin         h of the images in eval mode: COUNT × features float32, the pooled output of layer4
                       after ImageNet's normalisation, as torchvision's pretrained weights are used
and once images.bin: COUNT × SIZE × SIZE × 3 float32 in [0, 1] (channels last, as SynthPair takes them),
seeded uniform, or the images of the file IMAGES (the same layout) when it is given. The nets: torchvision's
own resnet18 and resnet50, and ResNet-18 at half width (32 to 256 channels) in torchvision's layout, with its
7×7 stem (resnet18-half-imagenet) and with SynthPair's 3×3 stride-1 stem without max-pool
(resnet18-half-cifar), as scripts/synthpair_resnet.py builds them.
"""
import os
import sys

import numpy
import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'scripts'))
from synthpair_resnet import ResNet  # noqa: E402

out, size, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.manual_seed(0)
normalize = torchvision.transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
images = torch.rand(count, size, size, 3)
if len(sys.argv) > 4:
    images = torch.from_numpy(numpy.fromfile(sys.argv[4], dtype='<f4').reshape(count, size, size, 3))
images.numpy().astype('<f4').tofile(os.path.join(out, 'images.bin'))
nets = {
    'resnet18': torchvision.models.resnet18,
    'resnet50': torchvision.models.resnet50,
    'resnet18-half-imagenet': lambda: ResNet('resnet18', 0.5, 'imagenet'),
    'resnet18-half-cifar': lambda: ResNet('resnet18', 0.5, 'cifar'),
}
for name, build in nets.items():
    model = build()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 2)
    model.eval()
    torch.save(model.state_dict(), os.path.join(out, name + '.pth'))
    trunk = torch.nn.Sequential(*list(model.children())[:-2])
    with torch.no_grad():
        normalised = normalize(images.permute(0, 3, 1, 2))
        h = trunk(normalised).mean(dim=(2, 3))
    h.numpy().astype('<f4').tofile(os.path.join(out, name + '-h.bin'))

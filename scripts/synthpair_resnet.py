"""The ResNet SynthPair builds for model.arch, model.width and model.stem, in torchvision's layout and names.

torchvision's ResNet class hard-codes 64, 128, 256 and 512 channels and its 7x7 stem, so a narrower net or
one with SynthPair's 'cifar' stem is assembled here from torchvision's own blocks, under the module names
torchvision's state dicts use (conv1 bn1 layer1.0.conv1 ... layer4.1.bn2 fc): torch.save of its state dict
writes a file SynthPair's model.init reads like any torchvision checkpoint. src/engine/models/resnet.ts is
what this mirrors: its rounding of channel counts and its stems with torchvision's symmetric padding.

Imported by scripts/pretrain-supervised.py and test/reference/torch_features.py.
"""

import math

from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

ARCHITECTURES = {"resnet18": (BasicBlock, [2, 2, 2, 2]), "resnet50": (Bottleneck, [3, 4, 6, 3])}
STEMS = ("imagenet", "cifar")


def stage_channels(width):
    # JavaScript's Math.round (halves go up, where Python's round goes to even) and the floor of 8 channels,
    # as resnet.ts rounds them.
    return [max(8, math.floor(channels * width + 0.5)) for channels in (64, 128, 256, 512)]


class ResNet(nn.Module):
    """torchvision's ResNet at any width, with either stem, ending in an `fc` classifier of `classes` outputs."""

    def __init__(self, arch="resnet18", width=1.0, stem="imagenet", classes=1000):
        super().__init__()
        block, counts = ARCHITECTURES[arch]
        channels = stage_channels(width)
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(3, channels[0], kernel_size=7, stride=2, padding=3, bias=False)
        elif stem == "cifar":
            self.conv1 = nn.Conv2d(3, channels[0], kernel_size=3, stride=1, padding=1, bias=False)
        else:
            raise ValueError(f"stem must be one of {', '.join(STEMS)}, not {stem}")
        self.bn1 = nn.BatchNorm2d(channels[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1) if stem == "imagenet" else nn.Identity()
        in_channels = channels[0]
        for stage, (stage_width, count) in enumerate(zip(channels, counts)):
            blocks = []
            for index in range(count):
                stride = 2 if index == 0 and stage > 0 else 1
                out_channels = stage_width * block.expansion
                downsample = (
                    nn.Sequential(
                        nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                        nn.BatchNorm2d(out_channels),
                    )
                    if stride != 1 or in_channels != out_channels
                    else None
                )
                blocks.append(block(in_channels, stage_width, stride, downsample))
                in_channels = out_channels
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, classes)
        # torchvision's initialisation, so that training from here starts as training its ResNet would.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def features(self, images):
        """h: layer4's output averaged over its positions, what SynthPair's encoder returns as its features."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.avgpool(x).flatten(1)

    def forward(self, images):
        return self.fc(self.features(images))

"""Loads a file `synthpair export` wrote as a PyTorch user would, strictly, to check the export against PyTorch.

Usage:
  python3 torch_exported.py same EXPORTED REFERENCE
      Checks that EXPORTED holds exactly the tensors of REFERENCE (a torchvision state dict .pth) but its
      classifier fc.*: the same names, dtypes, shapes and values. Prints "same".
  python3 torch_exported.py features EXPORTED IMAGES COUNT SIZE OUT [--stem cifar] [--width W] [--imagenet-norm]
      Builds torchvision's resnet18 (with a 3x3 stride-1 conv1 and no max pool for --stem cifar, every stage
      W times as wide for --width), replaces fc with nn.Identity(), loads EXPORTED with
      load_state_dict(strict=True) after checking every dtype against the model's own, and writes h of the
      COUNT x SIZE x SIZE x 3 float32 images of IMAGES (channels last, in [0, 1]) to OUT as float32, in eval
      mode. Prints the safetensors file's __metadata__ as JSON ({} for a .pth).
A .safetensors file is read with plain Python (struct and json): the safetensors package may be missing.
"""
import collections
import json
import struct
import sys

import numpy
import torch
import torchvision


def load(file):
    if not file.endswith('.safetensors'):
        return torch.load(file), {}
    with open(file, 'rb') as stream:
        (length,) = struct.unpack('<Q', stream.read(8))
        header = json.loads(stream.read(length))
        data = stream.read()
    dtypes = {'F32': numpy.float32, 'I64': numpy.int64}
    metadata = header.pop('__metadata__', {})
    state = collections.OrderedDict()
    for name, entry in header.items():
        start, end = entry['data_offsets']
        array = numpy.frombuffer(data[start:end], dtype=numpy.dtype(dtypes[entry['dtype']]).newbyteorder('<'))
        state[name] = torch.from_numpy(array.reshape(entry['shape']).copy())
    return state, metadata


def same(exported_file, reference_file):
    exported, _ = load(exported_file)
    reference = collections.OrderedDict((k, v) for k, v in torch.load(reference_file).items() if not k.startswith('fc.'))
    assert sorted(exported) == sorted(reference), (sorted(set(exported) ^ set(reference)))
    for name, tensor in reference.items():
        theirs = exported[name]
        assert theirs.dtype == tensor.dtype, (name, theirs.dtype, tensor.dtype)
        assert theirs.shape == tensor.shape, (name, theirs.shape, tensor.shape)
        assert torch.equal(theirs, tensor), name
    print('same')


def resnet18(stem, width):
    model = torchvision.models.resnet18()
    if stem != 'cifar' and width == 1:
        return model
    channels = [max(8, round(c * width)) for c in (64, 128, 256, 512)]
    model.inplanes = channels[0]
    if stem == 'cifar':
        model.conv1 = torch.nn.Conv2d(3, channels[0], 3, 1, 1, bias=False)
        model.maxpool = torch.nn.Identity()
    else:
        model.conv1 = torch.nn.Conv2d(3, channels[0], 7, 2, 3, bias=False)
    model.bn1 = torch.nn.BatchNorm2d(channels[0])
    block = torchvision.models.resnet.BasicBlock
    model.layer1 = model._make_layer(block, channels[0], 2)
    model.layer2 = model._make_layer(block, channels[1], 2, stride=2)
    model.layer3 = model._make_layer(block, channels[2], 2, stride=2)
    model.layer4 = model._make_layer(block, channels[3], 2, stride=2)
    return model


def features(exported_file, images_file, count, size, out, options):
    stem = options[options.index('--stem') + 1] if '--stem' in options else 'imagenet'
    width = float(options[options.index('--width') + 1]) if '--width' in options else 1.0
    model = resnet18(stem, width)
    model.fc = torch.nn.Identity()
    state, metadata = load(exported_file)
    own = model.state_dict()
    for name, tensor in state.items():
        assert name not in own or tensor.dtype == own[name].dtype, (name, tensor.dtype, own[name].dtype)
    model.load_state_dict(state, strict=True)
    model.eval()
    images = torch.from_numpy(numpy.fromfile(images_file, dtype='<f4').reshape(count, size, size, 3))
    images = images.permute(0, 3, 1, 2)
    if '--imagenet-norm' in options:
        normalize = torchvision.transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
        images = normalize(images)
    with torch.no_grad():
        h = model(images)
    h.numpy().astype('<f4').tofile(out)
    print(json.dumps(metadata))


if sys.argv[1] == 'same':
    same(sys.argv[2], sys.argv[3])
else:
    features(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7:])

"""Writes weights files as PyTorch users have them, for the importer's tests, and what each must read back as.

Usage: python3 torch_weights.py OUT_DIR. Writes, with seeded random values and no download:
  resnet18.pth            torchvision ResNet-18's state dict, as torch.save writes it
  checkpoint.pth          the same under 'state_dict' with DataParallel's 'module.' prefix, beside an epoch
  kinds.pth               float16, bfloat16, float64 and int64 tensors, a transposed (non-contiguous) view,
                          a view into a shared storage at an offset, and an nn.Parameter
  resnet18.safetensors    the state dict in the safetensors format, written with plain Python
  evil.pth                a pickle whose loading would run a shell command touching OUT_DIR/ran
  expected.json, .bin     every tensor of the files above: shapes and offsets, and the values as float32
"""
import collections
import json
import os
import struct
import sys

import torch
import torchvision

out = sys.argv[1]
torch.manual_seed(0)
model = torchvision.models.resnet18()
# torchvision initialises BN statistics to 0 and 1: give them values a layout mix-up would show.
with torch.no_grad():
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2)
            module.num_batches_tracked.fill_(7)
state = model.state_dict()
torch.save(state, os.path.join(out, 'resnet18.pth'))
torch.save(
    {'epoch': 3, 'arch': 'resnet18', 'state_dict': collections.OrderedDict(('module.' + k, v) for k, v in state.items())},
    os.path.join(out, 'checkpoint.pth'),
)

base = torch.randn(4, 6)
shared = torch.arange(20, dtype=torch.float32)
kinds = collections.OrderedDict(
    half=torch.randn(3, 5).half(),
    bfloat=torch.randn(2, 3).bfloat16(),
    double=torch.randn(7, dtype=torch.float64),
    counts=torch.tensor([3, 1_000_000], dtype=torch.int64),
    transposed=base.t(),
    slice=shared[5:11].view(2, 3),
    parameter=torch.nn.Parameter(torch.randn(2, 2)),
)
torch.save(kinds, os.path.join(out, 'kinds.pth'))

names = {torch.float32: 'F32', torch.int64: 'I64'}
header, blobs, offset = {}, [], 0
for name, tensor in state.items():
    data = tensor.contiguous().numpy().tobytes()
    header[name] = {'dtype': names[tensor.dtype], 'shape': list(tensor.shape), 'data_offsets': [offset, offset + len(data)]}
    blobs.append(data)
    offset += len(data)
header['__metadata__'] = {'format': 'pt'}
text = json.dumps(header).encode()
text += b' ' * (-len(text) % 8)
with open(os.path.join(out, 'resnet18.safetensors'), 'wb') as stream:
    stream.write(struct.pack('<Q', len(text)))
    stream.write(text)
    for blob in blobs:
        stream.write(blob)


class Payload:
    def __reduce__(self):
        return (os.system, ('touch ' + os.path.join(out, 'ran'),))


torch.save({'conv1.weight': torch.zeros(1), 'payload': Payload()}, os.path.join(out, 'evil.pth'))

# Expected values as raw little-endian float32, indexed by expected.json: JSON would be 260 MB of text.
index, offset = {}, 0
with open(os.path.join(out, 'expected.bin'), 'wb') as stream:
    for file, tensors in (('resnet18', state), ('kinds', kinds)):
        index[file] = {}
        for name, tensor in tensors.items():
            data = tensor.detach().float().contiguous().numpy().astype('<f4').tobytes()
            index[file][name] = {'shape': list(tensor.shape), 'offset': offset, 'length': tensor.numel()}
            stream.write(data)
            offset += tensor.numel()
with open(os.path.join(out, 'expected.json'), 'w') as stream:
    json.dump(index, stream)

"""Trains a supervised ResNet on some classes of an image-folder dataset and writes weights SynthPair's model.init reads.

The first part of the transfer study: an encoder pretrained with labels on half A of the birds' species, for
SynthPair's runs on the other half, B, to start from (model.init). The net is exactly the one
SynthPair builds for model.arch, model.width and model.stem (scripts/synthpair_resnet.py), in torchvision's
layout, so the written state dict loads with those three keys and model.init set to the file; its `fc`
classifier is saved too, and SynthPair sets it aside. Images are normalised with ImageNet's mean and std, as
SynthPair's model.inputNorm `auto` does for an encoder from a weights file.

The dataset is read where it is (never copied): `<data>/train/<class>/*.jpg` and `<data>/test/<class>/*.jpg`.
--classes picks classes by index into the sorted names of train/'s folders, both ends included: with the
100 species of cub200-subset100-96, half A is 0-49 (the default) and half B is 50-99.

Usage, from the repository root (python3 is Debian's, with torch 1.13 and torchvision 0.14):

  python3 scripts/pretrain-supervised.py --out /tmp/birds-A.pth
      trains on half A with the defaults and writes the weights: 291 s on 2 shared cores, 18.2 % top-1 on
      A's test split (50 species; chance is 2 %).
  python3 scripts/pretrain-supervised.py --classes 50-99 --link-split /tmp/birds-B
      trains nothing: makes /tmp/birds-B/train/<class> and /tmp/birds-B/test/<class>, symbolic links to the
      chosen classes' folders, a dataset of those classes alone for SynthPair's data.root (it follows linked
      class folders). Running it again with the same classes leaves the folder as it is.
"""

import argparse
import math
import os
import sys
import time

# Spinning OpenMP threads stall each other on cores that other processes share (docs/performance.md); set
# before torch starts OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402
from torchvision import transforms  # noqa: E402

from synthpair_resnet import ARCHITECTURES, STEMS, ResNet  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIRDS = os.path.join(REPO_ROOT, "..", "shared", "datasets", "cub200-subset100-96")
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
# Crops keep at least a quarter of the image: torchvision's default of 8 % leaves little of a bird in a few
# epochs on 30 images per class.
CROP_SCALE = (0.25, 1.0)


def class_range(text):
    first, _, last = text.partition("-")
    try:
        bounds = int(first), int(last or first)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FIRST-LAST, such as 0-49, not {text}") from None
    if bounds[0] < 0 or bounds[1] < bounds[0]:
        raise argparse.ArgumentTypeError(f"expected 0 <= FIRST <= LAST, not {text}")
    return bounds


def chosen_classes(data, bounds):
    """The names of the chosen classes: indices into the sorted folder names of data/train, both ends included."""
    names = sorted(entry.name for entry in os.scandir(os.path.join(data, "train")) if entry.is_dir())
    if bounds[1] >= len(names):
        sys.exit(f"--classes {bounds[0]}-{bounds[1]}: {data}/train has {len(names)} classes (0-{len(names) - 1})")
    return names[bounds[0] : bounds[1] + 1]


def link_split(data, classes, folder):
    """Makes folder/{train,test}/<class> links to data's class folders; refuses a folder holding anything else."""
    wanted = {
        os.path.join(split, name): os.path.abspath(os.path.join(data, split, name))
        for split in ("train", "test")
        for name in classes
    }
    present = {
        os.path.join(split, entry.name): os.path.realpath(entry.path)
        for split in ("train", "test")
        if os.path.isdir(os.path.join(folder, split))
        for entry in os.scandir(os.path.join(folder, split))
    }
    if present and present != {link: os.path.realpath(target) for link, target in wanted.items()}:
        sys.exit(f"{folder} already holds other files or classes; give an empty or new folder")
    if present:
        print(f"{folder} already links these {len(classes)} classes")
        return
    for link, target in wanted.items():
        os.makedirs(os.path.dirname(os.path.join(folder, link)), exist_ok=True)
        os.symlink(target, os.path.join(folder, link), target_is_directory=True)
    print(f"{folder}: train/ and test/ link {len(classes)} classes, {classes[0]} to {classes[-1]}")


def load_images(data, split, classes):
    """Every image of the classes, decoded once: the whole half is a few tens of megabytes."""
    images, labels = [], []
    for label, name in enumerate(classes):
        folder = os.path.join(data, split, name)
        for file in sorted(os.listdir(folder)):
            with Image.open(os.path.join(folder, file)) as image:
                images.append(image.convert("RGB"))
            labels.append(label)
    return images, torch.tensor(labels)


def batches(images, labels, transform, batch_size, order):
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        inputs = torch.stack([transform(images[i]) for i in indices])
        yield inputs.contiguous(memory_format=torch.channels_last), labels[indices]


@torch.no_grad()
def top1(model, images, labels, transform, batch_size):
    model.eval()
    correct = 0
    for inputs, targets in batches(images, labels, transform, batch_size, torch.arange(len(images))):
        correct += (model(inputs).argmax(dim=1) == targets).sum().item()
    return correct / len(images)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=BIRDS, help="image-folder dataset with train/ and test/ (default: %(default)s)")
    parser.add_argument("--classes", type=class_range, default=(0, 49), help="FIRST-LAST class indices (default 0-49)")
    parser.add_argument("--link-split", metavar="FOLDER", help="only link the chosen classes into FOLDER, as above")
    parser.add_argument("--out", help="where to write the state dict (.pth)")
    parser.add_argument("--arch", choices=sorted(ARCHITECTURES), default="resnet18", help="model.arch")
    parser.add_argument("--width", type=float, default=0.5, help="model.width (default %(default)s)")
    parser.add_argument("--stem", choices=STEMS, default="cifar", help="model.stem (default %(default)s)")
    parser.add_argument("--image-size", type=int, default=64, help="data.imageSize (default %(default)s)")
    parser.add_argument("--epochs", type=int, default=6, help="(default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=64, help="(default %(default)s)")
    parser.add_argument("--lr", type=float, default=0.1, help="SGD's peak rate, cosine to 0 (default %(default)s)")
    parser.add_argument("--weight-decay", type=float, default=5e-4, help="(default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="(default %(default)s)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="(default: every core, %(default)s)")
    parser.add_argument("--eval-every", type=int, default=2, help="epochs between test evaluations (default %(default)s)")
    args = parser.parse_args()
    classes = chosen_classes(args.data, args.classes)
    if args.link_split:
        link_split(args.data, classes, args.link_split)
        return
    if not args.out:
        parser.error("--out is required to train (or give --link-split)")

    started = time.perf_counter()
    # torchvision's random transforms draw from torch's generator too.
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    normalize = transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    augment = transforms.Compose(
        [
            transforms.RandomResizedCrop(args.image_size, scale=CROP_SCALE),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            normalize,
        ]
    )
    # As SynthPair evaluates (src/engine/data/decode.ts): the shorter side resized to 256/224 of the image
    # size, then the centre cropped, as torchvision's Resize(256) + CenterCrop(224).
    plain = transforms.Compose(
        [
            transforms.Resize(math.floor(args.image_size * 256 / 224 + 0.5)),
            transforms.CenterCrop(args.image_size),
            transforms.ToTensor(),
            normalize,
        ]
    )
    train_images, train_labels = load_images(args.data, "train", classes)
    test_images, test_labels = load_images(args.data, "test", classes)
    print(
        f"{args.arch} width {args.width}, {args.stem} stem, {args.image_size} px: {len(classes)} classes "
        f"({classes[0]} to {classes[-1]}), {len(train_images)} training and {len(test_images)} test images; "
        f"{args.epochs} epochs of batch {args.batch_size}, SGD lr {args.lr}, {torch.get_num_threads()} threads"
    )

    # Channels last, so that oneDNN's convolutions need not reorder every input: about 1.5 times faster here.
    model = ResNet(args.arch, args.width, args.stem, classes=len(classes)).to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=args.weight_decay)
    steps_per_epoch = -(-len(train_images) // args.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs * steps_per_epoch)
    for epoch in range(1, args.epochs + 1):
        model.train()
        total_loss, correct = 0.0, 0
        order = torch.randperm(len(train_images))
        for inputs, targets in batches(train_images, train_labels, augment, args.batch_size, order):
            logits = model(inputs)
            loss = F.cross_entropy(logits, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += loss.item() * len(targets)
            correct += (logits.argmax(dim=1) == targets).sum().item()
        line = (
            f"epoch {epoch}/{args.epochs}: loss {total_loss / len(train_images):.3f}, "
            f"train top-1 {100 * correct / len(train_images):.1f} %"
        )
        if epoch % args.eval_every == 0 or epoch == args.epochs:
            accuracy = top1(model, test_images, test_labels, plain, args.batch_size)
            line += f", test top-1 {100 * accuracy:.1f} %"
        print(f"{line} ({time.perf_counter() - started:.0f} s)", flush=True)

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    # In the usual layout, as torchvision's files are, for readers that take strides less well than SynthPair's.
    torch.save({name: tensor.contiguous() for name, tensor in model.state_dict().items()}, args.out)
    print(
        f"wrote {args.out}: load it with model.arch {args.arch}, model.width {args.width}, "
        f"model.stem {args.stem}, model.init {args.out}, data.imageSize {args.image_size}"
    )
    print(f"wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

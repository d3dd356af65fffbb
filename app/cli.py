"""The `ifealid` command line: create and validate dataset ZIPs, extract feature maps."""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from .errors import ConstantDataWarning, DatasetError
from .extract import PREPROCESSING_HELP  # no torch: extract.py imports it inside its functions
from .reader import read_dataset
from .writer import save_dataset


def _load_features(path: Path, key: str | None) -> np.ndarray:
    if not path.exists():
        raise DatasetError(f"no such file: {path}", rule="not-found")
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise DatasetError(f"{path} is not a readable .npy or .npz file: {exc}", rule="input") from None
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        keys = list(loaded.keys())
        if key is None:
            if len(keys) != 1:
                raise DatasetError(
                    f"{path} holds {len(keys)} arrays ({', '.join(keys) or 'none'}): choose one with --key",
                    rule="input",
                )
            key = keys[0]
        if key not in keys:
            raise DatasetError(f"{path} has no array {key!r}; it has {', '.join(keys)}", rule="input")
        return loaded[key]


def cmd_create(args) -> int:
    source = Path(args.features)
    out = Path(args.out) if args.out else source.with_name(f"{source.name}.{args.precision}.zip")
    name = args.name or source.name
    array = _load_features(source, args.key)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConstantDataWarning)
        result = save_dataset(array, out, precision=args.precision, overlay=args.overlay, name=name)
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    height, width, features = result.values.shape
    print(f"wrote {out}: {name}, {height}×{width}×{features} (H×W×C) @ {args.precision} bit, "
          f"values {result.minimum:.6g} … {result.maximum:.6g}"
          + (", with overlay" if args.overlay else ""))
    return 0


def cmd_validate(args) -> int:
    dataset = read_dataset(args.dataset)
    print(dataset.summary())
    return 0


def cmd_extract(args) -> int:
    # extract.py imports torch only inside its functions; a missing torch is an ExtractError.
    from . import extract

    if args.threads:
        extract.require_torch().set_num_threads(args.threads)
    if args.list_layers:
        loaded = extract.load_model(args.model, "none")  # the names do not depend on the weights
        defaults = set(loaded.default_layers)
        for name, module in loaded.module.named_modules():
            if name:
                print(f"{name}\t{type(module).__name__}" + ("\t(default)" if name in defaults else ""))
        return 0
    if not args.images:
        raise DatasetError("no image given (ifealid extract IMAGE…)", rule="input")
    for image in args.images:  # before the model takes seconds to load
        if not Path(image).is_file():
            raise DatasetError(f"no such image: {image}", rule="not-found")
    started = time.perf_counter()
    loaded = extract.load_model(args.model, args.weights)
    print(f"{loaded.name}: {loaded.weights}", file=sys.stderr)
    results = extract.extract_images(
        args.images, loaded, args.layers, out=args.out, precision=args.precision, npz=args.npz,
        max_side=args.max_side, progress=not args.quiet, log=print,
    )
    for item in results:
        for message in item.warnings:
            print(f"warning: {item.path}: {message}", file=sys.stderr)
    print(f"{len(results)} datasets from {len(args.images)} image(s) in {time.perf_counter() - started:.1f} s",
          file=sys.stderr)
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ifealid", description="IFeaLiD dataset tools")
    sub = parser.add_subparsers(dest="command", required=True)

    create = sub.add_parser(
        "create",
        help="make a dataset ZIP from an (H, W, C) feature array",
        description="Quantise an (H, W, C) array (global min-max) and write an IFeaLiD dataset ZIP "
                    "that this app and the original both open.",
    )
    create.add_argument("features", help="feature array: .npy, or .npz holding one array (or use --key)")
    create.add_argument("-n", "--name", help="display name (default: the input file's name)")
    create.add_argument("-p", "--precision", type=int, choices=(8, 16, 32), default=8,
                        help="bits per stored value (default 8)")
    create.add_argument("-o", "--overlay", help="image shown under the heat map (any format Pillow reads)")
    create.add_argument("--out", help="output ZIP (default: <input>.<precision>.zip beside the input)")
    create.add_argument("--key", help="which array of an .npz file to use")
    create.set_defaults(func=cmd_create)

    validate = sub.add_parser("validate", help="check a dataset ZIP and print a one-line summary",
                              description="Check every rule of the dataset format. Exit status 0 when valid.")
    validate.add_argument("dataset", help="dataset ZIP")
    validate.set_defaults(func=cmd_validate)

    extract = sub.add_parser(
        "extract",
        help="run a CNN on images and write each layer's feature map as a dataset ZIP",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=_wrap("Run a torchvision model (or efficientnet-lite0) on the CPU, capture the named "
                          "layers' outputs with forward hooks and write <image>.<layer>.zip per image and "
                          "layer, with the image as overlay. The default reproduces the paper: ResNet101 "
                          "conv2_x, conv3_x, conv4_x (layer1-layer3: 256, 512, 1024 channels at strides 4, "
                          "8, 16). Needs torch and torchvision: pip install 'ifealid[extract]'."),
        epilog=_wrap(PREPROCESSING_HELP),
    )
    extract.add_argument("images", nargs="*", metavar="IMAGE", help="images (any format Pillow reads)")
    extract.add_argument("--model", default="resnet101",
                         help="any torchvision classification model (resnet50, vgg16, convnext_tiny, …) or "
                              "efficientnet-lite0 (default: resnet101)")
    extract.add_argument("--layers",
                         help="comma-separated module names, dotted for nested ones (layer3.5.conv2); default: "
                              "layer1,layer2,layer3 for ResNets; stage2,stage3,stage5,head for efficientnet-lite0 "
                              "(stem, stage1-stage7, head)")
    extract.add_argument("--weights", default="default", metavar="default|none|FILE",
                         help="default: the pretrained weights (torch hub cache, else downloaded; "
                              "efficientnet-lite0: those in its package); none: random (seeded); FILE: a "
                              "state dict saved with torch.save")
    extract.add_argument("--out", metavar="DIR", help="output folder (default: beside each image)")
    extract.add_argument("-p", "--precision", type=int, choices=(8, 16, 32), default=8,
                         help="bits per stored value (default 8)")
    extract.add_argument("--npz", action="store_true",
                         help="also write the original's intermediate files: <image>.C1.npz (conv2_x), .C2.npz "
                              "(conv3_x), .C3.npz (conv4_x), (H, W, C) float32; other layers <image>.<layer>.npz")
    extract.add_argument("--max-side", type=_positive, metavar="N",
                         help="shrink images whose longer side exceeds N pixels (default: no resizing)")
    extract.add_argument("--threads", type=_positive, metavar="N", help="torch CPU threads (default: torch's)")
    extract.add_argument("--list-layers", action="store_true",
                         help="print the model's layer names (and types) and exit")
    extract.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    extract.set_defaults(func=cmd_extract)
    return parser


def _wrap(text: str) -> str:
    import textwrap

    return "\n\n".join(textwrap.fill(part, 100) for part in text.split("\n\n"))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DatasetError as exc:
        where = f" [{exc.entry}]" if exc.entry else ""
        print(f"error{where}: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""The `ifealid` command line: create and validate dataset ZIPs, extract feature maps, compute
similarity maps and masks."""
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


def _coordinates(text: str, count: int, option: str, form: str) -> tuple[int, ...]:
    parts = text.split(",")
    try:
        if len(parts) != count:
            raise ValueError
        return tuple(int(part.strip()) for part in parts)
    except ValueError:
        raise DatasetError(f"{option} {text!r} must be {count} integers {form}", rule="input") from None


def cmd_map(args) -> int:
    from . import analysis, exports

    for option, value, options in (("--metric", args.metric, analysis.METRICS),
                                   ("--values", args.values, analysis.VALUES),
                                   ("--combine", args.combine, analysis.COMBINES)):
        if value not in options:
            raise DatasetError(f"{option} {value!r} is not one of {', '.join(options)}", rule="input")
    refs = [_coordinates(text, 2, "--ref", "X,Y") for text in args.ref]
    regions = [_coordinates(text, 4, "--region", "x0,y0,x1,y1") for text in args.region]
    if not refs and not regions:
        raise DatasetError("no reference: give --ref X,Y or --region x0,y0,x1,y1 (several allowed)", rule="input")
    out = Path(args.out)
    if out.suffix.lower() not in (".npy", ".png"):
        raise DatasetError(f"--out {args.out!r} must end in .npy or .png", rule="input")
    mask_path = Path(args.mask) if args.mask else None
    if mask_path is not None and mask_path.suffix.lower() not in (".npy", ".png"):
        raise DatasetError(f"--mask {args.mask!r} must end in .npy or .png", rule="input")
    threshold = None
    if args.threshold is not None:
        try:
            threshold = float(args.threshold)
        except ValueError:
            threshold = float("nan")
        if not np.isfinite(threshold):
            raise DatasetError(f"--threshold {args.threshold!r} must be a finite number", rule="input")
    if args.threshold is None and (args.connected or mask_path is not None):
        raise DatasetError(f"{'--connected' if args.connected else '--mask'} needs --threshold T", rule="input")
    if args.threshold is not None and mask_path is None:
        raise DatasetError("--threshold makes a mask: give --mask MASK.png or MASK.npy to write it", rule="input")
    dataset = read_dataset(args.dataset)
    try:
        smap = analysis.similarity_map(dataset, refs=refs, regions=regions, metric=args.metric,
                                       values=args.values, combine=args.combine)
        mask = None
        if args.threshold is not None:
            mask = analysis.similarity_mask(smap, threshold, args.metric, connected=args.connected,
                                            refs=refs, regions=regions)
    except DatasetError:
        raise
    except ValueError as exc:
        raise DatasetError(str(exc), rule="input") from None
    if out.suffix.lower() == ".npy":
        data = exports.encode_map_npy(smap)
    else:
        data = exports.encode_map_png16(smap, args.metric, args.values)
    _write(out, data)
    height, width = smap.shape
    count = len(refs) + len(regions)
    print(f"wrote {out}: {width}×{height} {args.metric} map of {args.values} values, "
          f"{count} reference{'s' if count > 1 else ''}"
          + (f" combined by {args.combine}" if count > 1 else "")
          + f", {float(smap.min()):.6g} … {float(smap.max()):.6g}")
    if mask is not None:
        _write(mask_path, exports.encode_mask_npy(mask) if mask_path.suffix.lower() == ".npy"
               else exports.encode_mask_png(mask))
        inside = int(mask.sum())
        print(f"wrote {mask_path}: {inside} of {mask.size} pixels ({100.0 * inside / mask.size:.2f} %) "
              f"{'≤' if args.metric == 'euclidean' else '≥'} {threshold:g}"
              + (", connected to the references" if args.connected else ""))
    return 0


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise DatasetError(f"cannot write {path}: {exc.strerror}", rule="output") from None


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

    smap = sub.add_parser(
        "map",
        help="compute a similarity map (and a mask) for reference pixels and regions",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=_wrap("Compute what the page shows, in float64: the similarity of every pixel to "
                          "the references (pixels and regions), combined, and optionally a mask from a "
                          "threshold. --out MAP.npy: float32 (H, W) in the metric's units; MAP.png: 16-bit "
                          "greyscale stretched from the map's min (0) to its max (65535), with min, max, "
                          "metric and values in PNG text chunks (ifealid:min, ifealid:max, "
                          "ifealid:metric, ifealid:values). --mask MASK.png: 0/255 8-bit; MASK.npy: bool. "
                          "Definitions: help(ifealid.analysis) in Python."),
    )
    smap.add_argument("dataset", help="dataset ZIP")
    smap.add_argument("--ref", action="append", default=[], metavar="X,Y",
                      help="a reference pixel (column X, row Y, from 0 at the top left); repeatable")
    smap.add_argument("--region", action="append", default=[], metavar="x0,y0,x1,y1",
                      help="a reference region, inclusive corners, clipped to the map; its reference is the "
                           "mean of its vectors (normalised first for angular, cosine, correlation); repeatable "
                           "(a negative corner needs '=': --region=-4,0,9,9)")
    smap.add_argument("--metric", default="angular",
                      help="angular (default), cosine, correlation, euclidean or dot")
    smap.add_argument("--values", default="stored",
                      help="stored (default: q / (2^P - 1)), true (the dataset's range), centred (minus each "
                           "channel's mean) or zscore (centred, divided by each channel's standard deviation)")
    smap.add_argument("--combine", default="max",
                      help="several references: max (default; for euclidean the minimum distance) or mean")
    smap.add_argument("--threshold", metavar="T",
                      help="mask = map ≥ T (euclidean: map ≤ T), written with --mask")
    smap.add_argument("--connected", action="store_true",
                      help="keep only the mask's 4-connected parts that contain a reference")
    smap.add_argument("--out", required=True, metavar="MAP.npy|MAP.png", help="the map's file")
    smap.add_argument("--mask", metavar="MASK.png|MASK.npy", help="the mask's file (needs --threshold)")
    smap.set_defaults(func=cmd_map)
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

"""The `ifealid` command line: create and validate dataset ZIPs, extract feature maps, compute
similarity maps and masks, and PCA pictures."""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from .errors import DatasetError
from .extract import PREPROCESSING_HELP, VIT_HELP  # no torch: extract.py imports it inside its functions
from .reader import read_dataset


def _inputs(path: Path) -> list:
    """The files `create` and `validate` read: the one given, and for an ENVI header its data
    file beside it (app/envi.py data_candidates: cube.img for cube.img.hdr; cube.img, cube.dat,
    cube, ... for cube.hdr)."""
    from . import envi, inputs

    files = [inputs.from_path(path)]
    if path.name.lower().endswith(".hdr"):
        for name in envi.data_candidates(path.name):
            if (path.parent / name).is_file():
                files.append(inputs.from_path(path.parent / name))
                break
    return files


def _source(args):
    """(Source, options) for an .npy, .npz or ENVI input, or (None, None) for a dataset ZIP."""
    from .inputs import check_options, identify

    path = Path(args.features if hasattr(args, "features") else args.dataset)
    if not path.exists():
        raise DatasetError(f"no such file: {path}", rule="not-found")
    source = identify(_inputs(path))
    options = check_options({"precision": getattr(args, "precision", 8), "layout": args.layout, "key": args.key})
    if source is not None and source.required(options):
        usable = [m.key for m in source.members if m.problem is None]
        raise DatasetError(f"{path} holds {len(usable)} arrays ({', '.join(usable)}): choose one with --key",
                           rule="input")
    return source, options


def cmd_create(args) -> int:
    from .inputs import convert_source
    from .reader import DEFAULT_MEMORY_BUDGET
    from .writer import overlay_jpeg, write_dataset

    source_path = Path(args.features)
    out = Path(args.out) if args.out else source_path.with_name(f"{source_path.name}.{args.precision}.zip")
    source, options = _source(args)
    if source is None:
        raise DatasetError(f"{source_path} is a dataset ZIP already (or not a file `create` reads: an .npy, .npz "
                           "or ENVI .hdr)" if source_path.suffix.lower() == ".zip" else
                           f"{source_path} is not an .npy, .npz or ENVI header (.hdr) file", rule="input")
    converted = convert_source(source, options, budget=DEFAULT_MEMORY_BUDGET)
    dataset = converted.dataset
    name = args.name or dataset.info.name  # the file's name (an .npz's array among several: file.npz[key])
    dataset.info = dataclasses.replace(dataset.info, name=name)
    if args.overlay:
        dataset.overlay_bytes, dataset.overlay_size = overlay_jpeg(args.overlay)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_dataset(out, dataset)
    for note in converted.notes + [str(w.message) for w in caught]:
        print(f"warning: {note}" if "stored as" in note or "channel axis" in note else f"note: {note}",
              file=sys.stderr)
    height, width, features = dataset.info.shape
    lo, hi = dataset.info.range
    axis = dataset.info.channel_axis
    print(f"wrote {out}: {name}, {height}×{width}×{features} (H×W×C) @ {args.precision} bit, "
          f"values {lo:.6g} … {hi:.6g}"
          + (f", {axis['name']} axis" if axis else "")
          + (", with overlay" if dataset.overlay_bytes is not None else ""))
    return 0


def cmd_validate(args) -> int:
    path = Path(args.dataset)
    if not path.exists():
        raise DatasetError(f"no such file: {path}", rule="not-found")
    source, options = _source(args)
    if source is None:
        dataset = read_dataset(args.dataset)
        print(dataset.summary())
        return 0
    # An input `create` converts: the headers, sizes and layout are checked, and the data is read
    # through once (every byte present and readable, at least one finite value).
    from .inputs import scan_source

    cube, lo, hi, masked = scan_source(source, options)
    height, width, features = cube.shape
    print(f"{cube.name}: {source.kind} {height}×{width}×{features} (H×W×C) {cube.dtype.name}, values {lo:.6g} … "
          f"{hi:.6g}" + (f", {masked} masked" if masked else "")
          + (f", {cube.channel_axis['name']} axis" if cube.channel_axis else "")
          + ": `ifealid create` converts it")
    for note in cube.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0


def cmd_extract(args) -> int:
    # extract.py imports torch only inside its functions; a missing torch is an ExtractError.
    from . import extract

    if args.threads:
        extract.require_torch().set_num_threads(args.threads)
    if args.list_layers:
        loaded = extract.load_model(args.model, "none")  # the names do not depend on the weights
        if loaded.kind == "vit":
            from .extract_vit import describe_layers

            print("\n".join(describe_layers(loaded)))
            return 0
        defaults = set(loaded.default_layers)
        for name, module in loaded.module.named_modules():
            if name:
                print(f"{name}\t{type(module).__name__}" + ("\t(default)" if name in defaults else ""))
        return 0
    if not args.images:
        raise DatasetError("no image given (ifealid extract IMAGE…)", rule="input")
    images = extract.expand_images(args.images)  # before the model takes seconds to load
    started = time.perf_counter()
    loaded = extract.load_model(args.model, args.weights)
    print(f"{loaded.name}: {loaded.weights}", file=sys.stderr)
    results = extract.extract_images(
        images, loaded, args.layers, out=args.out, precision=args.precision, npz=args.npz,
        max_side=args.max_side, size=args.size, facets=args.facet, norm=args.norm, stride=args.stride,
        joint_range=args.joint_range, progress=not args.quiet, log=print,
    )
    for item in results:
        for message in item.warnings:
            print(f"warning: {item.path}: {message}", file=sys.stderr)
    print(f"{len(results)} datasets from {len(images)} image(s) in {time.perf_counter() - started:.1f} s",
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
    foreign = []  # (path, (x, y)) of --ref-from
    for text in args.ref_from:
        path, sep, pixel = text.rpartition(":")
        if not sep or not path:
            raise DatasetError(f"--ref-from {text!r} must be OTHER.zip:X,Y", rule="input")
        foreign.append((path, _coordinates(pixel, 2, "--ref-from", "OTHER.zip:X,Y")))
    if not refs and not regions and not foreign:
        raise DatasetError("no reference: give --ref X,Y, --region x0,y0,x1,y1 or --ref-from OTHER.zip:X,Y "
                           "(several allowed)", rule="input")
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
        if foreign:
            # A comparison (ifealid.compare): one transform for this dataset and the others,
            # centred/z-scored values with statistics pooled over all of them.
            from . import compare

            paths = list(dict.fromkeys(path for path, _ in foreign))
            others = [read_dataset(path) for path in paths]
            channels = {o.info.features for o in others}
            if channels != {dataset.info.features}:
                listed = ", ".join(f"{p} has {o.info.features}" for p, o in zip(paths, others))
                raise DatasetError(f"--ref-from needs datasets of the same channel count: {args.dataset} has "
                                   f"{dataset.info.features} channels, {listed}", rule="input")
            smap = compare.similarity_maps(
                [dataset, *others],
                refs=[(0, x, y) for x, y in refs] + [(1 + paths.index(p), x, y) for p, (x, y) in foreign],
                regions=[(0, *r) for r in regions], metric=args.metric, values=args.values,
                combine=args.combine)[0]
        else:
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
    count = len(refs) + len(regions) + len(foreign)
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


def _pca_fit(text: str) -> dict:
    """--fit's keyword arguments for ifealid.pca: all, foreground[:T], region:x0,y0,x1,y1[;…],
    mask:FILE (a mask PNG, nonzero = in, or a .npy of bool or 0/1)."""
    kind, _, rest = text.partition(":")
    if kind == "all" and not rest:
        return {"fit": "all"}
    if kind == "foreground":
        if not rest:
            return {"fit": "foreground"}
        try:
            threshold = float(rest)
        except ValueError:
            threshold = float("nan")
        if not np.isfinite(threshold):
            raise DatasetError(f"--fit {text!r}: the threshold after 'foreground:' must be a finite number",
                               rule="input")
        return {"fit": "foreground", "threshold": threshold}
    if kind == "region" and rest:
        boxes = [_coordinates(part, 4, "--fit region:", "x0,y0,x1,y1") for part in rest.split(";")]
        return {"fit": "region", "regions": boxes}
    if kind == "mask" and rest:
        return {"fit": "region", "mask": _read_mask(Path(rest))}
    raise DatasetError(f"--fit {text!r} is not all, foreground[:T], region:x0,y0,x1,y1[;x0,y0,x1,y1…] or "
                       "mask:FILE", rule="input")


def _read_mask(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DatasetError(f"no such mask file: {path}", rule="not-found")
    try:
        if path.suffix.lower() == ".npy":
            mask = np.load(path, allow_pickle=False)
            if mask.dtype != bool and (mask.dtype.kind not in "iu" or not np.isin(mask, (0, 1)).all()):
                raise ValueError("it must hold bool or 0/1 values")
            return mask.astype(bool)
        from PIL import Image

        with Image.open(path) as image:
            return np.asarray(image.convert("L")) > 0
    except Exception as exc:  # any unreadable file: one line, no traceback
        raise DatasetError(f"cannot read the mask {path}: {exc}", rule="input") from None


def _pca_outputs(pattern: str, datasets: list[str]) -> list[Path]:
    """Each dataset's output file. One dataset: --out as given. Several: --out must hold {name}
    (the dataset file's name without .zip) or {index} (1, 2, … in the order given)."""
    if len(datasets) > 1 and "{name}" not in pattern and "{index}" not in pattern:
        raise DatasetError(f"--out {pattern!r} names one file, but {len(datasets)} datasets make one picture each: "
                           "put {name} (the dataset's file name without .zip) or {index} (1, 2, …) in it, "
                           "e.g. --out 'pca/{name}.png'", rule="input")
    outs = []
    for index, dataset in enumerate(datasets, start=1):
        stem = Path(dataset).name
        stem = stem[:-4] if stem.lower().endswith(".zip") else stem
        outs.append(Path(pattern.replace("{name}", stem).replace("{index}", str(index))))
    for out in outs:
        if out.suffix.lower() not in (".npy", ".png"):
            raise DatasetError(f"--out {pattern!r} must end in .png or .npy", rule="input")
    if len(set(outs)) < len(outs):
        raise DatasetError(f"--out {pattern!r} gives two datasets the same file: use {{index}}", rule="input")
    return outs


def cmd_pca(args) -> int:
    from . import analysis, exports
    from .pca import SCALES, pca  # (the package's `pca` is this function, hiding the module's name)

    for option, value, options in (("--values", args.values, analysis.VALUES), ("--scale", args.scale, SCALES)):
        if value not in options:
            raise DatasetError(f"{option} {value!r} is not one of {', '.join(options)}", rule="input")
    try:
        components = tuple(int(part) for part in args.components.split(","))
    except ValueError:
        raise DatasetError(f"--components {args.components!r} must be one or three numbers, e.g. 1,2,3 or 2",
                           rule="input") from None
    options = _pca_fit(args.fit)
    if args.flip:
        if options["fit"] != "foreground":
            raise DatasetError("--flip flips PC1 for the foreground: it needs --fit foreground[:T]", rule="input")
        options["flip"] = -1
    if args.cmap is not None:
        if len(components) != 1:
            raise DatasetError("--cmap colours one component (--components K); three are shown as RGB", rule="input")
        from .colormaps import COLORMAPS

        if args.cmap.lower() not in (*COLORMAPS, "gray"):
            raise DatasetError(f"--cmap {args.cmap!r}: unknown colour map; known: {', '.join(COLORMAPS)}", rule="input")
    outs = _pca_outputs(args.out, args.datasets)
    datasets = [read_dataset(path) for path in args.datasets]
    try:
        results = pca(datasets if len(datasets) > 1 else datasets[0], components=components,
                          values=args.values, scale=args.scale, **options)
    except DatasetError:
        raise
    except ValueError as exc:
        raise DatasetError(str(exc), rule="input") from None
    results = results if isinstance(results, list) else [results]
    first = results[0]
    shown = ", ".join(f"PC{k} {100 * r:.1f} %" for k, r in zip(first.index, first.explained))
    fitted = f"{first.fit_count} pixels" + (f" (a fixed sample of {first.fit_size})" if first.sampled else "")
    print(f"PCA of {args.values} values{' (joint, ' + str(len(results)) + ' datasets)' if len(results) > 1 else ''}: "
          f"fitted on {fitted} ({args.fit}); explained variance {shown}")
    for result, out in zip(results, outs):
        if out.suffix.lower() == ".npy":
            data = exports.encode_pca_npy(result.scores)
        else:
            data = exports.encode_pca_png(result.rgb, components=result.index, values=result.values,
                                          fit=args.fit, scale=result.scale, explained=result.explained,
                                          cmap=args.cmap)
        _write(out, data)
        height, width = result.rgb.shape[:2]
        print(f"wrote {out}: {width}×{height}, "
              + ("scores float32 (H, W, " + str(len(result.index)) + ")" if out.suffix.lower() == ".npy"
                 else ("RGB = " + ",".join(f"PC{k}" for k in result.index) if len(result.index) == 3
                       else f"PC{result.index[0]} through {args.cmap or 'grey'}") + f", {result.scale} scaling"))
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
        help="make a dataset ZIP from a feature array (.npy, .npz) or an ENVI cube (.hdr)",
        description="Quantise an array (global min-max) and write an IFeaLiD dataset ZIP that this app and the "
                    "original both open. Arrays: (H, W, C), (C, H, W) or (1, C, H, W), any bool, integer or float "
                    "dtype; NaN and ±inf are left out of the range and stored as 0. ENVI: the .hdr, its data file "
                    "found beside it; wavelengths and band names are kept as the channel axis, the default bands "
                    "make the overlay. The rules: README, 'Opening datasets'.",
    )
    create.add_argument("features", help="an .npy, an .npz (one array, or --key), or an ENVI header .hdr")
    create.add_argument("-n", "--name", help="display name (default: the input file's name)")
    create.add_argument("-p", "--precision", type=int, choices=(8, 16, 32), default=8,
                        help="bits per stored value (default 8)")
    create.add_argument("-o", "--overlay", help="image shown under the heat map (any format Pillow reads)")
    create.add_argument("--out", help="output ZIP (default: <input>.<precision>.zip beside the input)")
    create.add_argument("--key", help="which array of an .npz file to use")
    create.add_argument("--layout", choices=("auto", "hwc", "chw"), default="auto",
                        help="the array's axes: hwc (H, W, C), chw (C, H, W); auto (default): the two equal axes "
                             "are the map's, else (H, W, C)")
    create.set_defaults(func=cmd_create)

    validate = sub.add_parser(
        "validate", help="check a dataset ZIP (or an input of create) and print a one-line summary",
        description="A dataset ZIP: every rule of the dataset format. An .npy, .npz or ENVI .hdr: the headers "
                    "(as hostile input), the sizes against the files, the layout, and the data read through once "
                    "(every byte present, at least one finite value). Exit status 0 when valid.")
    validate.add_argument("dataset", help="dataset ZIP, .npy, .npz or ENVI header (.hdr)")
    validate.add_argument("--key", help="which array of an .npz file to check")
    validate.add_argument("--layout", choices=("auto", "hwc", "chw"), default="auto",
                          help="the array's axes (as for create)")
    validate.set_defaults(func=cmd_validate)

    extract = sub.add_parser(
        "extract",
        help="run a CNN or a vision transformer on images and write each layer's feature map as a dataset ZIP",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=_wrap("Run a torchvision model, efficientnet-lite0 or a timm vision transformer "
                          "(timm:NAME: DINOv2, DINOv3, CLIP, SigLIP, DeiT, ...) on the CPU and write "
                          "<image>.<layer>.zip per image and layer, with the image as overlay; the model is "
                          "loaded once for all images (files or folders). The default reproduces the paper: "
                          "ResNet101 conv2_x, conv3_x, conv4_x (layer1-layer3: 256, 512, 1024 channels at "
                          "strides 4, 8, 16). Needs torch, torchvision and timm: pip install 'ifealid[extract]'."),
        epilog=_wrap(PREPROCESSING_HELP + "\n\n" + VIT_HELP),
    )
    extract.add_argument("images", nargs="*", metavar="IMAGE",
                         help="images (any format Pillow reads) or folders (the images directly inside)")
    extract.add_argument("--model", default="resnet101",
                         help="any torchvision classification model (resnet50, vgg16, convnext_tiny, …), "
                              "efficientnet-lite0, or timm:NAME for a timm vision transformer "
                              "(timm:vit_small_patch14_reg4_dinov2.lvd142m, timm:vit_small_patch16_dinov3, "
                              "timm:vit_base_patch16_clip_224.openai, …) (default: resnet101)")
    extract.add_argument("--layers",
                         help="comma-separated module names, dotted for nested ones (layer3.5.conv2); default: "
                              "layer1,layer2,layer3 for ResNets; stage2,stage3,stage5,head for efficientnet-lite0 "
                              "(stem, stage1-stage7, head). timm:NAME: blocks by name or index (blocks.11, 11, "
                              "-1, 8,9,10,11; a list starting with a minus needs '=': --layers=-2,-1); default: the last four "
                              "blocks (blocks.8-blocks.11 of a 12-block model)")
    extract.add_argument("--facet", metavar="token|key|query|value",
                         help="timm:NAME only: token (default: the block's output), or key, query, value (the "
                              "block's attention projection, all heads side by side); the channel count is the "
                              "embedding width for each. Several: --facet token,key")
    extract.add_argument("--norm", action="store_true",
                         help="timm:NAME only: apply the model's final norm to the tokens (DINO's "
                              "get_intermediate_layers(norm=True)); files are named <layer>.token.norm")
    extract.add_argument("--stride", type=_positive, metavar="S",
                         help="timm:NAME only: overlapping patches, S < patch size and dividing it (14: 1, 2, 7; "
                              "16: 1, 2, 4, 8); the grid is ceil(H/S) x ceil(W/S); refused where the model's "
                              "patch embedding does not allow it")
    extract.add_argument("--weights", default="default", metavar="default|none|FILE",
                         help="default: the pretrained weights (torch hub cache, else downloaded; "
                              "efficientnet-lite0: those in its package; timm:NAME: the Hugging Face cache, else "
                              "the hub); none: random (seeded); FILE: a state dict saved with torch.save (timm: "
                              "also .safetensors, and the DINOv2/DINOv3 repositories' checkpoints)")
    extract.add_argument("--out", metavar="DIR", help="output folder (default: beside each image)")
    extract.add_argument("-p", "--precision", type=int, choices=(8, 16, 32), default=8,
                         help="bits per stored value (default 8)")
    extract.add_argument("--npz", action="store_true",
                         help="also write the original's intermediate files: <image>.C1.npz (conv2_x), .C2.npz "
                              "(conv3_x), .C3.npz (conv4_x), (H, W, C) float32; other layers <image>.<layer>.npz")
    extract.add_argument("--size", type=_positive, metavar="S",
                         help="resize each image (bicubic) so that its shorter side is S pixels, e.g. 448 or 518 "
                              "for DINO (default: no resizing)")
    extract.add_argument("--max-side", type=_positive, metavar="N",
                         help="then shrink images whose longer side exceeds N pixels (default: no resizing)")
    extract.add_argument("--joint-range", action="store_true",
                         help="quantise each layer (and facet) of all the images with one shared range, their "
                              "min and max over all images, so that values compare across images; each ZIP "
                              "records it as its range")
    extract.add_argument("--threads", type=_positive, metavar="N", help="torch CPU threads (default: torch's)")
    extract.add_argument("--list-layers", action="store_true",
                         help="print the model's layer names (and types) and exit; timm:NAME: its blocks, "
                              "facets, patch size and prefix tokens")
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
    smap.add_argument("--ref-from", action="append", default=[], metavar="OTHER.zip:X,Y",
                      help="a reference pixel of another dataset of the same channel count (a comparison: "
                           "centred and zscore values then use statistics pooled over both; true values "
                           "need both ranges, stored ones are used without); repeatable")
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

    pca = sub.add_parser(
        "pca",
        help="show a dataset's principal components as colours (PNG) or write their scores (.npy)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=_wrap("Fit the principal components of every pixel's vector (in float64, centred on "
                          "the fit set's mean; at most 16384 pixels, a fixed sample beyond) and write "
                          "them: --out PCA.png: three components as R, G, B (8 bit, round(v·255) of each "
                          "scaled component), or one through a colour map; PCA.npy: the shown components' "
                          "scores, float32 (H, W, k). Several datasets of the same channel count make a "
                          "joint PCA (one fit, one scaling: colours mean the same in each); --out then "
                          "holds {name} or {index}. Definitions: help(ifealid.pca) in Python."),
    )
    pca.add_argument("datasets", nargs="+", metavar="DATASET", help="dataset ZIP(s); several: a joint PCA")
    pca.add_argument("--components", default="1,2,3", metavar="K,K,K|K",
                     help="three components shown as R,G,B (default 1,2,3; e.g. 2,3,4 to drop PC1), or one "
                          "shown through --cmap")
    pca.add_argument("--values", default="stored",
                     help="stored (default), true, centred or zscore; PCA centres anyway, so stored, true "
                          "and centred give the same components for one dataset; zscore weighs every "
                          "channel alike")
    pca.add_argument("--fit", default="all", metavar="all|foreground[:T]|region:x0,y0,x1,y1|mask:FILE",
                     help="the pixels the components are fitted on: all (default); foreground: those whose "
                          "standardised PC1 score is > T (default 0), then refitted; region: rectangles "
                          "(inclusive corners, several separated by ';', quoted); mask: a mask file "
                          "(PNG, nonzero = in, or .npy), e.g. from ifealid map --mask")
    pca.add_argument("--flip", action="store_true",
                     help="with --fit foreground: take the pixels whose PC1 score is below −T instead (PC1's "
                          "sign is arbitrary)")
    pca.add_argument("--scale", default="robust",
                     help="robust (default: 1st to 99th percentile to 0…1), minmax, or sigmoid "
                          "(whitened, then 1/(1 + e^(−2x)))")
    pca.add_argument("--cmap", help="one component's colour map: grey (default), fire, viridis, magma, cividis")
    pca.add_argument("--out", required=True, metavar="PCA.png|PCA.npy",
                     help="the output file; several datasets: a pattern with {name} or {index}")
    pca.set_defaults(func=cmd_pca)
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

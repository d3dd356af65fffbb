"""The `ifealid` command line: create and validate dataset ZIPs."""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

from .errors import ConstantDataWarning, DatasetError
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
    return parser


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

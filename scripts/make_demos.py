#!/usr/bin/env python3
"""Make the two built-in demo datasets in datasets/ from scikit-image's astronaut photograph.

* datasets/demo-astronaut-efficientnet-lite0.zip: genuinely trained CNN features. The photo
  (512×512, Eileen Collins, NASA, public domain) is enlarged to 1024×1024 and run through
  EfficientNet-Lite0 with its packaged ImageNet weights by `ifealid extract`; its stage5 output
  (112 channels, stride 16) is a 64×64 map, one cell per 8×8 pixels of the photo, which
  `ifealid create` stores at 8 bit with the photo as the overlay.
* datasets/demo-astronaut-texture.zip: a hyperspectral-like cube. scikit-image's
  `multiscale_basic_features(image, channel_axis=-1)` of the photo shrunk to 256 px wide: 72
  channels (for each of R, G, B at six Gaussian scales: intensity, edges, two texture values),
  a 256×256 map, stored at 8 bit by `ifealid create` with the photo as the overlay.
* datasets/demo-indian-pines.zip: a real hyperspectral image. Indian Pines (AVIRIS, June 1992,
  145×145 pixels, the 200 "corrected" bands of 400-2500 nm; Baumgardner, Biehl, Landgrebe 2015,
  Purdue University Research Repository, doi:10.4231/R7RX991C, CC BY 3.0) as the `tensorly`
  0.10.0 wheel ships it, with the 200 wavelengths its loader gives. Written as an ENVI cube (BSQ,
  uint16, its wavelengths, default bands = near infrared, red, green: a false-colour overlay in
  which vegetation is red) and converted by `ifealid create CUBE.hdr` at 8 bit: the page's own
  ENVI path, the wavelengths kept as the channel axis.

Needs the `extract` and `test` extras (torch, EfficientNet-Lite0, scikit-image, tensorly); the
page needs none of them, since the ZIPs are committed. Rerun after a change that affects them:

    .venv/bin/python scripts/make_demos.py
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CNN_DEMO = "demo-astronaut-efficientnet-lite0.zip"
TEXTURE_DEMO = "demo-astronaut-texture.zip"
PINES_DEMO = "demo-indian-pines.zip"
FALSE_COLOUR_NM = (860.0, 650.0, 550.0)  # near infrared, red, green as R, G, B
CNN_INPUT_SIDE = 1024   # the photo enlarged 2×: stage5 (stride 16) then gives a 64×64 map
TEXTURE_WIDTH = 256


def ifealid(*args: str) -> None:
    command = [sys.executable, "-m", "ifealid", *args]
    print("$ ifealid " + " ".join(args), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)


def indian_pines():
    """(cube (145, 145, 200) uint16, class map (145, 145) uint8, wavelengths in nm) from tensorly."""
    from tensorly.datasets import load_indian_pines

    folder = Path(__import__("tensorly").__file__).parent / "datasets" / "data"
    cube = np.load(folder / "Indian_pines_corrected.npy")
    classes = np.load(folder / "Indian_pines_gt.npy")
    wavelengths = [float(w) for w in load_indian_pines()["ticks"][1]]
    assert cube.shape == (145, 145, 200) and len(wavelengths) == 200
    return cube, classes, wavelengths


def write_indian_pines_envi(header: Path) -> None:
    """An ENVI cube of Indian Pines: BSQ, uint16 little-endian, with its wavelengths."""
    cube, _, wavelengths = indian_pines()
    nm = np.asarray(wavelengths)
    bands = [int(np.argmin(np.abs(nm - target))) + 1 for target in FALSE_COLOUR_NM]  # 1-based
    cube.transpose(2, 0, 1).astype("<u2").tofile(header.with_suffix(".img"))
    header.write_text(
        "ENVI\ndescription = {Indian Pines, AVIRIS, 12 June 1992; 200 corrected bands}\n"
        f"samples = {cube.shape[1]}\nlines = {cube.shape[0]}\nbands = {cube.shape[2]}\n"
        "header offset = 0\nfile type = ENVI Standard\ndata type = 12\ninterleave = bsq\nbyte order = 0\n"
        f"default bands = {{{', '.join(map(str, bands))}}}\nwavelength units = Nanometers\n"
        f"wavelength = {{{', '.join(f'{w:g}' for w in wavelengths)}}}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "datasets", help="folder for the ZIPs (default: datasets/)")
    args = parser.parse_args(argv)

    from PIL import Image
    from skimage import data, feature

    import ifealid as package
    from ifealid.units import format_bytes

    photo = Image.fromarray(data.astronaut())
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ifealid-demos-") as tmp:
        work = Path(tmp)
        overlay = work / "astronaut.jpg"
        photo.save(overlay, quality=90)

        # 1. CNN features through `ifealid extract` (its --npz keeps the float32 map), stored by
        #    `ifealid create` with the photo itself (not the enlarged copy) as the overlay.
        enlarged = work / f"astronaut-{CNN_INPUT_SIDE}.jpg"
        photo.resize((CNN_INPUT_SIDE, CNN_INPUT_SIDE), Image.LANCZOS).save(enlarged, quality=95)
        ifealid("extract", str(enlarged), "--model", "efficientnet-lite0", "--layers", "stage5",
                "--npz", "--out", str(work), "-q")
        ifealid("create", str(work / f"{enlarged.name}.stage5.npz"), "-p", "8", "-o", str(overlay),
                "-n", "Astronaut: EfficientNet-Lite0 stage5 (ImageNet weights)",
                "--out", str(args.out / CNN_DEMO))

        # 2. Multiscale basic features of the photo, 256 px wide.
        height = round(photo.height * TEXTURE_WIDTH / photo.width)
        small = np.asarray(photo.resize((TEXTURE_WIDTH, height), Image.LANCZOS))
        cube = feature.multiscale_basic_features(small, channel_axis=-1).astype(np.float32)
        cube_path = work / "astronaut-texture.npy"
        np.save(cube_path, cube)
        ifealid("create", str(cube_path), "-p", "8", "-o", str(overlay),
                "-n", f"Astronaut: {cube.shape[2]} multiscale basic features (scikit-image)",
                "--out", str(args.out / TEXTURE_DEMO))

        # 3. Indian Pines through the ENVI path (a header a user could have written).
        write_indian_pines_envi(work / "indian_pines.hdr")
        ifealid("create", str(work / "indian_pines.hdr"), "-p", "8",
                "-n", "Indian Pines (AVIRIS, 200 bands; CC BY 3.0, doi:10.4231/R7RX991C)",
                "--out", str(args.out / PINES_DEMO))

    total = 0
    for name in (CNN_DEMO, TEXTURE_DEMO, PINES_DEMO):
        path = args.out / name
        dataset = package.load_dataset(path)
        total += path.stat().st_size
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {dataset.summary()}, "
              f"{format_bytes(path.stat().st_size)}")
    print(f"{format_bytes(total)} in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())

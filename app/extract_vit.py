"""Vision transformers from timm (``ifealid extract --model timm:NAME``): patch tokens as feature maps.

timm (pinned in the ``extract`` extra) is the model zoo. Read here: its ``VisionTransformer``
(``vit_*``, the DINOv2 models ``*_dinov2*`` and ``*_reg4_dinov2*``, DeiT, the CLIP and SigLIP image
towers) and ``Eva`` (the DINOv3 models ``vit_*_dinov3*``, EVA-02, EVA-CLIP), or any timm model with
the same interface: ``blocks``, ``patch_embed``, ``num_prefix_tokens`` and ``forward_intermediates``.

* **token** (the block's output) comes from timm's own ``forward_intermediates(...,
  output_fmt='NCHW')``, which drops the model's ``num_prefix_tokens`` (class, distillation and
  register tokens) before it shapes the patch tokens into a grid; ``norm=True`` applies the final norm.
* **key**, **query**, **value** are the block's attention projection of its (normalised) input, all
  heads concatenated (channel h·head_dim + d), taken before any q/k norm or rotary embedding; the
  same number of prefix tokens is dropped. dino-vit-features uses the keys of the last block.

Sizes: the image is padded with black on the right and bottom to whole patches, so the grid is
ceil(H/p) × ceil(W/p) and the overlay (that padded image) puts every cell on its own p × p block.
The model is created with ``dynamic_img_size=True``, so timm interpolates the position
embeddings (or RoPE grid) for any size. ``stride`` s < p (dividing p) makes the patches overlap:
the patch embedding's convolution steps by s and the position embeddings are interpolated to the
denser grid (dino-vit-features' trick); the grid is ceil(H/s) × ceil(W/s), each patch centred on its
s × s block (to within half a pixel), the image padded by ⌊(p − s)/2⌋ on the left and top for that.

torch and timm are imported inside the functions only, as in extract.py.
"""
from __future__ import annotations

import contextlib
import difflib
import os
import sys
from pathlib import Path

from .extract import ExtractError, LoadedModel, preprocess, require_torch, _load_state, _state_dict_from_file

TIMM_PREFIX = "timm:"
FACETS = ("token", "key", "query", "value")
# The default layers: the last four blocks (DINOv2's linear probes read these; the last alone is
# the most semantic, the ones before keep more position and detail).
DEFAULT_LAST_BLOCKS = 4


def require_timm():
    require_torch()
    try:
        import timm
    except ImportError:
        raise ExtractError("vision transformers (--model timm:NAME) need timm, which is not installed: "
                           "pip install 'ifealid[extract]'", rule="torch-missing") from None
    return timm


def is_vit(module) -> bool:
    """Whether ``module`` is a timm vision transformer read by blocks (see the module's doc)."""
    return all(hasattr(module, name) for name in ("blocks", "patch_embed", "num_prefix_tokens",
                                                   "forward_intermediates"))


def patch_size(module) -> int:
    embed = module.patch_embed
    # feat_ratio: the input pixels per token, also for a hybrid model's CNN stem (whose own
    # patch_size is that of its projection on the CNN's features)
    size = embed.feat_ratio(as_scalar=False) if hasattr(embed, "feat_ratio") else getattr(embed, "patch_size", None)
    size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
    if size[0] != size[1]:
        raise ExtractError(f"the patches of {type(module).__name__} are {size[0]}×{size[1]}: only square "
                           "patches give a grid whose cells are square blocks of the image", rule="model")
    return int(size[0])


def block_count(module) -> int:
    return len(module.blocks)


def default_layers(module) -> tuple[str, ...]:
    n = block_count(module)
    return tuple(f"blocks.{i}" for i in range(max(0, n - DEFAULT_LAST_BLOCKS), n))


def _blocks_text(n: int) -> str:
    return (f"blocks.0 … blocks.{n - 1} (or their indices 0 … {n - 1}, or -1 … -{n} from the end, "
            f"e.g. -1 or {','.join(str(i) for i in range(max(0, n - 4), n))})")


def resolve_blocks(module, layers, model_name: str | None = None) -> list[tuple[str, int]]:
    """[(canonical name 'blocks.i', index i)] for block names ('blocks.11'), indices (11, '11') or
    indices from the end (-1); anything else raises ExtractError listing the valid ones."""
    n = block_count(module)
    what = model_name or type(module).__name__
    if isinstance(layers, (str, int)):
        layers = [layers]
    resolved, bad = [], []
    for layer in layers:
        text = str(layer).strip()
        number = text[len("blocks."):] if text.startswith("blocks.") else text
        try:
            index = int(number)
        except ValueError:
            index = None
        if index is None or not -n <= index < n or (text.startswith("blocks.") and index < 0):
            bad.append(text)
            continue
        index %= n
        resolved.append((f"blocks.{index}", index))
    if bad:
        close = difflib.get_close_matches(bad[0], [f"blocks.{i}" for i in range(n)], n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ExtractError(f"{what} has no block {', '.join(repr(b) for b in bad)}{hint}. Its {n} blocks: "
                           f"{_blocks_text(n)}; `--list-layers` lists them with the facets", rule="unknown-layer")
    names = [name for name, _ in resolved]
    if len(set(names)) != len(names):
        raise ExtractError(f"a block is named twice in {', '.join(str(layer) for layer in layers)} "
                           f"({', '.join(names)})", rule="input")
    return resolved


def qkv_projection(attn):
    """A function x (B, N, dim) -> (query, key, value), each (B, N, heads·head_dim), computing the
    attention's own projection; None when the attention module is of a form not read here."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    qkv = getattr(attn, "qkv", None)
    if isinstance(qkv, nn.Linear):
        if getattr(attn, "q_bias", None) is not None:
            # Eva: one fused weight, the q and v biases apart and k's fixed at zero (it runs F.linear
            # itself, so the qkv module's forward never runs and cannot be hooked).
            def project(x):
                bias = torch.cat((attn.q_bias, attn.k_bias, attn.v_bias))
                return F.linear(x, qkv.weight, bias).chunk(3, dim=-1)
            return project
        # timm's Attention and AttentionRope: reshape(B, N, 3, heads, head_dim), so q, k, v are the
        # three thirds of the output, each with its heads side by side.
        return lambda x: qkv(x).chunk(3, dim=-1)
    separate = [getattr(attn, name, None) for name in ("q_proj", "k_proj", "v_proj")]
    if all(isinstance(layer, nn.Linear) for layer in separate):
        return lambda x: tuple(layer(x) for layer in separate)
    return None


def facet_channels(module) -> dict[str, int]:
    """{facet: channel count} of the facets this model offers (token always)."""
    channels = {"token": int(getattr(module, "embed_dim", 0) or getattr(module, "num_features", 0))}
    attn = getattr(module.blocks[0], "attn", None) if block_count(module) else None
    if attn is not None and qkv_projection(attn) is not None:
        qkv = getattr(attn, "qkv", None)
        if qkv is not None:
            width = qkv.out_features // 3
            channels.update(key=width, query=width, value=width)
        else:
            channels.update(key=attn.k_proj.out_features, query=attn.q_proj.out_features,
                            value=attn.v_proj.out_features)
    return channels


def resolve_facets(facets, module=None, model_name: str | None = None) -> list[str]:
    """The facets asked for (a name, a comma-separated list or a list), checked."""
    if facets is None:
        return ["token"]
    if isinstance(facets, str):
        facets = [facet.strip() for facet in facets.split(",")]
    facets = list(facets)
    bad = [facet for facet in facets if facet not in FACETS]
    if bad or not facets:
        raise ExtractError(f"--facet {', '.join(repr(f) for f in bad) or 'is empty'}: not one of "
                           f"{', '.join(FACETS)} (token: the block's output; key, query, value: its "
                           "attention's projections)", rule="unknown-facet")
    if len(set(facets)) != len(facets):
        raise ExtractError(f"a facet is named twice in {', '.join(facets)}", rule="input")
    if module is not None:
        offered = facet_channels(module)
        missing = [facet for facet in facets if facet not in offered]
        if missing:
            attn = getattr(module.blocks[0], "attn", None)
            raise ExtractError(f"{model_name or type(module).__name__} offers only the facets "
                               f"{', '.join(offered)}: its attention ({type(attn).__name__}) has no q/k/v "
                               "projection read here", rule="unknown-facet")
    return facets


def has_final_norm(module) -> bool:
    from torch import nn

    norm = getattr(module, "norm", None)
    return isinstance(norm, nn.Module) and not isinstance(norm, nn.Identity)


def stride_problem(module, stride: int | None) -> str | None:
    """Why ``stride`` cannot be used with this model, or None when it can."""
    from torch import nn

    if stride is None:
        return None
    p = patch_size(module)
    if stride == p:
        return None
    divisors = [s for s in range(1, p) if p % s == 0]
    if not 1 <= stride < p or p % stride:
        return (f"--stride {stride} must be smaller than the patch size {p} and divide it: "
                f"{', '.join(map(str, divisors))}")
    proj = getattr(module.patch_embed, "proj", None)
    if not isinstance(proj, nn.Conv2d) or tuple(proj.kernel_size) != (p, p) or tuple(proj.stride) != (p, p) \
            or tuple(proj.padding) != (0, 0):
        return (f"its patch embedding ({type(module.patch_embed).__name__}) is not a single {p}×{p} "
                "convolution whose step can be changed (a hybrid CNN stem, for one)")
    if not getattr(module, "dynamic_img_size", False):
        return ("it was not created with dynamic_img_size=True, so its position embeddings cannot follow "
                "a denser grid")
    return None


@contextlib.contextmanager
def _overlapping_patches(module, stride: int | None):
    """Within the block: the patch embedding steps by ``stride`` instead of the patch size.

    timm interpolates the position embeddings (or RoPE grid) to whatever grid the embedding outputs
    (dynamic_img_size); what must change with it is the size check (the input is no longer a whole
    number of patches) and ``dynamic_feat_size``, from which forward_intermediates shapes its NCHW
    grid. All three are put back afterwards.
    """
    p = patch_size(module)
    if stride is None or stride == p:
        yield
        return
    embed = module.patch_embed
    conv = embed.proj
    saved = conv.stride, embed.img_size, getattr(embed, "dynamic_img_pad", False)
    conv.stride = (stride, stride)
    embed.img_size = None  # skips PatchEmbed's "a whole number of patches" assertion
    embed.dynamic_img_pad = False  # the input is already padded for this grid
    embed.dynamic_feat_size = lambda size: ((size[0] - p) // stride + 1, (size[1] - p) // stride + 1)
    try:
        yield
    finally:
        conv.stride, embed.img_size, embed.dynamic_img_pad = saved
        del embed.dynamic_feat_size  # the class's method again


def geometry(height: int, width: int, p: int, s: int | None = None):
    """(grid (h, w), padded input size (H', W'), offset of the image in it) for an H × W image.

    Stride s (= p by default): the grid is ceil(H/s) × ceil(W/s); the input is (h − 1)·s + p pixels
    high, the image placed ⌊(p − s)/2⌋ from the top and left so that each patch is centred on its
    s × s block of the overlay (p = s: no offset, the input is the overlay itself).
    """
    s = s or p
    grid = (-(-height // s), -(-width // s))
    size = ((grid[0] - 1) * s + p, (grid[1] - 1) * s + p)
    return grid, size, (p - s) // 2


def model_input(image, module, stride=None, mean=None, std=None):
    """The (1, 3, H', W') tensor for a Pillow image: padded with black as ``geometry`` says, normalised."""
    from PIL import Image

    p = patch_size(module)
    _, (height, width), offset = geometry(image.height, image.width, p, stride)
    canvas = Image.new("RGB", (width, height), (0, 0, 0))
    canvas.paste(image, (offset, offset))
    cfg = getattr(module, "pretrained_cfg", None) or {}
    return preprocess(canvas, mean or cfg.get("mean") or (0.485, 0.456, 0.406),
                      std or cfg.get("std") or (0.229, 0.224, 0.225))


def _pad_tensor(tensor, p: int, s: int):
    """A tensor padded with zeros on the right and bottom to the smallest size the grid covers."""
    import torch.nn.functional as F

    height, width = tensor.shape[-2:]
    need_h = p + s * -(-max(height - p, 0) // s)
    need_w = p + s * -(-max(width - p, 0) // s)
    if (need_h, need_w) == (height, width):
        return tensor
    return F.pad(tensor, (0, need_w - width, 0, need_h - height))


def features(module, tensor, blocks, facets=("token",), *, norm: bool = False, stride: int | None = None,
             model_name: str | None = None) -> dict:
    """{(block index, facet): (N, C, h, w) tensor} for a (N, 3, H, W) input, in one forward pass.

    ``blocks``: indices; ``facets``: of FACETS; ``norm``: the final norm on the tokens (DINO's
    ``get_intermediate_layers(norm=True)``); ``stride``: overlapping patches (see the module's doc).
    The input is padded with zeros on the right and bottom to a size the grid covers.
    """
    torch = require_torch()
    what = model_name or type(module).__name__
    p = patch_size(module)
    problem = stride_problem(module, stride)
    if problem:
        raise ExtractError(f"{what} cannot use overlapping patches: {problem}", rule="stride")
    tensor = _pad_tensor(tensor, p, stride or p)
    fixed = getattr(module.patch_embed, "img_size", None)
    if not getattr(module, "dynamic_img_size", False) and fixed is not None \
            and tuple(tensor.shape[-2:]) != tuple(fixed):
        raise ExtractError(f"{what} was created for {fixed[1]}×{fixed[0]} inputs only, not "
                           f"{tensor.shape[-1]}×{tensor.shape[-2]}: create it with timm.create_model(..., "
                           "dynamic_img_size=True) so that timm interpolates its position embeddings for "
                           "any size (ifealid extract does)", rule="model-size")
    if norm and not has_final_norm(module):
        raise ExtractError(f"{what} has no final norm on its tokens (its norm comes after pooling): "
                           "--norm would change nothing", rule="norm")
    order = sorted(set(blocks))
    prefix = int(module.num_prefix_tokens)
    projections: dict = {}
    handles = []
    wanted = [facet for facet in facets if facet != "token"]
    if wanted:
        for index in order:
            attn = getattr(module.blocks[index], "attn", None)
            project = qkv_projection(attn) if attn is not None else None
            if project is None:
                raise ExtractError(f"{what}'s block {index} has no attention with a q/k/v projection read here "
                                   f"({type(attn).__name__}): only --facet token", rule="unknown-facet")

            def hook(_module, args, index=index, project=project):
                q, k, v = project(args[0])
                projections[index] = {name: t for name, t in (("query", q), ("key", k), ("value", v))
                                      if name in wanted}
            handles.append(attn.register_forward_pre_hook(hook))
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad(), _overlapping_patches(module, stride):
            tokens = module.forward_intermediates(tensor, indices=order, norm=norm, stop_early=True,
                                                  output_fmt="NCHW", intermediates_only=True)
    finally:
        for handle in handles:
            handle.remove()
        module.train(was_training)
    by_block = dict(zip(order, tokens))
    batch, _, h, w = tokens[0].shape
    result = {}
    for index in blocks:
        for facet in facets:
            if facet == "token":
                result[(index, facet)] = by_block[index]
                continue
            sequence = projections[index][facet]
            patches = sequence[:, prefix:]  # the class/register tokens, as forward_intermediates drops them
            if patches.shape[1] != h * w:
                raise ExtractError(f"{what}'s attention in block {index} saw {sequence.shape[1]} tokens, not "
                                   f"{prefix} prefix tokens and a {h}×{w} grid", rule="model")
            result[(index, facet)] = patches.reshape(batch, h, w, -1).permute(0, 3, 1, 2).contiguous()
    return result


def capture(module, input, layers, *, facet: str = "token", norm: bool = False, stride: int | None = None,
            model_name: str | None = None):
    """``ifealid.capture`` for a timm vision transformer: the blocks' patch-token grids.

    ``layers``: a block ('blocks.11', 11, -1) for one (1, C, h, w) tensor, or a list of them for a
    dict keyed by what was given. An image input is padded with black and normalised with the
    model's mean and std (its pretrained_cfg); a tensor is padded with zeros.
    """
    torch = require_torch()
    single = isinstance(layers, (str, int))
    given = [layers] if single else list(layers)
    resolved = [resolve_blocks(module, [layer], model_name)[0] for layer in given]  # repeats allowed: keyed as given
    facets = resolve_facets(facet, module, model_name)
    if len(facets) != 1:
        raise ExtractError("capture takes one facet; call it once per facet", rule="input")
    if not isinstance(input, torch.Tensor):
        from .extract import open_image

        input = model_input(open_image(input)[0], module, stride)
    if input.ndim == 3:
        input = input[None]
    parameter = next(module.parameters(), None)
    if parameter is not None and input.device != parameter.device:
        input = input.to(parameter.device)
    blocks = list(dict.fromkeys(index for _, index in resolved))
    maps = features(module, input, blocks, facets, norm=norm, stride=stride, model_name=model_name)
    outputs = {key: maps[(index, facets[0])] for key, (_, index) in zip(given, resolved)}
    return outputs[given[0]] if single else outputs


# --------------------------------------------------------------------------------------------
# loading


def _hub_cache() -> Path:
    try:
        from huggingface_hub import constants
        return Path(constants.HF_HUB_CACHE)
    except Exception:  # pragma: no cover - huggingface_hub comes with timm
        return Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"


def _hub_offline() -> bool:
    try:
        from huggingface_hub import constants
        return bool(constants.HF_HUB_OFFLINE)
    except Exception:  # pragma: no cover
        return False


def _cached_hub_file(repo: str, filename: str | None) -> str | None:
    """The cached weights file of a hub repository, or None (no network: the cache alone)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover
        return None
    names = [filename] if filename else ["model.safetensors", "pytorch_model.bin", "open_clip_model.safetensors",
                                         "open_clip_pytorch_model.bin"]
    for name in names:
        found = try_to_load_from_cache(repo, name)
        if isinstance(found, str):
            return found
    return None


def _weights_message(arch: str, cfg: dict, reason: str) -> str:
    repo = cfg.get("hf_hub_id")
    if repo:
        repo = repo.split("@")[0]
        folder = _hub_cache() / f"models--{repo.replace('/', '--')}"
        filename = cfg.get("hf_hub_filename") or "model.safetensors"
        return (f"the pretrained weights for timm:{arch} are not in the Hugging Face cache and the hub "
                f"({repo}) cannot be reached ({reason}). To place them in the cache: on a machine with a "
                f"network, run `hf download {repo}` (or python -c \"import timm; timm.create_model('{arch}', "
                f"pretrained=True)\") and copy its folder models--{repo.replace('/', '--')} to {folder}; or "
                f"put {filename} at {folder}/snapshots/<name>/{filename} and write <name> into "
                f"{folder}/refs/main (HF_HOME or HF_HUB_CACHE move the cache). Or pass the file with "
                "--weights FILE, or use --weights none for random weights")
    url = cfg.get("url") or "(none known)"
    return (f"the pretrained weights for timm:{arch} are not in the torch hub cache and could not be "
            f"downloaded from {url} ({reason}). Put that file in the torch hub cache's checkpoints folder, "
            "pass it with --weights FILE, or use --weights none for random weights")


def _read_weights_file(path) -> dict:
    """A state dict from a .safetensors file or anything torch.load reads safely."""
    path = Path(os.fspath(path))
    if path.suffix == ".safetensors" and path.is_file():
        try:
            from safetensors.torch import load_file
            return load_file(str(path), device="cpu")
        except Exception as exc:
            raise ExtractError(f"{path} is not a safetensors file that can be read: {exc}", rule="weights") from None
    return _state_dict_from_file(path)


def _load_file_into(module, path, arch: str) -> None:
    """Load a state dict, converting it with the model's own checkpoint filter when its keys are
    another layout's (the DINOv2 and DINOv3 repositories' checkpoints, for one)."""
    state = _read_weights_file(path)
    own = module.state_dict()
    if set(state) != set(own):
        filter_fn = getattr(sys.modules.get(type(module).__module__), "checkpoint_filter_fn", None)
        if filter_fn is not None:
            try:
                state = filter_fn(state, module)
            except Exception:
                pass  # _load_state below names what does not fit
    _load_state(module, state, os.fspath(path), f"timm:{arch}")


def load_timm(name: str, weights: str = "default", model_kwargs: dict | None = None) -> LoadedModel:
    """``timm:NAME`` (an architecture, optionally with a pretrained tag: vit_small_patch14_dinov2.lvd142m)."""
    torch = require_torch()
    timm = require_timm()
    arch = name[len(TIMM_PREFIX):].strip()
    base = arch.split(".", 1)[0]
    if not timm.is_model(base):
        close = difflib.get_close_matches(base, timm.list_models(), n=3)
        raise ExtractError(f"timm has no model {base!r}" + (f" (did you mean {', '.join(close)}?)" if close else "")
                           + "; timm.list_models('vit_*') lists its vision transformers", rule="unknown-model")
    kwargs = dict(dynamic_img_size=True)  # position embeddings interpolated for any image size
    kwargs.update(model_kwargs or {})

    def create(pretrained: bool):
        try:
            return timm.create_model(arch, pretrained=pretrained, **kwargs)
        except TypeError as exc:
            if "dynamic_img_size" in str(exc):
                raise ExtractError(
                    f"timm:{arch} is not a vision transformer read here (its constructor takes no "
                    "dynamic_img_size): timm's VisionTransformer and Eva models are (vit_*, *_dinov2*, "
                    "*_dinov3*, deit*, *_clip_*, *_siglip_*, eva02*); CNNs by their torchvision name",
                    rule="unknown-model") from None
            raise

    try:  # where the weights come from, without building the model
        found = timm.models.get_pretrained_cfg(arch)
    except RuntimeError:  # a tag the architecture does not have
        tags = timm.list_pretrained(f"{base}.*")
        raise ExtractError(f"timm has no weights {arch!r}; its tags: {', '.join(tags) or 'none'}",
                           rule="unknown-model") from None
    cfg = found.to_dict() if found is not None else {}
    if weights == "default":
        repo = cfg.get("hf_hub_id")
        cached = _cached_hub_file(repo.split("@")[0], cfg.get("hf_hub_filename")) if repo else None
        if repo and not cached and not _hub_offline():
            print(f"timm:{arch}: pretrained weights are not in the Hugging Face cache ({_hub_cache()}), "
                  f"downloading {repo}", file=sys.stderr)
        try:
            module = create(True)
        except ExtractError:
            raise
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0].rstrip(".") if str(exc).strip() else type(exc).__name__
            if cached:
                raise ExtractError(f"the pretrained weights for timm:{arch} in the Hugging Face cache "
                                   f"({cached}) cannot be loaded ({reason})", rule="weights") from None
            raise ExtractError(_weights_message(arch, cfg, reason), rule="weights-missing") from None
        where = f"Hugging Face cache {cached}" if cached else f"from {repo or cfg.get('url') or 'timm'}"
        how = f"pretrained {arch} ({where})"
    else:
        if weights != "none" and not Path(weights).is_file():  # a bad file fails before the model is built
            _state_dict_from_file(weights)
        with torch.random.fork_rng(devices=[]):  # seeded: random weights are the same every run
            torch.manual_seed(0)
            module = create(False)
        if weights == "none":
            how = "random weights (--weights none)"
        else:
            _load_file_into(module, weights, arch)
            how = f"weights from {weights}"
    if not is_vit(module):
        raise ExtractError(f"timm:{arch} ({type(module).__name__}) is not a vision transformer read here: it "
                           "lacks blocks, patch_embed, num_prefix_tokens or forward_intermediates",
                           rule="unknown-model")
    cfg = module.pretrained_cfg or {}
    patch_size(module)  # square patches only
    return LoadedModel(module.eval(), f"timm:{arch}", how,
                       mean=tuple(cfg.get("mean") or (0.485, 0.456, 0.406)),
                       std=tuple(cfg.get("std") or (0.229, 0.224, 0.225)),
                       default_layers=default_layers(module), kind="vit")


def describe_layers(loaded: LoadedModel) -> list[str]:
    """`--list-layers` for a vision transformer: the blocks (defaults marked), then facets and geometry."""
    module = loaded.module
    defaults = set(loaded.default_layers)
    lines = [f"blocks.{i}\t{type(block).__name__}" + ("\t(default)" if f"blocks.{i}" in defaults else "")
             for i, block in enumerate(module.blocks)]
    if has_final_norm(module):
        lines.append(f"norm\t{type(module.norm).__name__}\t(--norm: the final norm, on the tokens)")
    channels = facet_channels(module)
    lines.append("facets: " + ", ".join(f"{facet} ({channels[facet]} channels)" for facet in channels)
                 + " (--facet; token: the block's output; key, query, value: its attention's projection of "
                   "the block's input, all heads side by side)")
    p = patch_size(module)
    problem = stride_problem(module, 1 if p > 1 else None)
    strides = [s for s in range(1, p) if p % s == 0]
    lines.append(f"patch: {p} px, grid ceil(H/{p}) x ceil(W/{p})"
                 + (f"; --stride {', '.join(map(str, strides))} for overlapping patches" if strides and not problem
                    else f"; no --stride ({problem})" if problem else ""))
    prefix = int(module.num_prefix_tokens)
    reg_token = getattr(module, "reg_token", None)
    registers = int(reg_token.shape[1]) if reg_token is not None else 0
    lines.append(f"prefix tokens: {prefix}" + (f" ({registers} registers)" if registers else "")
                 + ", dropped: the grid holds the patch tokens only")
    return lines

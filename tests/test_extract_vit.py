"""Vision transformers from timm (`ifealid extract --model timm:NAME`, ifealid.capture/save_features).

Random weights (seeded), no network: the Hugging Face hub is switched off here and in every
subprocess, whose cache is an empty folder. One torch thread, small odd-sized images; most models
are the real named architectures with fewer blocks (timm's `depth`), each family also at full depth
once. The CLI is called in-process (cli.main) where it can be, as in test_extract.py.
"""
import atexit
import os
import shutil
import sys
import tempfile

# Before anything imports huggingface_hub, which reads these once: nothing here may reach a hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="ifealid-hf-")  # an empty cache
atexit.register(shutil.rmtree, os.environ["HF_HOME"], True)
os.environ.pop("HF_HUB_CACHE", None)

import subprocess  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

import ifealid  # noqa: E402
from ifealid import cli, extract  # noqa: E402
from ifealid.extract import load_model  # noqa: E402

try:
    import safetensors.torch
    import timm
    import torch
except ImportError as exc:  # pragma: no cover - a set-up problem, not a skip
    pytest.fail(f"the extraction tests need the extract extra: pip install -e '.[test,extract]' ({exc})",
                pytrace=False)

torch.set_num_threads(1)

FACETS = ["token", "key", "query", "value"]
DINOV2 = "timm:vit_small_patch14_reg4_dinov2.lvd142m"
DINOV3 = "timm:vit_small_patch16_dinov3"
DINOV3_QKVB = "timm:vit_small_patch16_dinov3_qkvb"
HEIGHT, WIDTH = 45, 61  # odd: neither is a multiple of 14 or 16


def ceil_div(a, b):
    return -(-a // b)


def random_image(path, height=HEIGHT, width=WIDTH, seed=0):
    """A smooth random image (blurred blobs), saved as PNG (exact pixels)."""
    coarse = np.random.default_rng(seed).integers(0, 256, (5, 5, 3), dtype=np.uint8)
    Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC).save(path)
    return path


@pytest.fixture(scope="module")
def dinov2_small():
    """The DINOv2-with-registers architecture, two blocks."""
    return load_model(DINOV2, "none", model_kwargs={"depth": 2})


def true_values(zip_path):
    return ifealid.load_dataset(zip_path).as_float(np.float64, true_values=True)


# --------------------------------------------------------------------------------------------
# grids, channels and facets, per family


# (name, timm kwargs, patch size, embedding width, prefix tokens)
FAMILIES = [
    pytest.param(DINOV2, {}, 14, 384, 5, id="dinov2-reg4"),
    pytest.param(DINOV3, {}, 16, 384, 5, id="dinov3"),
    pytest.param("timm:vit_tiny_patch16_224", {}, 16, 192, 1, id="vit"),
    pytest.param("timm:vit_base_patch16_clip_224.openai", {}, 16, 768, 1, id="clip"),
    pytest.param("timm:vit_base_patch16_siglip_224", {"depth": 2}, 16, 768, 0, id="siglip"),
    pytest.param("timm:deit_small_distilled_patch16_224", {"depth": 2}, 16, 384, 2, id="deit-distilled"),
]


@pytest.mark.parametrize("name, kwargs, patch, width, prefix", FAMILIES)
def test_grid_channels_and_facets(name, kwargs, patch, width, prefix, tmp_path):
    loaded = load_model(name, "none", model_kwargs=kwargs)
    assert loaded.kind == "vit" and int(loaded.module.num_prefix_tokens) == prefix
    image = random_image(tmp_path / "odd.png")
    results = extract.extract_images([image], loaded, ["-1"], facets=FACETS, out=tmp_path / "out", progress=False)
    last = f"blocks.{len(loaded.module.blocks) - 1}"
    assert [item.layer for item in results] == [f"{last}.{facet}" for facet in FACETS]
    grid = (ceil_div(HEIGHT, patch), ceil_div(WIDTH, patch))
    values = {}
    for item in results:
        dataset = ifealid.load_dataset(item.path)  # validates every rule of the format
        assert dataset.shape == (*grid, width), item.layer  # every facet: the embedding width
        assert dataset.overlay_size == (grid[1] * patch, grid[0] * patch)
        assert item.stride == patch
        values[item.layer.rsplit(".", 1)[1]] = true_values(item.path)
    for a, b in [("key", "value"), ("key", "token"), ("value", "token"), ("query", "key")]:
        assert not np.allclose(values[a], values[b], atol=0.05), (a, b)


def test_the_default_layers_are_the_last_four_blocks(dinov2_small, tmp_path):
    assert load_model(DINOV2, "none").default_layers == ("blocks.8", "blocks.9", "blocks.10", "blocks.11")
    assert dinov2_small.default_layers == ("blocks.0", "blocks.1")  # fewer blocks than four: all of them
    image = random_image(tmp_path / "d.png", 20, 30)
    results = extract.extract_images([image], dinov2_small, None, progress=False)
    assert [item.path.name for item in results] == ["d.png.blocks.0.token.zip", "d.png.blocks.1.token.zip"]


def test_layers_by_index_name_and_from_the_end(tmp_path, capsys):
    loaded = load_model("timm:vit_tiny_patch16_224", "none", model_kwargs={"depth": 4})
    image = random_image(tmp_path / "i.png", 20, 20)
    results = extract.extract_images([image], loaded, "blocks.0,2,-1", progress=False)
    assert [item.layer for item in results] == ["blocks.0.token", "blocks.2.token", "blocks.3.token"]
    # blocks differ: the index picks the block
    assert not np.allclose(true_values(results[0].path), true_values(results[2].path))


# --------------------------------------------------------------------------------------------
# prefix tokens, checked on hand-built models whose every value is known


def hand_built(name, patch):
    """The named architecture with two blocks, its weights set so that every value is known:

    the patch embedding averages its patch (token channel d = the mean of input channel d mod 3),
    position embeddings are zero, each block's attention sees its input unnormalised and projects
    it to query = x, key = 2x, value = 3x, and its attention and MLP outputs are zero, so every
    block passes the tokens through. The class token carries 1000 and the registers −1000,
    values no patch token comes near (its inputs are normalised pixels, within ±3).
    """
    loaded = load_model(name, "none", model_kwargs={"depth": 2})
    module = loaded.module
    dim = module.embed_dim
    with torch.no_grad():
        weight = torch.zeros_like(module.patch_embed.proj.weight)
        for d in range(dim):
            weight[d, d % 3] = 1.0 / (patch * patch)
        module.patch_embed.proj.weight.copy_(weight)
        module.patch_embed.proj.bias.zero_()
        if module.pos_embed is not None:
            module.pos_embed.zero_()
        module.cls_token.fill_(1000.0)
        module.reg_token.fill_(-1000.0)
        eye = torch.eye(dim)
        for block in module.blocks:
            block.norm1 = torch.nn.Identity()
            attn = block.attn
            attn.qkv.weight.copy_(torch.cat([eye, 2 * eye, 3 * eye]))
            if attn.qkv.bias is not None:
                attn.qkv.bias.zero_()
            attn.proj.weight.zero_()
            attn.proj.bias.zero_()
            block.mlp.fc2.weight.zero_()
            block.mlp.fc2.bias.zero_()
    return loaded


def expected_tokens(image_path, patch, dim, mean, std, stride=None):
    """The hand-built model's tokens, computed from the pixels: the image padded with black (and
    offset by ⌊(p − s)/2⌋ for a stride s), normalised, each patch's mean."""
    array = np.asarray(Image.open(image_path).convert("RGB"), dtype=np.float64) / 255.0
    height, width = array.shape[:2]
    s = stride or patch
    grid = (ceil_div(height, s), ceil_div(width, s))
    offset = (patch - s) // 2
    canvas = np.zeros(((grid[0] - 1) * s + patch, (grid[1] - 1) * s + patch, 3))
    canvas[offset:offset + height, offset:offset + width] = array
    canvas = (canvas - np.asarray(mean)) / np.asarray(std)
    pooled = np.array([[canvas[s * i:s * i + patch, s * j:s * j + patch].mean(axis=(0, 1))
                        for j in range(grid[1])] for i in range(grid[0])])
    return pooled[..., np.arange(dim) % 3]


@pytest.mark.parametrize("name, patch", [(DINOV2, 14), (DINOV3, 16)], ids=["vit-registers", "eva-dinov3"])
def test_class_and_register_tokens_never_reach_the_grid(name, patch, tmp_path):
    loaded = hand_built(name, patch)
    assert int(loaded.module.num_prefix_tokens) == 5  # a class token and four registers
    image = random_image(tmp_path / "h.png")
    extract.extract_images([image], loaded, ["0", "1"], facets=FACETS, npz=True, progress=False)
    tokens = expected_tokens(image, patch, loaded.module.embed_dim, loaded.mean, loaded.std)
    expected = {"token": tokens, "query": tokens, "key": 2 * tokens, "value": 3 * tokens}
    for block in ("blocks.0", "blocks.1"):
        for facet in FACETS:
            with np.load(tmp_path / f"h.png.{block}.{facet}.npz") as loaded_npz:
                array = loaded_npz["arr_0"]
            assert np.abs(array).max() < 20, (block, facet)  # no ±1000 (times 1-3) of a prefix token
            np.testing.assert_allclose(array, expected[facet], rtol=1e-5, atol=1e-5, err_msg=f"{block} {facet}")


def test_eva_attention_with_separate_biases(tmp_path):
    # DINOv3's qkvb variant: one fused weight, the q and v biases apart (k's is fixed at zero); timm
    # computes that projection with F.linear, so it is recomputed here, not hooked.
    loaded = hand_built(DINOV3_QKVB, 16)
    with torch.no_grad():
        for block in loaded.module.blocks:
            block.attn.q_bias.fill_(0.5)
            block.attn.v_bias.fill_(-0.25)
    image = random_image(tmp_path / "b.png")
    tokens = expected_tokens(image, 16, 384, loaded.mean, loaded.std)
    maps = {facet: ifealid.capture(loaded.module, str(image), "blocks.1", facet=facet)[0].numpy().transpose(1, 2, 0)
            for facet in ("query", "key", "value")}
    np.testing.assert_allclose(maps["query"], tokens + 0.5, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(maps["key"], 2 * tokens, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(maps["value"], 3 * tokens - 0.25, rtol=1e-5, atol=1e-5)


def test_norm_applies_the_final_norm_to_the_tokens(tmp_path, capsys):
    loaded = hand_built(DINOV2, 14)
    image = random_image(tmp_path / "n.png")
    results = extract.extract_images([image], loaded, ["1"], norm=True, npz=True, progress=False)
    assert results[0].path.name == "n.png.blocks.1.token.norm.zip"
    tokens = torch.from_numpy(expected_tokens(image, 14, 384, loaded.mean, loaded.std)).float()
    with torch.no_grad():
        normed = loaded.module.norm(tokens).numpy()
    with np.load(tmp_path / "n.png.blocks.1.token.norm.npz") as npz:
        # LayerNorm amplifies float32 rounding in the nearly grey corner cell: a looser tolerance
        np.testing.assert_allclose(npz["arr_0"], normed, atol=1e-3)
    # --norm is about tokens: without the token facet, and on a model whose norm follows pooling, refused
    with pytest.raises(ifealid.DatasetError, match="needs --facet token"):
        extract.extract_images([image], loaded, ["1"], facets=["key"], norm=True, progress=False)
    pooled = load_model("timm:vit_tiny_patch16_224", "none", model_kwargs={"depth": 1, "global_pool": "avg"})
    with pytest.raises(ifealid.DatasetError, match="no final norm on its tokens"):
        extract.extract_images([image], pooled, ["0"], norm=True, progress=False)


# --------------------------------------------------------------------------------------------
# sizes, strides and the overlay


def test_overlay_is_the_image_padded_to_whole_patches(dinov2_small, tmp_path):
    image = random_image(tmp_path / "o.png")
    results = extract.extract_images([image], dinov2_small, ["-1"], progress=False)
    dataset = ifealid.load_dataset(results[0].path)
    assert dataset.shape[:2] == (4, 5) and dataset.overlay_size == (70, 56)  # 5 × 14, 4 × 14
    overlay = np.asarray(dataset.overlay_image(), dtype=np.int16)
    original = np.asarray(Image.open(image), dtype=np.int16)
    assert np.abs(overlay[:HEIGHT, :WIDTH] - original).mean() < 4  # JPEG
    assert overlay[HEIGHT + 2:].mean() < 8 and overlay[:, WIDTH + 2:].mean() < 8  # black


def test_size_resizes_the_shorter_side_first(dinov2_small, tmp_path):
    image = random_image(tmp_path / "s.png")  # 61 × 45
    results = extract.extract_images([image], dinov2_small, ["-1"], size=30, progress=False)
    # shorter side 45 → 30, longer 61 → round(61 · 30 / 45) = 41: grid ceil(30/14) × ceil(41/14)
    assert results[0].shape[:2] == (3, 3) and results[0].overlay_size == (42, 42)
    results = extract.extract_images([image], dinov2_small, ["-1"], size=100, max_side=120, progress=False)
    # up to 100 × 136, then the longer side down to 120: 88 × 120 → 7 × 9 patches
    assert results[0].shape[:2] == (7, 9)


@pytest.mark.parametrize("name, patch, stride", [(DINOV2, 14, 7), (DINOV3, 16, 4)], ids=["dinov2", "dinov3"])
def test_stride_overlapping_patches_centred_on_their_blocks(name, patch, stride, tmp_path):
    loaded = hand_built(name, patch)
    image = random_image(tmp_path / "t.png")
    results = extract.extract_images([image], loaded, ["1"], stride=stride, npz=True, progress=False)
    grid = (ceil_div(HEIGHT, stride), ceil_div(WIDTH, stride))
    assert results[0].shape == (*grid, 384) and results[0].stride == stride
    assert results[0].overlay_size == (grid[1] * stride, grid[0] * stride)
    with np.load(tmp_path / "t.png.blocks.1.token.npz") as npz:
        np.testing.assert_allclose(npz["arr_0"], expected_tokens(image, patch, 384, loaded.mean, loaded.std, stride),
                                   atol=1e-5)
    # the model is as it was afterwards: the same image without --stride gives the plain grid
    plain = extract.extract_images([image], loaded, ["1"], progress=False)
    assert plain[0].shape[:2] == (ceil_div(HEIGHT, patch), ceil_div(WIDTH, patch))


def test_stride_and_size_on_a_full_model_via_the_cli(tmp_path, capsys):
    image = random_image(tmp_path / "c.png")
    assert cli.main(["extract", str(image), "--model", DINOV2, "--weights", "none", "--layers", "-1",
                     "--stride", "7", "--facet", "key", "-q"]) == 0
    dataset = ifealid.load_dataset(tmp_path / "c.png.blocks.11.key.zip")
    assert dataset.shape == (7, 9, 384) and dataset.overlay_size == (63, 49)
    assert cli.main(["extract", str(image), "--model", DINOV2, "--weights", "none", "--layers", "-1",
                     "--size", "30", "--out", str(tmp_path / "sized"), "-q"]) == 0
    dataset = ifealid.load_dataset(tmp_path / "sized" / "c.png.blocks.11.token.zip")
    assert dataset.shape == (3, 3, 384) and dataset.overlay_size == (42, 42)  # 41 × 30 padded


def test_a_stride_the_model_does_not_allow_is_refused(dinov2_small, tmp_path, capsys):
    image = random_image(tmp_path / "r.png", 20, 20)
    assert cli.main(["extract", str(image), "--model", DINOV2, "--weights", "none", "--stride", "5"]) == 1
    err = capsys.readouterr().err
    assert "--stride 5 must be smaller than the patch size 14 and divide it: 1, 2, 7" in err
    assert cli.main(["extract", str(image), "--model", "resnet18", "--weights", "none", "--stride", "2"]) == 1
    assert "--stride is for vision transformers" in capsys.readouterr().err
    # A hybrid ViT's patches come from a ResNet stem, whose step cannot be changed.
    hybrid = load_model("timm:vit_base_r50_s16_384", "none", model_kwargs={"depth": 1})
    with pytest.raises(ifealid.DatasetError, match=r"\(HybridEmbed\) is not a single 16×16 convolution"):
        extract.extract_images([image], hybrid, ["0"], stride=8, progress=False)
    # A model made without dynamic_img_size cannot interpolate its position embeddings to a denser grid.
    fixed = timm.create_model("vit_tiny_patch16_224", pretrained=False, depth=1, img_size=32)
    with pytest.raises(ifealid.DatasetError, match="not created with dynamic_img_size=True"):
        ifealid.capture(fixed, np.zeros((32, 32, 3), np.uint8), "blocks.0", stride=8)
    assert not list(tmp_path.glob("*.zip"))


# --------------------------------------------------------------------------------------------
# batches, joint range, progress


def test_a_folder_in_one_call_with_a_joint_range(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    for seed, (height, width) in enumerate([(33, 47), (40, 40), (29, 51)]):
        random_image(folder / f"{seed}.png", height, width, seed=seed)
    (folder / "notes.txt").write_text("not an image")
    loads = []
    real = extract.load_model
    monkeypatch.setattr(extract, "load_model", lambda *a, **k: loads.append(a) or real(*a, **k))
    out = tmp_path / "joint"
    assert cli.main(["extract", str(folder), "--model", "timm:deit_tiny_patch16_224", "--weights", "none",
                     "--layers", "10,11", "--facet", "token,value", "--joint-range", "--npz", "--out", str(out)]) == 0
    assert len(loads) == 1  # one model for the whole folder
    captured = capsys.readouterr()
    assert "12/12" in captured.err  # the progress bar: 3 images × 2 blocks × 2 facets
    for label in ("blocks.10.token", "blocks.11.token", "blocks.10.value", "blocks.11.value"):
        zips = [out / f"{seed}.png.{label}.zip" for seed in range(3)]
        ranges = {ifealid.load_dataset(path).range for path in zips}
        arrays = []
        for seed in range(3):
            with np.load(out / f"{seed}.png.{label}.npz") as npz:
                arrays.append(npz["arr_0"])
        lo, hi = min(float(a.min()) for a in arrays), max(float(a.max()) for a in arrays)
        assert ranges == {(lo, hi)}, label  # one range, the min and max over every image
        for path, array in zip(zips, arrays):  # and the stored values are quantised in it
            step = (hi - lo) / 255
            assert np.abs(true_values(path) - array).max() <= step / 2 + 1e-6
        assert "joint range" in captured.out
    # without --joint-range each image has its own range
    assert cli.main(["extract", str(folder), "--model", "timm:deit_tiny_patch16_224", "--weights", "none",
                     "--layers", "11", "--out", str(tmp_path / "own"), "-q"]) == 0
    ranges = {ifealid.load_dataset(tmp_path / "own" / f"{seed}.png.blocks.11.token.zip").range for seed in range(3)}
    assert len(ranges) == 3


def test_joint_range_for_a_cnn_too(tmp_path, capsys):
    a, b = random_image(tmp_path / "a.png", 32, 32, 1), random_image(tmp_path / "b.png", 40, 24, 2)
    assert cli.main(["extract", str(a), str(b), "--model", "resnet18", "--weights", "none", "--layers", "layer1",
                     "--joint-range", "-q"]) == 0
    ranges = {ifealid.load_dataset(tmp_path / f"{n}.png.layer1.zip").range for n in "ab"}
    assert len(ranges) == 1


# --------------------------------------------------------------------------------------------
# messages


def test_a_wrong_block_or_facet_lists_the_valid_ones(tmp_path, capsys):
    image = random_image(tmp_path / "w.png", 20, 20)
    for layers in ("12", "blocks.x", "-13", "blocks.-1"):
        assert cli.main(["extract", str(image), "--model", DINOV2, "--weights", "none", "--layers", layers]) == 1
        err = capsys.readouterr().err
        assert "has no block" in err and "blocks.0 … blocks.11" in err and "0 … 11" in err, layers
        assert "Traceback" not in err
    assert cli.main(["extract", str(image), "--model", DINOV2, "--weights", "none", "--facet", "keys"]) == 1
    err = capsys.readouterr().err
    assert "--facet 'keys': not one of token, key, query, value" in err
    assert cli.main(["extract", str(image), "--model", "resnet18", "--weights", "none", "--facet", "key"]) == 1
    assert "--facet is for vision transformers" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.zip"))


def test_unknown_timm_models(capsys, tmp_path):
    image = random_image(tmp_path / "u.png", 20, 20)
    cases = [("timm:vit_smal_patch14_dinov2", "did you mean vit_small_patch14_dinov2"),
             ("timm:vit_small_patch14_dinov2.nope", "its tags: vit_small_patch14_dinov2.lvd142m"),
             ("timm:resnet18", "not a vision transformer read here")]
    for model, phrase in cases:
        assert cli.main(["extract", str(image), "--model", model, "--weights", "none"]) == 1
        err = capsys.readouterr().err
        assert phrase in err and "Traceback" not in err, model


def test_list_layers(capsys):
    assert cli.main(["extract", "--model", DINOV3, "--list-layers"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert [line.split("\t")[0] for line in lines[:12]] == [f"blocks.{i}" for i in range(12)]
    assert [line.split("\t")[0] for line in lines if line.endswith("(default)")] == \
        ["blocks.8", "blocks.9", "blocks.10", "blocks.11"]
    assert "token (384 channels), key (384 channels), query (384 channels), value (384 channels)" in out
    assert "--stride 1, 2, 4, 8" in out and "prefix tokens: 5 (4 registers)" in out


# --------------------------------------------------------------------------------------------
# weights


def offline_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), TORCH_HOME=str(tmp_path / "torch"),
               OMP_NUM_THREADS="1")
    return env


def test_default_weights_without_cache_or_network_say_how_to_place_them(tmp_path):
    image = random_image(tmp_path / "x.png", 20, 20)
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "ifealid", "extract", str(image), "--model", DINOV2,
                          "--out", str(out), "--threads", "1"],
                         env=offline_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    cache = tmp_path / "hf" / "hub" / "models--timm--vit_small_patch14_reg4_dinov2.lvd142m"
    for phrase in ("are not in the Hugging Face cache", "hf download timm/vit_small_patch14_reg4_dinov2.lvd142m",
                   str(cache), "refs/main", "--weights FILE", "--weights none"):
        assert phrase in run.stderr, phrase
    assert "Traceback" not in run.stderr
    assert not out.exists() and not list(tmp_path.glob("*.zip"))  # nothing written


def test_default_weights_come_from_the_hugging_face_cache(tmp_path, capsys):
    # The message's recipe: model.safetensors in snapshots/<name>/, <name> in refs/main; offline.
    name = "deit_tiny_patch16_224.fb_in1k"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)  # not the seed of --weights none
        model = timm.create_model(name, pretrained=False)
    repo = tmp_path / "hf" / "hub" / f"models--timm--{name}"
    (repo / "snapshots" / "snap").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("snap")
    safetensors.torch.save_file(model.state_dict(), repo / "snapshots" / "snap" / "model.safetensors")
    image = random_image(tmp_path / "y.png", 20, 20)
    run = subprocess.run([sys.executable, "-m", "ifealid", "extract", str(image), "--model", f"timm:{name}",
                          "--layers", "-1", "--out", str(tmp_path / "cached"), "--threads", "1", "-q"],
                         env=offline_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "Hugging Face cache" in run.stderr
    # the same weights given as a file (.safetensors) make the same dataset
    assert cli.main(["extract", str(image), "--model", f"timm:{name}", "--layers", "-1", "--out",
                     str(tmp_path / "file"), "-q", "--weights",
                     str(repo / "snapshots" / "snap" / "model.safetensors")]) == 0
    cached = ifealid.load_dataset(tmp_path / "cached" / "y.png.blocks.11.token.zip")
    from_file = ifealid.load_dataset(tmp_path / "file" / "y.png.blocks.11.token.zip")
    np.testing.assert_array_equal(cached.values(), from_file.values())
    assert cached.range == from_file.range


def test_a_dinov2_repository_checkpoint_loads_through_timms_converter(tmp_path):
    # The DINOv2 repository's layout: register_tokens, mask_token, the class token's position separate.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        source = timm.create_model(DINOV2.removeprefix("timm:"), pretrained=False, depth=1)
    state = dict(source.state_dict())
    state["register_tokens"] = state.pop("reg_token")
    state["mask_token"] = torch.zeros(1, 384)
    state["pos_embed"] = torch.cat([torch.zeros(1, 1, 384), state["pos_embed"]], dim=1)
    torch.save(state, tmp_path / "dinov2_vits14_reg4.pth")
    loaded = load_model(DINOV2, tmp_path / "dinov2_vits14_reg4.pth", model_kwargs={"depth": 1})
    assert torch.equal(loaded.module.reg_token, source.reg_token)
    assert torch.equal(loaded.module.blocks[0].attn.qkv.weight, source.blocks[0].attn.qkv.weight)
    with pytest.raises(ifealid.DatasetError, match="do not fit"):
        load_model("timm:vit_tiny_patch16_224", tmp_path / "dinov2_vits14_reg4.pth", model_kwargs={"depth": 1})


def test_random_weights_are_seeded(tmp_path):
    first = load_model(DINOV3, "none", model_kwargs={"depth": 1}).module
    second = load_model(DINOV3, "none", model_kwargs={"depth": 1}).module
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))


# --------------------------------------------------------------------------------------------
# the Python API and the round trip


def test_the_notebook_api_takes_timm_models(tmp_path):
    model = timm.create_model("vit_small_patch14_reg4_dinov2", pretrained=False, dynamic_img_size=True, depth=2)
    model.train()
    image = np.random.default_rng(4).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    maps = ifealid.capture(model, image, ["blocks.1", -1, 0], facet="key")
    assert set(maps) == {"blocks.1", -1, 0} and model.training  # keyed as given; the mode restored
    assert tuple(maps[-1].shape) == (1, 384, 4, 5) and torch.equal(maps[-1], maps["blocks.1"])
    # a tensor is taken as it is, padded with zeros to whole patches
    tensor = torch.randn(1, 3, 30, 30)
    assert tuple(ifealid.capture(model, tensor, "blocks.0").shape) == (1, 384, 3, 3)
    # one call to a dataset: the last block's tokens, the image padded to the grid as overlay
    result = ifealid.save_features(model, image, tmp_path / "api.zip")
    dataset = ifealid.load_dataset(tmp_path / "api.zip")
    assert dataset.shape == (4, 5, 384) and dataset.overlay_size == (70, 56)
    expected = ifealid.capture(model, image, "blocks.1")[0].numpy().transpose(1, 2, 0)
    np.testing.assert_array_equal(ifealid.quantise(expected).values, dataset.values())
    assert dataset.range == (result.minimum, result.maximum)
    # an attention of a form not read here (no q/k/v projection) offers the token facet only
    plain = timm.create_model("vit_tiny_patch16_224", pretrained=False, dynamic_img_size=True, depth=1)

    class Opaque(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x, **kwargs):
            return self.inner(x, **kwargs)

    plain.blocks[0].attn = Opaque(plain.blocks[0].attn)
    assert tuple(ifealid.capture(plain, image, 0).shape) == (1, 192, 3, 4)
    with pytest.raises(ifealid.DatasetError, match="offers only the facets token"):
        ifealid.capture(plain, image, 0, facet="value")
    # a model made for one size takes that size only, and says how to take others
    fixed = timm.create_model("vit_tiny_patch16_224", pretrained=False, depth=1)
    assert tuple(ifealid.capture(fixed, torch.zeros(1, 3, 224, 224), -1).shape) == (1, 192, 14, 14)
    with pytest.raises(ifealid.DatasetError, match="dynamic_img_size=True"):
        ifealid.capture(fixed, image, -1)


def test_round_trip_extract_validate(tmp_path, capsys):
    image = random_image(tmp_path / "v.png")
    out = tmp_path / "v"
    assert cli.main(["extract", str(image), "--model", DINOV3, "--weights", "none", "--layers", "-1",
                     "--facet", "key", "--out", str(out), "-q"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert cli.main(["validate", str(out / "v.png.blocks.11.key.zip")]) == 0
    summary = capsys.readouterr().out
    assert "3×4×384 (H×W×C)" in summary and "overlay 64×48" in summary  # ceil(45/16) × ceil(61/16)


def test_vision_transformer_options_are_refused_for_cnns():
    cnn = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1))
    image = np.zeros((8, 8, 3), np.uint8)
    assert tuple(ifealid.capture(cnn, image, "0").shape) == (1, 4, 8, 8)
    for option in ({"facet": "key"}, {"norm": True}, {"stride": 2}):
        with pytest.raises(ifealid.DatasetError, match="for timm vision transformers"):
            ifealid.capture(cnn, image, "0", **option)
    with pytest.raises(ifealid.DatasetError, match="model_kwargs are for timm models"):
        load_model("resnet18", "none", model_kwargs={"depth": 2})

"""Feature extraction (`ifealid extract`, ifealid.capture / save_features): needs the `extract` extra.

scripts/test installs it (`pip install -e '.[test,extract]'`), so these tests run, not skip. One torch
thread: two collapse when another process holds one of the machine's two cores. The CLI is called
in-process (cli.main) so that it shares that setting and torch is imported once.
"""
import io
import math
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import ifealid
from ifealid import cli
from ifealid.extract import aligned_overlay, layer_stride, load_model
from ifealid.similarity import angular_similarity

try:
    import torch
    import torchvision
    from skimage import data as skimage_data
except ImportError as exc:  # pragma: no cover - a set-up problem, not a skip
    pytest.fail(f"the extraction tests need the extract extra: pip install -e '.[test,extract]' ({exc})",
                pytrace=False)

torch.set_num_threads(1)

RESNET_LAYERS = {"layer1": (256, 4), "layer2": (512, 8), "layer3": (1024, 16)}


def random_image(path, height, width, seed=0):
    """A smooth random image (blurred blobs: JPEG keeps it close, unlike noise)."""
    coarse = np.random.default_rng(seed).integers(0, 256, (6, 6, 3), dtype=np.uint8)
    Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC).save(path)
    return path


def ceil_div(a, b):
    return -(-a // b)


@pytest.fixture(scope="module")
def resnet101():
    return load_model("resnet101", "none")


@pytest.fixture(scope="module")
def lite0():
    return load_model("efficientnet-lite0")  # the ImageNet weights from its package


@pytest.fixture(scope="module")
def chelsea(tmp_path_factory):
    path = tmp_path_factory.mktemp("chelsea") / "chelsea.png"
    Image.fromarray(skimage_data.chelsea()).save(path)  # 451×300, a real photograph
    return path


def test_importing_the_package_and_the_cli_needs_no_torch():
    code = ("import sys, ifealid, ifealid.extract, ifealid.cli, ifealid.browser; "
            "ifealid.capture; sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("height, width", [(64, 96), (67, 97)])
def test_resnet101_random_weights_channels_and_strides(resnet101, height, width):
    image = np.random.default_rng(1).integers(0, 256, (height, width, 3), dtype=np.uint8)
    maps = ifealid.capture(resnet101.module, image, list(RESNET_LAYERS))
    for name, (channels, stride) in RESNET_LAYERS.items():
        # ceil(H/s) × ceil(W/s): ResNet's padded convolutions round up on odd sizes.
        assert tuple(maps[name].shape) == (1, channels, ceil_div(height, stride), ceil_div(width, stride)), name
        assert layer_stride((height, width), maps[name].shape[2:]) == (stride, "ceil")


def test_extract_zip_validate_load_round_trip(tmp_path, capsys):
    image = random_image(tmp_path / "photo.png", 67, 97)
    out = tmp_path / "out"
    assert cli.main(["extract", str(image), "--weights", "none", "--out", str(out), "--npz"]) == 0
    captured = capsys.readouterr()
    assert "3/3" in captured.err  # the progress bar (one line per step when stderr is no terminal)
    for index, (name, (channels, stride)) in enumerate(RESNET_LAYERS.items(), start=1):
        zip_path = out / f"photo.png.{name}.zip"
        assert str(zip_path) in captured.out
        assert cli.main(["validate", str(zip_path)]) == 0
        assert "Traceback" not in capsys.readouterr().err
        dataset = ifealid.load_dataset(zip_path)
        h, w = ceil_div(67, stride), ceil_div(97, stride)
        assert dataset.shape == (h, w, channels) and dataset.precision == 8
        assert dataset.name == f"photo.png resnet101 {name}"
        # The overlay is the image padded with black to (h·s) × (w·s): cell (i, j) = pixels [s·i, s·i+s).
        assert dataset.overlay_size == (w * stride, h * stride)
        overlay = np.asarray(dataset.overlay_image(), dtype=np.int16)
        original = np.asarray(Image.open(image), dtype=np.int16)
        assert np.abs(overlay[:67, :97] - original).mean() < 4  # JPEG
        assert overlay[67:].mean() < 12 and overlay[:, 97:].mean() < 12  # black (JPEG bleeds a little)
        # The original's intermediate file: <image>.C<n>.npz, one (H, W, C) array, and the values match.
        npz = out / f"photo.png.C{index}.npz"
        with np.load(npz) as loaded:
            assert loaded.files == ["arr_0"]
            features = loaded["arr_0"]
        assert features.shape == (h, w, channels) and features.dtype == np.float32
        np.testing.assert_array_equal(ifealid.quantise(features, 8).values, dataset.values())
        assert dataset.range == (float(features.min()), float(features.max()))  # the true values' range


def test_random_weights_are_the_same_every_run(tmp_path):
    image = random_image(tmp_path / "a.png", 32, 48)
    for out in ("one", "two"):
        assert cli.main(["extract", str(image), "--weights", "none", "--layers", "layer1", "--out",
                         str(tmp_path / out), "-q"]) == 0
    first, second = (ifealid.load_dataset(tmp_path / out / "a.png.layer1.zip").values() for out in ("one", "two"))
    np.testing.assert_array_equal(first, second)


def test_a_custom_layer_name(tmp_path, capsys):
    image = random_image(tmp_path / "c.jpg", 40, 56)
    assert cli.main(["extract", str(image), "--model", "resnet18", "--weights", "none",
                     "--layers", "maxpool,layer2.0.conv1,layer4", "-q"]) == 0
    shapes = {name: ifealid.load_dataset(tmp_path / f"c.jpg.{name}.zip").shape
              for name in ("maxpool", "layer2.0.conv1", "layer4")}
    # ResNet18's BasicBlock strides in its first conv: layer2.0.conv1 is already at stride 8.
    assert shapes == {"maxpool": (10, 14, 64), "layer2.0.conv1": (5, 7, 128), "layer4": (2, 2, 512)}


def test_a_missing_layer_name_lists_the_valid_ones(tmp_path, capsys):
    image = random_image(tmp_path / "m.png", 32, 32)
    assert cli.main(["extract", str(image), "--weights", "none", "--layers", "layer1,layer9"]) == 1
    err = capsys.readouterr().err
    assert "has no layer 'layer9'" in err and "did you mean" in err
    for name in ("conv1", "maxpool", "layer1", "layer4", "fc", "--list-layers"):
        assert name in err
    assert "Traceback" not in err
    assert not list(tmp_path.glob("*.zip"))  # refused before any work


def test_list_layers(capsys):
    assert cli.main(["extract", "--model", "efficientnet-lite0", "--weights", "none", "--list-layers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split("\t")[0] for line in lines]
    assert {"stem", "stage1", "stage7", "head", "stage3.0._depthwise_conv"} <= set(names)
    assert [line.split("\t")[0] for line in lines if line.endswith("(default)")] == \
        ["stage2", "stage3", "stage5", "head"]


def test_a_layer_that_is_not_a_map_is_refused(tmp_path, capsys):
    image = random_image(tmp_path / "f.png", 32, 32)
    assert cli.main(["extract", str(image), "--model", "resnet18", "--weights", "none", "--layers", "fc"]) == 1
    assert "not a (1, C, H, W) feature map" in capsys.readouterr().err


def test_unknown_model(tmp_path, capsys):
    image = random_image(tmp_path / "u.png", 32, 32)
    assert cli.main(["extract", str(image), "--model", "resnet1001"]) == 1
    err = capsys.readouterr().err
    assert "unknown model 'resnet1001'" in err and "did you mean resnet101" in err


def test_a_missing_weights_file_gives_a_clear_message(tmp_path, capsys):
    image = random_image(tmp_path / "w.png", 32, 32)
    assert cli.main(["extract", str(image), "--weights", str(tmp_path / "nope.pth")]) == 1
    err = capsys.readouterr().err
    assert "no such weights file" in err and "nope.pth" in err and "Traceback" not in err


def test_weights_from_a_file_and_a_mismatch(tmp_path, capsys):
    model = torchvision.models.resnet18()
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, tmp_path / "r18.pth")
    loaded = load_model("resnet18", tmp_path / "r18.pth")
    assert torch.equal(loaded.module.conv1.weight, model.conv1.weight)
    image = random_image(tmp_path / "x.png", 32, 32)
    assert cli.main(["extract", str(image), "--model", "resnet34", "--weights", str(tmp_path / "r18.pth")]) == 1
    assert "do not fit resnet34" in capsys.readouterr().err


def test_default_weights_come_from_the_torch_hub_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    entry = torchvision.models.ResNet18_Weights.DEFAULT
    model = torchvision.models.resnet18()
    cache = tmp_path / "torch" / "hub" / "checkpoints" / entry.url.rsplit("/", 1)[1]
    cache.parent.mkdir(parents=True)
    torch.save(model.state_dict(), cache)
    loaded = load_model("resnet18")
    assert "torch hub cache" in loaded.weights
    assert torch.equal(loaded.module.fc.weight, model.fc.weight)

    cache.unlink()  # not cached and no network: a clear message, no download attempted here

    def offline(self, *args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(type(entry), "get_state_dict", offline)
    image = random_image(tmp_path / "d.png", 32, 32)
    assert cli.main(["extract", str(image), "--model", "resnet18"]) == 1
    err = capsys.readouterr().err
    assert "not in the torch hub cache" in err and "--weights none" in err and "Traceback" not in err


def test_without_torch_the_command_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    image = random_image(tmp_path / "t.png", 32, 32)
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    assert cli.main(["extract", str(image)]) == 1
    err = capsys.readouterr().err
    assert "pip install 'ifealid[extract]'" in err and "Traceback" not in err


def test_the_notebook_api(resnet101, tmp_path):
    image = np.random.default_rng(2).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    module = resnet101.module
    module.train()
    # One call: capture a layer for an image and save it, the image as the aligned overlay.
    ifealid.save_features(module, image, tmp_path / "l2.zip", layer="layer2")
    assert module.training  # the module's mode is restored
    dataset = ifealid.load_dataset(tmp_path / "l2.zip")
    assert dataset.shape == (7, 9, 512) and dataset.overlay_size == (72, 56)
    # capture: one name gives a tensor, a list a dict, None the module's own output.
    tensor = ifealid.capture(module, ifealid.preprocess(image), "layer2")
    assert isinstance(tensor, torch.Tensor) and tensor.shape == (1, 512, 7, 9)
    assert set(ifealid.capture(module, image, ["layer1", "layer2"])) == {"layer1", "layer2"}
    assert ifealid.capture(module, image).shape == (1, 1000)
    np.testing.assert_array_equal(ifealid.quantise(tensor[0].numpy().transpose(1, 2, 0)).values, dataset.values())
    assert dataset.range == (float(tensor.min()), float(tensor.max()))
    # save_dataset takes the (C, H, W) tensor as it is.
    buffer = io.BytesIO()
    ifealid.save_dataset(tensor[0], buffer, overlay=aligned_overlay(Image.fromarray(image), 8, (7, 9)))
    np.testing.assert_array_equal(ifealid.load_dataset(buffer.getvalue()).values(), dataset.values())


def test_layer_stride_ceil_floor_and_none():
    assert layer_stride((67, 97), (5, 7)) == (16, "ceil")
    assert layer_stride((67, 97), (4, 6)) == (16, "floor")  # pooling that floors (VGG)
    assert layer_stride((64, 96), (64, 96)) == (1, "ceil")
    assert layer_stride((64, 96), (7, 3)) is None  # no stride fits: the overlay is only stretched
    assert aligned_overlay(Image.new("RGB", (97, 67)), 16, (4, 6)).size == (96, 64)  # cropped


# Chelsea (451×300): the cat's face fills the middle; right of it is a blurred room.
CAT_BOX = (100, 40, 340, 280)       # x0, y0, x1, y1 in image pixels
BACKGROUND_BOX = (400, 100, 451, 300)
CAT_REFERENCES = [(230, 60), (150, 200), (260, 240), (320, 150)]  # forehead, cheeks, chin


def cells_in(box, shape, stride):
    """Cells whose block centre lies inside the box (cell (i, j) = pixels [s·i, s·i+s) × [s·j, s·j+s))."""
    x0, y0, x1, y1 = box
    ys = np.arange(shape[0]) * stride + stride / 2
    xs = np.arange(shape[1]) * stride + stride / 2
    return ((ys >= y0) & (ys < y1))[:, None] & ((xs >= x0) & (xs < x1))[None, :]


def test_efficientnet_lite0_is_trained_and_its_features_are_real(lite0, chelsea, tmp_path):
    logits = ifealid.capture(lite0.module, ifealid.preprocess(chelsea, lite0.mean, lite0.std))
    categories = torchvision.models.ResNet18_Weights.DEFAULT.meta["categories"]  # ImageNet's 1000
    assert categories[int(logits.argmax())] == "Egyptian cat"

    assert cli.main(["extract", str(chelsea), "--model", "efficientnet-lite0", "--out", str(tmp_path), "-q"]) == 0
    expected = {"stage2": (24, 4), "stage3": (40, 8), "stage5": (112, 16), "head": (1280, 32)}
    for name, (channels, stride) in expected.items():
        dataset = ifealid.load_dataset(tmp_path / f"chelsea.png.{name}.zip")
        assert dataset.shape == (math.ceil(300 / stride), math.ceil(451 / stride), channels), name
        assert dataset.overlay_size == (dataset.shape[1] * stride, dataset.shape[0] * stride)

    # The head's map, as the page computes it: a pixel on the cat is more like the cat than the room.
    dataset = ifealid.load_dataset(tmp_path / "chelsea.png.head.zip")
    values = dataset.as_float(np.float64)
    cat = cells_in(CAT_BOX, values.shape, 32)
    background = cells_in(BACKGROUND_BOX, values.shape, 32)
    assert cat.sum() >= 40 and background.sum() >= 10
    for x, y in CAT_REFERENCES:
        similarity = angular_similarity(values, x // 32, y // 32)
        on_cat, off_cat = similarity[cat], similarity[background]
        assert on_cat.mean() > off_cat.mean() + 0.1, (x, y, on_cat.mean(), off_cat.mean())
        # and ranked: most (cat, background) pairs put the cat pixel first
        assert (on_cat[:, None] > off_cat[None, :]).mean() > 0.75, (x, y)

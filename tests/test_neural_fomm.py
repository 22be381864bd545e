"""FOMM (vox-256): checkpoint layout, strict loading of ``vox-cpk.pth.tar``, golden outputs with seeded weights.

See tests/data/checkpoint_specs/golden/README.md for the weight recipe, the
forward calls and the tolerances used here.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from deepstory.neural import fomm
from deepstory.neural.checkpoint import CheckpointError

from neural_golden import assert_matches, golden, golden_state_dict, spec

torch.set_num_threads(1)

KP, GEN = "fomm_kp_detector", "fomm_generator"
KP_KEEP = "down.weight"
GEN_KEEP = "dense_motion_network.down.weight"


@pytest.fixture(scope="module")
def kp_golden():
    return golden(KP)


@pytest.fixture(scope="module")
def gen_golden():
    return golden(GEN)


@pytest.fixture(scope="module")
def golden_weights(kp_golden):
    kernel = torch.from_numpy(kp_golden["buffer.down.weight"])
    return {KP: golden_state_dict(KP, keep={KP_KEEP: kernel}), GEN: golden_state_dict(GEN, keep={GEN_KEEP: kernel})}


@pytest.fixture(scope="module")
def checkpoint_file(tmp_path_factory, golden_weights):
    """A checkpoint in the layout the original training Logger writes."""
    path = tmp_path_factory.mktemp("fomm") / "vox-cpk.pth.tar"
    torch.save(
        {
            "generator": golden_weights[GEN],
            "kp_detector": golden_weights[KP],
            "discriminator": {},
            "optimizer_generator": {},
            "optimizer_kp_detector": {},
            "optimizer_discriminator": {},
            "epoch": 0,
        },
        path,
    )
    return path


@pytest.fixture(scope="module")
def models(checkpoint_file):
    return fomm.load_fomm(checkpoint_file)


@pytest.fixture(scope="module")
def images():
    data = golden("fomm_inputs")
    return {
        name: torch.from_numpy(data[f"{name}_u8"]).float() / 255 for name in ("source", "driving_initial", "driving")
    }


@pytest.fixture(scope="module")
def keypoints(models, images):
    kp_detector, _ = models
    with torch.no_grad():
        return {name: kp_detector(image) for name, image in images.items()}


def stored_kp(data, prefix):
    return {field: torch.from_numpy(data[f"{prefix}.{field}"]) for field in ("value", "jacobian")}


# ----------------------------------------------------------------------------- 1. layout and weights


@pytest.mark.parametrize("name, build", [(KP, fomm.build_kp_detector), (GEN, fomm.build_generator)])
def test_state_dict_layout_matches_spec(name, build):
    model = build()
    entries = spec(name)["state_dict"]
    state = model.state_dict()
    assert list(state) == list(entries)
    for key, entry in entries.items():
        assert list(state[key].shape) == entry["shape"], key
        assert str(state[key].dtype).removeprefix("torch.") == entry["dtype"], key
    params = {n for n, _ in model.named_parameters()}
    assert {k for k, e in entries.items() if e["kind"] == "parameter"} == params
    counts = spec(name)["counts"]
    assert sum(p.numel() for p in model.parameters()) == counts["num_parameters"]


def test_antialias_kernel_is_the_stored_gaussian(kp_golden):
    stored = torch.from_numpy(kp_golden["buffer.down.weight"])
    for module in (fomm.build_kp_detector().down, fomm.build_generator().dense_motion_network.down):
        assert module.weight.shape == (3, 1, 13, 13)
        torch.testing.assert_close(module.weight, stored, rtol=0, atol=1e-8)
    assert abs(float(stored[0].sum()) - 1.0) < 1e-6


@pytest.mark.parametrize("name", [KP, GEN])
def test_golden_weights_match_fingerprint(name, models, golden_weights):
    """The weights as held by the loaded model reproduce weights_fingerprint.npz bit for bit."""
    model = models[0] if name == KP else models[1]
    state = model.state_dict()
    ref = golden("weights_fingerprint")
    assert list(state) == list(ref[f"{name}.keys"])
    for i, key in enumerate(ref[f"{name}.keys"]):
        array = state[key].detach().cpu().numpy()
        digest = hashlib.sha256(np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes())
        assert digest.hexdigest()[:16] == ref[f"{name}.sha256"][i], key
        flat = array.reshape(-1).astype(np.float64)
        sums = np.array([flat.sum(), np.abs(flat).sum(), flat[0], flat[-1]])
        np.testing.assert_allclose(sums, ref[f"{name}.fingerprint"][i], rtol=1e-9, atol=1e-12, err_msg=key)
        assert torch.equal(state[key], golden_weights[name][key]), key


# ----------------------------------------------------------------------------- 2. loading


def test_load_fomm_strict_eval(models, golden_weights):
    kp_detector, generator = models
    assert isinstance(kp_detector, fomm.KPDetector) and isinstance(generator, fomm.OcclusionAwareGenerator)
    assert not kp_detector.training and not generator.training
    assert all(not m.training for m in generator.modules())


def test_wrong_shape_names_parameter(tmp_path, golden_weights):
    generator = dict(golden_weights[GEN])
    generator["bottleneck.r3.conv2.weight"] = torch.zeros(256, 128, 3, 3)
    path = tmp_path / "bad.pth.tar"
    torch.save({"generator": generator, "kp_detector": golden_weights[KP], "epoch": 0}, path)
    with pytest.raises(CheckpointError) as err:
        fomm.load_fomm(path, where="models.animator.checkpoint")
    message = str(err.value)
    assert "\n" not in message
    for part in (
        "models.animator.checkpoint",
        str(path),
        "bottleneck.r3.conv2.weight",
        "[256, 256, 3, 3]",
        "[256, 128, 3, 3]",
    ):
        assert part in message, (part, message)


def test_missing_top_level_key(tmp_path, golden_weights):
    path = tmp_path / "no_kp.pth.tar"
    torch.save({"generator": {}, "epoch": 0}, path)
    with pytest.raises(CheckpointError, match=r"models\.animator\.checkpoint: .*no 'kp_detector' entry"):
        fomm.load_fomm(path)
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        fomm.load_fomm(tmp_path / "absent.pth.tar")


def test_missing_num_batches_tracked_is_accepted(tmp_path, golden_weights):
    strip = {
        name: {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
        for name, sd in golden_weights.items()
    }
    assert len(strip[KP]) < len(golden_weights[KP]) and len(strip[GEN]) < len(golden_weights[GEN])
    path = tmp_path / "old.pth.tar"
    torch.save({"generator": strip[GEN], "kp_detector": strip[KP]}, path)
    kp_detector, generator = fomm.load_fomm(path)
    for model, name in ((kp_detector, KP), (generator, GEN)):
        for key, value in model.state_dict().items():
            assert torch.equal(value, golden_weights[name][key]), key


# ----------------------------------------------------------------------------- 3. golden outputs


def test_kp_detector_intermediates(models, images, kp_golden):
    kp_detector, _ = models
    prefix = "kp_detector.source"
    with torch.no_grad():
        after_down = kp_detector.down(images["source"])
        feature_map = kp_detector.predictor(after_down)
        assert_matches(after_down, kp_golden, f"{prefix}.after_down")
        assert_matches(feature_map, kp_golden, f"{prefix}.feature_map", pool=4)
        assert_matches(kp_detector.kp(feature_map), kp_golden, f"{prefix}.heatmap_logits")
        assert_matches(kp_detector.jacobian(feature_map), kp_golden, f"{prefix}.jacobian_map", pool=2)


@pytest.mark.parametrize(
    "image, prefix", [("source", "kp_source"), ("driving_initial", "kp_driving_initial"), ("driving", "kp_driving")]
)
def test_kp_detector_outputs(keypoints, kp_golden, image, prefix):
    for field in ("value", "jacobian"):
        assert_matches(keypoints[image][field], kp_golden, f"{prefix}.{field}")


def test_normalize_kp(keypoints, kp_golden):
    kp_s, kp_di, kp_d = keypoints["source"], keypoints["driving_initial"], keypoints["driving"]
    plain = fomm.normalize_kp(kp_s, kp_d, kp_di, adapt_movement_scale=False)
    adapt = fomm.normalize_kp(
        kp_source=kp_s,
        kp_driving=kp_d,
        kp_driving_initial=kp_di,
        adapt_movement_scale=True,
        use_relative_movement=True,
        use_relative_jacobian=True,
    )
    for field in ("value", "jacobian"):
        assert_matches(plain[field], kp_golden, f"kp_norm.{field}")
        assert_matches(adapt[field], kp_golden, f"kp_norm_adapt.{field}")
    area_s = fomm._hull_area(kp_s["value"][0])
    area_di = fomm._hull_area(kp_di["value"][0])
    np.testing.assert_allclose(area_s, kp_golden["kp_norm_adapt.source_hull_area"], rtol=1e-5)
    np.testing.assert_allclose(area_di, kp_golden["kp_norm_adapt.driving_initial_hull_area"], rtol=1e-5)
    np.testing.assert_allclose(np.sqrt(area_s) / np.sqrt(area_di), kp_golden["kp_norm_adapt.scale"], rtol=1e-5)
    # no relative movement: the driving keypoints pass through unchanged
    absolute = fomm.normalize_kp(kp_s, kp_d, kp_di, False, use_relative_movement=False)
    assert absolute["value"] is kp_d["value"] and absolute["jacobian"] is kp_d["jacobian"]


def test_generator_outputs(models, images, kp_golden, gen_golden):
    """The generator fed the stored raw source/driving keypoints (not the normalised ones)."""
    _, generator = models
    kp_s, kp_d = stored_kp(kp_golden, "kp_source"), stored_kp(kp_golden, "kp_driving")
    with torch.no_grad():
        out = generator(images["source"], kp_source=kp_s, kp_driving=kp_d)
        motion = generator.dense_motion_network(source_image=images["source"], kp_driving=kp_d, kp_source=kp_s)
    assert set(out) == {"mask", "sparse_deformed", "occlusion_map", "deformed", "prediction"}
    for name in ("prediction", "mask", "occlusion_map"):
        assert_matches(out[name], gen_golden, name)
    assert_matches(out["deformed"], gen_golden, "deformed", factor=1e-3, pool=4)
    assert_matches(out["sparse_deformed"], gen_golden, "sparse_deformed", factor=1e-3, pool=2)
    assert_matches(motion["deformation"], gen_golden, "dense_motion.deformation")
    torch.testing.assert_close(motion["mask"], out["mask"], rtol=0, atol=0)


def test_end_to_end_with_own_keypoints(models, images, keypoints, gen_golden):
    """kp detector -> generator, as the animator chains them (golden was made from the same tensors)."""
    _, generator = models
    with torch.no_grad():
        out = generator(images["source"], kp_source=keypoints["source"], kp_driving=keypoints["driving"])
    assert_matches(out["prediction"], gen_golden, "prediction")


def test_batch_of_two_is_per_item(models, images):
    kp_detector, generator = models
    batch = torch.cat([images["source"], images["driving"]])
    with torch.no_grad():
        kp = kp_detector(batch)
        assert kp["value"].shape == (2, 10, 2) and kp["jacobian"].shape == (2, 10, 2, 2)
        single = kp_detector(images["driving"])
        torch.testing.assert_close(kp["value"][1:], single["value"], rtol=0, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_golden(checkpoint_file, images, kp_golden, gen_golden):
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        kp_detector, generator = fomm.load_fomm(checkpoint_file, device="cuda")
        source, driving = images["source"].cuda(), images["driving"].cuda()
        with torch.no_grad():
            kp_s, kp_d = kp_detector(source), kp_detector(driving)
            out = generator(source, kp_source=kp_s, kp_driving=kp_d)
        for field in ("value", "jacobian"):
            assert_matches(kp_s[field], kp_golden, f"kp_source.{field}")
            assert_matches(kp_d[field], kp_golden, f"kp_driving.{field}")
        for name in ("prediction", "mask", "occlusion_map"):
            assert_matches(out[name], gen_golden, name)
        assert_matches(out["deformed"], gen_golden, "deformed", factor=1e-3, pool=4)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn

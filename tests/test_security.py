"""No pickle can run code: checkpoints and models load from safetensors (Accelerate's own
pickles only with `weights_only=True`); no secrets in the repository; dependencies pinned.
The app's file serving is tested in `tests/test_app.py`."""

import re
import shutil
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator
from diffusers.training_utils import EMAModel
from packaging.version import Version

from models.pipelines import load_components
from training.loop import EMA_FILE, load_checkpoint, save_checkpoint

REPO = Path(__file__).resolve().parents[1]


class Payload:
    """Unpickling this creates a file: the proof that a pickle ran code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


@pytest.fixture
def trained(tmp_path):
    """A tiny model, optimiser and EMA, a few steps in, saved as a training checkpoint."""
    accelerator = Accelerator(cpu=True)
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    model, optimizer = accelerator.prepare(model, optimizer)
    ema = EMAModel(list(model.parameters()), decay=0.9)
    for _ in range(3):
        model(torch.randn(2, 4)).pow(2).mean().backward()
        optimizer.step()
        optimizer.zero_grad()
        ema.step(list(model.parameters()))
    save_checkpoint(accelerator, tmp_path, 3, keep=2, ema=ema)
    return accelerator, model, optimizer, ema, tmp_path / "step_0000003"


def test_checkpoints_keep_ema_in_safetensors_and_restore_it(trained):
    accelerator, model, _, ema, folder = trained
    assert (folder / EMA_FILE).is_file() and not list(folder.glob("custom_checkpoint_*"))
    fresh = EMAModel(list(model.parameters()), decay=0.9)
    assert load_checkpoint(accelerator, folder, fresh) == 3
    assert fresh.optimization_step == ema.optimization_step == 3
    assert all(torch.equal(a, b) for a, b in zip(fresh.shadow_params, ema.shadow_params))


def test_the_payload_runs_when_unpickled_unsafely(tmp_path):
    marker = tmp_path / "pwned"
    torch.save(Payload(marker), tmp_path / "payload.pkl")
    torch.load(tmp_path / "payload.pkl", weights_only=False)
    assert marker.exists()  # so the tests below would see it run


@pytest.mark.parametrize("planted", ["optimizer.bin", "random_states_0.pkl", "custom_checkpoint_0.pkl"])
def test_a_planted_pickle_in_a_checkpoint_never_runs(trained, tmp_path, planted):
    accelerator, model, _, ema, folder = trained
    marker = tmp_path / "pwned"
    torch.save(Payload(marker), folder / planted)
    try:
        load_checkpoint(accelerator, folder, ema)
    except Exception:  # refusing to load is fine; running the payload is not
        pass
    assert not marker.exists()


def test_models_load_only_from_safetensors(tiny_checkpoint, tmp_path):
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_checkpoint, folder)
    marker = tmp_path / "pwned"
    for weights in (folder / "transformer").glob("*.safetensors"):
        weights.unlink()
    torch.save(Payload(marker), folder / "transformer" / "diffusion_pytorch_model.bin")
    with pytest.raises(ValueError, match="cannot load 'transformer'"):
        load_components(folder)
    assert not marker.exists()


SECRET_PATTERNS = {
    "Hugging Face token": r"hf_[A-Za-z0-9]{30,}",
    "GitHub token": r"gh[pousr]_[A-Za-z0-9]{36}",
    "OpenAI-style key": r"sk-[A-Za-z0-9_-]{32,}",
    "AWS access key": r"AKIA[0-9A-Z]{16}",
    "Slack token": r"xox[abprs]-[A-Za-z0-9-]{10,}",
    "private key": r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
}


def test_no_secrets_in_the_repository():
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    names = [n for n in listed.stdout.decode().split("\0") if n]
    assert not [n for n in names if Path(n).name in (".env", ".netrc", ".pypirc") or n.endswith((".pem", ".key"))]
    pattern = re.compile("|".join(f"(?P<g{i}>{p})" for i, p in enumerate(SECRET_PATTERNS.values())))
    found = []
    for name in names:
        path = REPO / name
        if path.is_file() and path.stat().st_size < 2**20:
            text = path.read_bytes().decode("utf-8", errors="ignore")
            found += [f"{name}: {list(SECRET_PATTERNS)[int(m.lastgroup[1:])]}" for m in pattern.finditer(text)]
    assert not found, found


def test_dependencies_are_pinned_and_installed_as_pinned():
    lines = [line.split("#")[0].strip() for line in (REPO / "requirements.txt").read_text().splitlines()]
    requirements = [line for line in lines if line]
    assert requirements and all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][A-Za-z0-9.]*", r) for r in requirements), \
        requirements
    for requirement in requirements:
        name, pinned = requirement.split("==")
        try:
            installed = version(name)
        except PackageNotFoundError:
            pytest.fail(f"{name} is pinned but not installed")
        assert Version(installed).public == Version(pinned).public, (name, installed, pinned)  # 2.13.0+cpu is 2.13.0

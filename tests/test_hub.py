import re
import subprocess
from pathlib import Path

import pytest
import yaml

import tinydiff_lib as td
from tinydiff_lib import hub

REPO = Path(__file__).resolve().parents[1]

# Every address that names a GitHub repository: github.com/<owner>/<repo>, Colab's github/<owner>/<repo>,
# raw.githubusercontent.com/<owner>/<repo>, Binder's gh/<owner>/<repo>.
GITHUB_REPO = re.compile(
    r"(?:github\.com|githubusercontent\.com|colab\.research\.google\.com/github|mybinder\.org/v2/gh)"
    r"/(?P<owner>[A-Za-z0-9_.-]+)/(?P<repo>[A-Za-z0-9_.-]+?)(?:\.git)?(?=[/\"'\s)#?>\]`\\]|$)"
)
# Other projects' repositories a file may name on purpose (with the reason); empty today.
OTHER_REPOSITORIES: dict[str, str] = {}


def test_repo_url_matches_the_book_config():
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    assert td.REPO_URL == config["repository"]["url"]


def test_every_github_address_names_the_one_repository():
    """The Colab install line, the badges, the launch buttons and the checkpoint download all use REPO_URL."""
    owner_repo = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+)", td.REPO_URL).group(1)
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
    candidates = {REPO / p for p in tracked} | set(REPO.glob("book/**/*.md")) | set(REPO.glob("notebooks/*"))
    suffixes = {".md", ".ipynb", ".py", ".toml", ".yml", ".yaml", ".cfg", ".txt", ".json", ".bib", ".html", ""}
    seen, wrong = 0, []
    for path in sorted(candidates):
        if not path.is_file() or path.suffix not in suffixes or ".venv" in path.parts:
            continue
        for m in GITHUB_REPO.finditer(path.read_text(errors="replace")):
            seen += 1
            found = f"{m.group('owner')}/{m.group('repo')}"
            if found != owner_repo and found not in OTHER_REPOSITORIES:
                wrong.append(f"{path.relative_to(REPO)}: {m.group(0)}")
    assert seen >= 10, f"expected the README, the book and every notebook to name the repository ({seen} found)"
    assert not wrong, f"these name another repository than {td.REPO_URL}: {wrong}"


def test_checkpoint_path_prefers_the_checkout(monkeypatch, tmp_path):
    (tmp_path / "m.pt").write_bytes(b"x")
    monkeypatch.setenv("TINYDIFF_CHECKPOINTS", str(tmp_path))
    assert td.checkpoint_path("m") == tmp_path / "m.pt"


def test_this_checkout_is_recognised(monkeypatch):
    monkeypatch.delenv("TINYDIFF_CHECKPOINTS", raising=False)
    assert hub._checkout_root() == REPO
    assert hub.shipped_checkpoints_dir() == REPO / "checkpoints"


def test_missing_checkpoint_says_how_to_make_it(monkeypatch, tmp_path):
    monkeypatch.setenv("TINYDIFF_CHECKPOINTS", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(td.CheckpointError, match="make checkpoints"):
        td.checkpoint_path("nothing_here", download=False)


@pytest.fixture
def installed_copy(monkeypatch, tmp_path):
    """The package as pip installs it (Colab): tinydiff_lib/ inside site-packages, no checkout around it."""
    site = tmp_path / "site-packages"
    (site / "tinydiff_lib").mkdir(parents=True)
    (site / "checkpoints").mkdir()  # even a stray folder of that name must not be taken for a checkout's
    monkeypatch.setattr(hub, "__file__", str(site / "tinydiff_lib" / "hub.py"))
    monkeypatch.delenv("TINYDIFF_CHECKPOINTS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def test_outside_a_checkout_the_cache_is_searched_and_filled(installed_copy, monkeypatch):
    assert hub.shipped_checkpoints_dir() is None
    cache = installed_copy / "home" / ".cache" / "tinydiff" / "checkpoints"
    assert hub.cache_dir() == cache
    with pytest.raises(td.CheckpointError) as info:
        td.checkpoint_path("film_unet", download=False)
    assert str(cache) in str(info.value) and "site-packages" not in str(info.value)

    import torch

    urls = []

    def fake_download(url, dst, progress=True):
        urls.append(url)
        Path(dst).write_bytes(b"weights")

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    path = td.checkpoint_path("film_unet")
    assert path == cache / "film_unet.pt" and path.read_bytes() == b"weights"
    assert urls == [f"{td.REPO_URL}/raw/main/checkpoints/film_unet.pt"]
    assert td.checkpoint_path("film_unet") == path and len(urls) == 1  # the second look-up hits the cache


def test_a_failed_download_leaves_nothing_in_the_cache(installed_copy, monkeypatch):
    import torch

    def broken(url, dst, progress=True):
        Path(dst).write_bytes(b"half")
        raise ConnectionError("offline")

    monkeypatch.setattr(torch.hub, "download_url_to_file", broken)
    with pytest.raises(td.CheckpointError, match="downloading .* failed"):
        td.checkpoint_path("film_unet")
    assert list(hub.cache_dir().iterdir()) == []

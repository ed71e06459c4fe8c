"""The README's (and the introduction's) commands work as written after `make setup`.

Every shell example runs the project's environment by its path (`.venv/bin/...`): a bare `python`, `pip`,
`jupyter` or `tinydiff` would be whichever one is first on the reader's PATH (a system Python without
torch). Each `tinydiff` command parses with the real argument parser, each `make` target exists, each file
an example writes lands where git ignores it, and each file it reads exists or is written by an example
before it.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tinydiff_lib.cli import UserError, build_parser

REPO = Path(__file__).resolve().parents[1]
DOCS = [
    "README.md",
    "book/intro.md",
    "notebooks/README.md",
]
VENV_BIN = ".venv/bin/"
# Programs a reader runs as they are (not from the project's environment).
SYSTEM_PROGRAMS = {"make", "git", "cd", "source", "conda", "sudo", "apt-get", "npm", "du"}
# Programs that exist both on the reader's PATH and in .venv: only the .venv one is meant.
VENV_PROGRAMS = {"python", "python3", "pip", "pip3", "jupyter", "jupyter-book", "tinydiff", "pytest", "papermill",
                 "ruff"}  # fmt: skip
FENCE = re.compile(r"^[ \t]*```(?:bash|sh|shell|console)[ \t]*\n(.*?)^[ \t]*```", re.M | re.S)
INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")


def shell_blocks(doc: str) -> list[list[str]]:
    """The fenced shell examples of a document, each as its list of logical lines."""
    text = (REPO / doc).read_text()
    blocks = []
    for m in FENCE.finditer(text):
        joined = m.group(1).replace("\\\n", " ")
        blocks.append([line.strip() for line in joined.splitlines() if line.strip()])
    return blocks


ASSIGNMENT = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)")


def commands(line: str) -> list[tuple[dict[str, str], list[str]]]:
    """`A && X=1 B; C` -> [({}, [A...]), ({"X": "1"}, [B...]), ({}, [C...])], comments dropped."""
    words = shlex.split(line, comments=True)
    out, env, current = [], {}, []
    for word in words + ["&&"]:
        if word in ("&&", "||", ";", "|"):
            if current:
                out.append((env, current))
            env, current = {}, []
        elif not current and ASSIGNMENT.fullmatch(word):
            m = ASSIGNMENT.fullmatch(word)
            env[m.group("name")] = m.group("value")
        else:
            current.append(word)
    return out


def tinydiff_args(cmd: list[str]) -> list[str] | None:
    """The arguments of a `tinydiff` command (either spelling), or None for any other command."""
    if cmd[0] == VENV_BIN + "tinydiff":
        return cmd[1:]
    if cmd[0] == VENV_BIN + "python" and cmd[1:3] == ["-m", "tinydiff_lib"]:
        return cmd[3:]
    return None


def git_ignores(path: str) -> bool:
    return subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO).returncode == 0


def check_command(cmd: list[str], activated: bool, written: set[str], env: dict[str, str] | None = None) -> list[str]:
    problems = []
    prog = cmd[0]
    data = (env or {}).get("TINYDIFF_DATA", "")
    if data and not data.startswith(("/", "~", "$")) and prog != "make":
        problems.append(
            f"`TINYDIFF_DATA={data} {' '.join(cmd)}`: a relative TINYDIFF_DATA is read from the working folder of "
            "the program that loads MNIST (notebooks/ for a notebook), not from where it was typed; only `make` "
            'makes it absolute. Write TINYDIFF_DATA="$PWD/..." or TINYDIFF_DATA="$(make -s data-root '
            'TINYDIFF_DATA=...)"'
        )
    if prog in VENV_PROGRAMS and not activated:
        problems.append(f"`{' '.join(cmd)}` runs whatever `{prog}` is on the PATH: write {VENV_BIN}{prog}")
    elif prog.startswith(VENV_BIN):
        if (REPO / ".venv").is_dir() and not (REPO / prog).exists():
            problems.append(f"`{' '.join(cmd)}`: {prog} is not installed by `make setup`")
    elif prog not in SYSTEM_PROGRAMS | VENV_PROGRAMS:
        problems.append(f"`{' '.join(cmd)}`: unknown program {prog!r} (a reader may not have it)")
    args = tinydiff_args(cmd)
    if args and "..." not in args:
        try:
            parsed = build_parser().parse_args(args)
        except (UserError, SystemExit) as exc:
            return problems + [f"`{' '.join(cmd)}` does not parse: {exc}"]
        out = getattr(parsed, "out", None)
        if out is not None:
            if not git_ignores(out):
                problems.append(f"`{' '.join(cmd)}` writes {out}, which git does not ignore (use runs/ or samples/)")
            written.add(out)
        checkpoint = getattr(parsed, "checkpoint", None)
        if checkpoint is not None and checkpoint not in written and not (REPO / checkpoint).exists():
            problems.append(f"`{' '.join(cmd)}` reads {checkpoint}, which neither exists nor is written before")
    if prog.startswith(VENV_BIN + "python") and len(cmd) > 1 and cmd[1].endswith(".py"):
        if not (REPO / cmd[1]).is_file():
            problems.append(f"`{' '.join(cmd)}`: no such script {cmd[1]}")
    if prog == "make" and shutil.which("make"):
        targets = [w for w in cmd[1:] if not w.startswith("-") and "=" not in w]
        dry = subprocess.run(["make", "-n", *cmd[1:]], cwd=REPO, capture_output=True, text=True)
        if dry.returncode != 0:
            problems.append(f"`{' '.join(cmd)}`: make -n fails: {dry.stderr.strip()[-300:]} (targets {targets})")
    return problems


@pytest.mark.parametrize("doc", DOCS)
def test_shell_examples_use_the_project_environment_and_parse(doc):
    problems, count = [], 0
    for block in shell_blocks(doc):
        activated, written = False, set()
        for line in block:
            for env, cmd in commands(line):
                count += 1
                if cmd[:2] == ["source", VENV_BIN + "activate"] or cmd[:2] == ["conda", "activate"]:
                    activated = True
                if cmd[0] == "cd" and len(cmd) > 1 and cmd[1] != "tinydiff":
                    problems.append(f"`{' '.join(cmd)}`: the other examples run in the repository root")
                problems += check_command(cmd, activated, written, env)
    assert count, f"{doc} has no shell examples any more: update DOCS"
    assert not problems, f"{doc}:\n" + "\n".join(problems)


@pytest.mark.parametrize("doc", ["README.md", "book/intro.md"])
def test_inline_commands_use_the_project_environment(doc):
    """`python -m ...` in a sentence is as likely to be copied as a code block."""
    problems = []
    for m in INLINE.finditer((REPO / doc).read_text()):
        span = m.group(1).strip()
        if "git+https://" in span:  # the Colab install line: runs in Colab's own Python
            continue
        try:
            cmds = commands(span)
        except ValueError:
            continue
        activated = False
        for env, cmd in cmds:
            activated |= cmd[:2] == ["conda", "activate"] or cmd[:2] == ["source", VENV_BIN + "activate"]
            if cmd[0] in VENV_PROGRAMS and len(cmd) > 1 and not activated:
                problems.append(f"`{span}`: write {VENV_BIN}{cmd[0]}")
            elif cmd[0].startswith(VENV_BIN) or cmd[0] == "make":
                problems += check_command(cmd, False, {"runs/tiny_conv.pt"}, env)
    assert not problems, f"{doc}:\n" + "\n".join(problems)


def test_readme_and_intro_tell_one_story():
    """Set up with `make setup`, open the notebooks with .venv's JupyterLab; conda is the same alternative."""
    readme, intro = (REPO / "README.md").read_text(), (REPO / "book/intro.md").read_text()
    for text in (readme, intro):
        assert "make setup" in text and ".venv/bin/jupyter lab notebooks/" in text
        assert "conda env create -f environment.yml && conda activate tinydiff" in text
        assert "TINYDIFF_DATA" in text
    env_comment = (REPO / "environment.yml").read_text().split("name:")[0]
    assert "make" in env_comment, "environment.yml should say how it relates to `make setup`"

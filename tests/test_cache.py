"""The release cache is an optimisation only: with it, without it, cold, warm, damaged,
from another version or unwritable, every result is the same, byte for byte."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import compiler
from compiler import files
from compiler import cache as cache_module
from compiler.cache import ReleaseCache, encode_entry, open_cache
from compiler.load import LoadLimits
from compiler.render import release_fragments, render_tree
from compiler.reporter import format_text
from compiler.validate import validate_paths
from tests.conftest import CASES, REPO, run_relc

INVALID = sorted(p for p in (CASES / "invalid").iterdir() if p.suffix == ".yaml" or p.is_dir())
VALID = sorted((CASES / "valid").glob("*.yaml"))


def _compile(paths: list[Path], cache: ReleaseCache | None) -> tuple[str, bool, list[str], dict[str, bytes]]:
    """What a user sees: the diagnostics, whether all is valid, the releases, rendered/."""
    result = validate_paths(paths, Path("."), cache=cache, render=release_fragments)
    files = render_tree(result.releases) if result.ok else {}
    return format_text(result.diagnostics), result.ok, [c.path for c in result.releases], files


def _cache(folder: Path) -> ReleaseCache:
    return ReleaseCache(folder, open_cache(Path(".")).salt)


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.json"))


def test_every_case_and_example_gives_the_same_result_with_and_without_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(CASES)
    cache = _cache(tmp_path / "cache")
    for case in [*INVALID, *VALID]:
        paths = [case.relative_to(CASES)]
        uncached = _compile(paths, None)
        assert _compile(paths, cache) == uncached, f"{case.name}: a cold cache changed the result"
        assert _compile(paths, cache) == uncached, f"{case.name}: a warm cache changed the result"
        assert (not uncached[1]) == (case in INVALID)
    monkeypatch.chdir(REPO)
    uncached = _compile([Path("releases")], None)
    assert uncached[3] and uncached[1]
    assert _compile([Path("releases")], cache) == uncached
    assert _compile([Path("releases")], cache) == uncached
    assert {path: (REPO / "rendered" / path).read_bytes() for path in uncached[3]} == uncached[3], "rendered/ is stale"


def test_a_warm_run_parses_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unchanged release is recognised from its digest: no parse, no rule, no render."""
    monkeypatch.chdir(REPO)
    cache = _cache(tmp_path / "cache")
    expected = _compile([Path("releases")], cache)

    def refuse(*arguments: object) -> None:
        raise AssertionError("a cached release was checked again")

    monkeypatch.setattr("compiler.rules.check_release_bytes", refuse)
    monkeypatch.setattr("compiler.load.load_bytes", refuse)
    assert _compile([Path("releases")], cache) == expected


def _damage(entry: Path, how: str) -> None:
    raw = entry.read_bytes()
    header, _, payload = raw.partition(b"\n")
    if how == "truncated":
        entry.write_bytes(raw[: len(raw) // 2])
    elif how == "byte flipped":
        middle = len(header) + 1 + len(payload) // 2
        entry.write_bytes(raw[:middle] + bytes([raw[middle] ^ 0x01]) + raw[middle + 1 :])
    elif how == "empty":
        entry.write_bytes(b"")
    elif how == "foreign format":
        entry.write_bytes(header.replace(b"relc-cache 1 ", b"relc-cache 99 ") + b"\n" + payload)
    elif how == "garbage":
        entry.write_bytes(os.urandom(len(raw)))
    elif how == "a folder":
        entry.unlink()
        entry.mkdir()
    elif how == "other entry":  # a whole, well-formed entry under another release's name
        others = [p for p in entry.parent.parent.rglob("*.json") if p != entry and p.is_file()]
        entry.write_bytes(others[0].read_bytes())


@pytest.mark.parametrize("how", ["truncated", "byte flipped", "empty", "foreign format", "garbage", "a folder", "other entry"])
def test_a_damaged_cache_never_changes_the_result(how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    folder = tmp_path / "cache"
    expected = _compile([Path("releases")], None)
    _compile([Path("releases")], _cache(folder))
    entries = _entries(folder)
    assert len(entries) >= 4
    for entry in entries:
        _damage(entry, how)
    assert _compile([Path("releases")], _cache(folder)) == expected
    assert _compile([Path("releases")], _cache(folder)) == expected  # and after rewriting what it could


def _poison(folder: Path, salt: str) -> None:
    """Entries that are well formed and checksummed but lie: every release valid with a
    made-up warning-free result and no fragments. Used only if the key matches."""
    for path in sorted(Path("releases").glob("*.yaml")):
        cache = ReleaseCache(folder, salt)
        key = cache.key(path.as_posix(), path.read_bytes(), repr(LoadLimits()))
        target = folder / key[:2] / f"{key}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        lie = {"templates": {}, "diagnostics": [[path.as_posix(), 1, 1, "RELC201", "poisoned", "error"]],
               "facts": None, "fragments": None, "blobs": []}  # fmt: skip
        target.write_bytes(encode_entry(lie, key))


def test_entries_of_another_relc_version_are_never_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    folder = tmp_path / "cache"
    expected = _compile([Path("releases")], None)
    old_salt = open_cache(Path(".")).salt
    _poison(folder, old_salt)
    poisoned = _compile([Path("releases")], ReleaseCache(folder, old_salt))
    assert "poisoned" in poisoned[0], "the poisoned entries are what this version would read"
    monkeypatch.setattr(compiler, "__version__", "99.0.0")
    monkeypatch.setattr(cache_module, "_SALTS", {})
    upgraded = open_cache(Path("."))
    assert upgraded.salt != old_salt
    assert _compile([Path("releases")], ReleaseCache(folder, upgraded.salt)) == expected


def test_an_edited_relc_never_reads_entries_its_old_code_wrote(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a checkout the version stays while renderers change: the code is in the key."""
    monkeypatch.chdir(REPO)
    before = cache_module._code_digest()
    original = Path.read_bytes
    monkeypatch.setattr(
        Path, "read_bytes", lambda self: original(self) + (b"# edited\n" if self.name == "envoy.py" else b"")
    )
    assert cache_module._code_digest() != before


SHARED = (CASES / "prompts" / "basic.j2").read_bytes()


def _shared_template_repository(root: Path, count: int) -> None:
    (root / "prompts").mkdir(parents=True)
    (root / "prompts" / "shared.j2").write_bytes(SHARED)
    (root / "releases").mkdir()
    text = (CASES / "valid" / "minimal.yaml").read_text().replace("prompts/basic.j2", "prompts/shared.j2")
    for index in range(count):
        (root / "releases" / f"r{index}.yaml").write_text(text.replace("minimal", f"r{index}"))


def _pin(root: Path, old: bytes, new: bytes) -> None:
    before, after = hashlib.sha256(old).hexdigest(), hashlib.sha256(new).hexdigest()
    for path in (root / "releases").glob("*.yaml"):
        path.write_text(path.read_text().replace(before, after))


@pytest.mark.parametrize("cold_run", ["serial", "workers"])
def test_a_changed_release_with_unchanged_templates_is_checked_without_parsing_them(
    cold_run: str, example_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Template analyses are kept by the templates' digests: a pull request that moves a
    rollout step re-checks its release but parses no template it did not touch, whether
    the analyses were made in this process or handed back by a worker."""
    from compiler import prompts, validate

    monkeypatch.chdir(example_repo)
    if cold_run == "workers":
        monkeypatch.setattr(validate, "PARALLEL_MIN_FILES", 1)
    cache_folder = tmp_path / "cache"
    validate_paths([Path("releases")], Path("."), cache=_cache(cache_folder), render=release_fragments, jobs=2)
    release = example_repo / "releases" / "support-chat.yaml"
    release.write_text(release.read_text().replace("step: 2", "step: 3", 1))
    expected = _compile([Path("releases")], None)
    assert expected[1], "the change is valid"

    def refuse() -> None:
        raise AssertionError("a template that did not change was parsed again")

    monkeypatch.setattr(prompts, "_environment", refuse)
    prompts.analyze_template.cache_clear()
    assert _compile([Path("releases")], _cache(cache_folder)) == expected


def test_a_template_many_releases_share_invalidates_each_of_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "repo"
    _shared_template_repository(root, 12)
    monkeypatch.chdir(root)
    cache = _cache(tmp_path / "cache")
    first = _compile([Path("releases")], cache)
    assert first[1] and len(first[2]) == 12
    changed = SHARED.replace(b"{{ question }}", b"Question: {{ question }}")
    assert changed != SHARED
    (root / "prompts" / "shared.j2").write_bytes(changed)
    unpinned = _compile([Path("releases")], None)
    assert unpinned[0].count("RELC303") == 24  # two bundles in each release
    assert _compile([Path("releases")], cache) == unpinned
    _pin(root, SHARED, changed)
    repinned = _compile([Path("releases")], None)
    assert repinned[1] and b"Question: {{ question }}" in repinned[3]["bundles/r0.json"]
    assert _compile([Path("releases")], cache) == repinned
    assert _compile([Path("releases")], cache) == repinned


def _settled_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trust a template's stamp as soon as it is read: tests write their files just before."""
    monkeypatch.setattr("compiler.files.SETTLED_AFTER_NS", 0)


def test_a_warm_run_reads_no_template_that_kept_its_stamp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "repo"
    _shared_template_repository(root, 4)
    monkeypatch.chdir(root)
    _settled_at_once(monkeypatch)
    cache = _cache(tmp_path / "cache")
    expected = _compile([Path("releases")], cache)
    assert expected[1]

    def refuse(*arguments: object) -> None:
        raise AssertionError("a template that kept its stamp was read again")

    monkeypatch.setattr("compiler.prompts.template_bytes_and_status", refuse)
    assert _compile([Path("releases")], cache) == expected


def test_a_template_many_releases_share_is_looked_at_once_a_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "repo"
    _shared_template_repository(root, 6)
    monkeypatch.chdir(root)
    _settled_at_once(monkeypatch)
    cache = _cache(tmp_path / "cache")
    expected = _compile([Path("releases")], cache)
    looked_at: list[str] = []
    stamped = files.still_stamped

    def counted(path: str, *arguments: object) -> bool:
        looked_at.append(path)
        return stamped(path, *arguments)  # type: ignore[arg-type]

    monkeypatch.setattr("compiler.files.still_stamped", counted)
    for run in (1, 2):
        assert _compile([Path("releases")], cache) == expected
        assert looked_at == ["./prompts/shared.j2"] * run, "once a run, not once a release"


def test_a_template_replaced_by_one_of_the_same_size_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "repo"
    _shared_template_repository(root, 3)
    monkeypatch.chdir(root)
    _settled_at_once(monkeypatch)
    cache = _cache(tmp_path / "cache")
    assert _compile([Path("releases")], cache)[1]
    changed = SHARED.replace(b"{{ question }}", b"{{ question}} ")
    assert len(changed) == len(SHARED) and changed != SHARED
    replacement = root / "prompts" / ".shared.j2.new"
    replacement.write_bytes(changed)
    os.replace(replacement, root / "prompts" / "shared.j2")  # as git checks a file out: a new inode
    unpinned = _compile([Path("releases")], None)
    assert unpinned[0].count("RELC303") == 6
    assert _compile([Path("releases")], cache) == unpinned


def test_a_template_folder_moved_out_behind_a_link_is_refused_as_without_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Moving a folder keeps its files' stamps: the stamp alone must not vouch for a
    template that now resolves outside the repository."""
    root = tmp_path / "repo"
    _shared_template_repository(root, 2)
    monkeypatch.chdir(root)
    _settled_at_once(monkeypatch)
    cache = _cache(tmp_path / "cache")
    assert _compile([Path("releases")], cache)[1]
    (root / "prompts").rename(tmp_path / "outside")
    (root / "prompts").symlink_to(tmp_path / "outside", target_is_directory=True)
    from compiler import files

    files.forget_real_folders()  # a new run, as every command starts
    refused = _compile([Path("releases")], None)
    assert "RELC301" in refused[0] and not refused[1]
    files.forget_real_folders()
    assert _compile([Path("releases")], cache) == refused


def test_a_template_written_moments_ago_is_not_stamped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file rewritten within the clock's tick keeps its times: until they settle, it
    is read on every run."""
    from compiler.validate import template_fingerprint

    (tmp_path / "fresh.j2").write_bytes(SHARED)
    old = time.time() - 3600
    os.utime(tmp_path / "fresh.j2", (old, old))  # an old mtime; the change time stays now
    fingerprint, stamp = template_fingerprint(tmp_path, "fresh.j2")
    assert fingerprint == "sha256 " + hashlib.sha256(SHARED).hexdigest() and stamp is None
    _settled_at_once(monkeypatch)
    assert template_fingerprint(tmp_path, "fresh.j2")[1] is not None


def test_a_deleted_release_leaves_the_others_and_nothing_of_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "repo"
    _shared_template_repository(root, 3)
    monkeypatch.chdir(root)
    cache = _cache(tmp_path / "cache")
    assert "bundles/r1.json" in _compile([Path("releases")], cache)[3]
    (root / "releases" / "r1.yaml").unlink()
    after = _compile([Path("releases")], cache)
    assert after == _compile([Path("releases")], None)
    assert "bundles/r1.json" not in after[3] and b"r1" not in after[3]["litellm/config.yaml"]


def _git_repository(example_repo: Path) -> Path:
    subprocess.run(["git", "init", "-q"], cwd=example_repo, check=True)
    return example_repo


def _outputs(root: Path, *arguments: str) -> tuple[int, str, str]:
    result = run_relc(*arguments, cwd=root)
    return result.returncode, result.stdout, result.stderr


def test_the_commands_give_the_same_output_with_and_without_the_cache(example_repo: Path) -> None:
    """validate, build, check and plan as users run them, cached under .git/."""
    root = _git_repository(example_repo)
    assert _outputs(root, "build", "--no-cache")[0] == 0
    uncached_tree = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted((root / "rendered").rglob("*")) if p.is_file()}
    assert not (root / ".git" / "relc-cache").exists(), "--no-cache writes no cache"
    shutil.rmtree(root / "rendered")
    for _ in range(2):  # cold, then warm
        assert _outputs(root, "build")[0] == 0
        assert {p.relative_to(root).as_posix(): p.read_bytes()
                for p in sorted((root / "rendered").rglob("*")) if p.is_file()} == uncached_tree  # fmt: skip
    assert _entries(root / ".git" / "relc-cache")
    for command in (["validate", "--format", "json"], ["check"], ["plan", "--format", "json"]):
        assert _outputs(root, *command) == _outputs(root, *command, "--no-cache"), command
    # A stale rendered/: the same diff and exit status either way.
    release = root / "releases" / "support-chat.yaml"
    release.write_text(release.read_text().replace("step: 2", "step: 3"))
    stale = _outputs(root, "check", "--no-cache")
    assert stale[0] == 1 and "@@" in stale[1] + stale[2]
    assert _outputs(root, "check") == stale
    assert _outputs(root, "check") == stale


def test_a_cache_that_cannot_be_written_does_not_break_the_run(example_repo: Path) -> None:
    root = _git_repository(example_repo)
    expected = _outputs(root, "build", "--no-cache")
    shutil.rmtree(root / "rendered")
    (root / ".git" / "relc-cache").write_text("not a folder\n")  # refuses every write, even for root
    assert _outputs(root, "build") == expected
    assert _outputs(root, "check") == _outputs(root, "check", "--no-cache")
    assert (root / ".git" / "relc-cache").read_text() == "not a folder\n"


def test_outside_a_repository_the_cache_is_in_the_user_cache_folder(example_repo: Path, tmp_path: Path) -> None:
    xdg = Path(os.environ["XDG_CACHE_HOME"])
    assert run_relc("validate", cwd=example_repo).returncode == 0
    assert _entries(xdg / "relc")
    assert not [p for p in example_repo.rglob("*") if "relc-cache" in p.as_posix()], "never in the tree"


def _refuse_release_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on, parsing a release file fails the test: the cache must answer."""
    from compiler import load, rules

    parse = load.load_bytes

    def refuse(raw: bytes, path: str, *rest: object) -> object:
        if path.startswith("releases/"):
            raise AssertionError(f"{path}, answered from the cache, was parsed again")
        return parse(raw, path, *rest)  # relc.yaml is read on every run

    monkeypatch.setattr(load, "load_bytes", refuse)
    monkeypatch.setattr(rules, "load_bytes", refuse)


@pytest.mark.parametrize("command", [["validate"], ["build"], ["check"], ["status", "--in-progress", "--format", "names"]])
def test_a_warm_run_parses_no_release(
    example_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """Every release answered from the cache costs no parse, whatever the command asks of
    it afterwards (validate counts the registry references it did not check)."""
    from compiler.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    monkeypatch.delenv("RELC_MLFLOW_URI", raising=False)
    monkeypatch.chdir(example_repo)
    assert main(["build"]) == 0
    cold = capsys.readouterr()

    _refuse_release_parses(monkeypatch)
    assert main(command) == 0
    warm = capsys.readouterr()
    if command == ["validate"]:
        assert "not checked" in warm.err + warm.out, warm
    if command[0] == "status":  # the scheduled workflow's list of rollouts in progress
        assert warm.out.split() == ["doc-summarizer", "help-center", "support-chat"], warm
    assert "Traceback" not in cold.err + warm.err


def test_entries_unused_for_a_month_are_pruned_once_a_day(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The folder does not grow with every edit ever checked: a run keeps what it used,
    removes what nothing used for 30 days (and a killed writer's temporary file), and
    looks at most once a day. Pruned or not, results are the same."""
    monkeypatch.chdir(REPO)
    folder = tmp_path / "cache"
    expected = _compile([Path("releases")], None)
    assert _compile([Path("releases")], _cache(folder)) == expected
    used = set(_entries(folder))
    month_ago = time.time() - cache_module.UNUSED_FOR_SECONDS - 60
    forgotten = folder / "ab" / ("ab" + "0" * 62 + ".json")
    forgotten.parent.mkdir(exist_ok=True)
    forgotten.write_bytes(b"an entry of a release edited long ago")
    left = folder / "ab" / ".entry.x.tmp"
    left.write_bytes(b"half")
    recent = folder / "ab" / ("ab" + "1" * 62 + ".json")
    recent.write_bytes(b"an entry another branch used yesterday")
    for path in [*used, forgotten, left]:
        os.utime(path, (month_ago, month_ago))
    os.utime(recent, (time.time() - 86400, time.time() - 86400))
    (folder / ".pruned").unlink(missing_ok=True)

    assert _compile([Path("releases")], _cache(folder)) == expected
    assert set(_entries(folder)) == used | {recent}, "used entries are kept (and marked used), unused ones go"
    assert not left.exists()
    forgotten.write_bytes(b"again")
    os.utime(forgotten, (month_ago, month_ago))
    assert _compile([Path("releases")], _cache(folder)) == expected
    assert forgotten.exists(), "a second run the same day does not look again"


# Packs: entries a run writes many at a time share one file behind an index line.


def _packs(folder: Path) -> list[Path]:
    return sorted((folder / cache_module.PACKS_FOLDER).rglob("*.pack"))


@pytest.fixture
def packing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pack even the example repository's handful of entries."""
    monkeypatch.setattr(cache_module, "PACK_MIN_ENTRIES", 2)


@pytest.fixture(params=["searched", "parsed"])
def index_reading(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run's first loads search each pack's index text; later ones use it parsed."""
    monkeypatch.setattr(cache_module, "FEW_LOADS", 1000 if request.param == "searched" else 0)


def test_a_run_with_many_new_entries_packs_them_and_the_next_run_reads_the_pack(
    packing: None, index_reading: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    folder = tmp_path / "cache"
    expected = _compile([Path("releases")], None)
    assert _compile([Path("releases")], _cache(folder)) == expected
    assert len(_packs(folder)) == 1 and not _entries(folder), "one pack, no loose entry"

    def refuse(*arguments: object) -> None:
        raise AssertionError("a packed release was checked again")

    monkeypatch.setattr("compiler.rules.check_release_bytes", refuse)
    monkeypatch.setattr("compiler.load.load_bytes", refuse)
    assert _compile([Path("releases")], _cache(folder)) == expected


def test_a_cache_holds_packs_only_once_this_relc_packed_entries_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What tells a cold run (its parent loads the checking modules before forking)."""
    monkeypatch.setattr(cache_module, "PACK_MIN_ENTRIES", 1)
    folder = tmp_path / "cache"
    assert not _cache(folder).holds_packs()
    loose = _cache(folder)
    loose.store("key-0", {"text": "loose"})
    assert not _cache(folder).holds_packs(), "a loose entry is no pack"
    packed = _cache(folder)
    packed.store_batched("key-1", {"text": "packed"})
    packed.flush()
    assert _cache(folder).holds_packs()
    assert not ReleaseCache(folder, "another relc").holds_packs(), "another relc's packs are not this one's"


def test_a_run_with_few_new_entries_writes_them_loose(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Editing a release now and then must not leave a pack each time."""
    monkeypatch.chdir(REPO)
    folder = tmp_path / "cache"
    _compile([Path("releases")], _cache(folder))
    releases = len(list(Path("releases").glob("*.yaml")))
    assert releases <= len(_entries(folder)) < cache_module.PACK_MIN_ENTRIES  # each release's, and its templates' analyses
    assert not _packs(folder)


def _damage_pack(pack: Path, how: str) -> None:
    raw = pack.read_bytes()
    header, _, rest = raw.partition(b"\n")
    listing, _, data = rest.partition(b"\n")

    def with_index(index: list[list[object]]) -> bytes:
        listing = json.dumps(index).encode() + b"\n"
        return b" ".join(header.split(b" ")[:3]) + b" %d\n" % len(listing) + listing + data

    if how == "index byte flipped":
        middle = len(header) + 1 + len(listing) // 2
        pack.write_bytes(raw[:middle] + bytes([raw[middle] ^ 0x01]) + raw[middle + 1 :])
    elif how == "entry byte flipped":
        middle = len(raw) - len(data) // 2
        pack.write_bytes(raw[:middle] + bytes([raw[middle] ^ 0x01]) + raw[middle + 1 :])
    elif how == "entries swapped":  # well-formed entries, each where the index says another is
        index = json.loads(listing)
        first, second = index[0], index[1]
        first[0], second[0] = second[0], first[0]
        pack.write_bytes(with_index(index))
    elif how == "offsets past the end":
        pack.write_bytes(with_index([[key, offset + len(data), length] for key, offset, length in json.loads(listing)]))
    elif how == "truncated":
        pack.write_bytes(raw[: len(raw) * 2 // 3])
    elif how == "foreign format":
        pack.write_bytes(header.replace(b"relc-pack 3 ", b"relc-pack 99 ") + b"\n" + rest)
    elif how == "count wrong":
        parts = header.split(b" ")
        pack.write_bytes(b" ".join([*parts[:2], parts[2] + b"0", parts[3]]) + b"\n" + rest)
    elif how == "index length wrong":
        parts = header.split(b" ")
        pack.write_bytes(b" ".join([*parts[:3], b"%d" % (int(parts[3]) - 3)]) + b"\n" + rest)
    elif how == "empty":
        pack.write_bytes(b"")
    elif how == "garbage":
        pack.write_bytes(os.urandom(len(raw)))
    elif how == "a folder":
        pack.unlink()
        pack.mkdir()


@pytest.mark.parametrize("how", ["index byte flipped", "entry byte flipped", "entries swapped", "offsets past the end",
                                 "truncated", "foreign format", "count wrong", "index length wrong", "empty", "garbage", "a folder"])  # fmt: skip
def test_a_damaged_pack_never_changes_the_result(
    packing: None, index_reading: None, how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    folder = tmp_path / "cache"
    expected = _compile([Path("releases")], None)
    _compile([Path("releases")], _cache(folder))
    (pack,) = _packs(folder)
    assert f"relc-pack {cache_module.CACHE_FORMAT} ".encode() in pack.read_bytes()[:20]
    _damage_pack(pack, how)
    assert _compile([Path("releases")], _cache(folder)) == expected
    assert _compile([Path("releases")], _cache(folder)) == expected  # and after rewriting what it could


def test_beyond_the_most_packs_kept_the_least_recently_used_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_module, "MAX_PACKS", 2)
    monkeypatch.setattr(cache_module, "PACK_MIN_ENTRIES", 1)
    for run in range(4):
        cache = _cache(tmp_path / "cache")
        cache.store_batched(f"key-{run}", {"text": f"run {run}"})
        cache.flush()
        (made,) = [pack for pack in _packs(tmp_path / "cache") if f"run {run}".encode() in pack.read_bytes()]
        written = time.time() - 3600 * (10 - run)  # each run an hour after the last
        os.utime(made, (written, written))
    assert len(_packs(tmp_path / "cache")) == 2
    fresh = _cache(tmp_path / "cache")
    assert [(entry or {}).get("text") for entry in (fresh.load(f"key-{run}") for run in range(4))] == [None, None, "run 2", "run 3"]


def test_a_pack_unused_for_a_month_is_pruned_and_a_used_one_kept(packing: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    folder = tmp_path / "cache"
    expected = _compile([Path("releases")], None)
    _compile([Path("releases")], _cache(folder))
    (used,) = _packs(folder)
    forgotten = folder / cache_module.PACKS_FOLDER / "another-relc" / ("0" * 32 + ".pack")
    forgotten.parent.mkdir()
    forgotten.write_bytes(b"relc-pack 3 0 3\n[]\n")  # the entries of releases edited long ago
    month_ago = time.time() - cache_module.UNUSED_FOR_SECONDS - 60
    for pack in (used, forgotten):
        os.utime(pack, (month_ago, month_ago))
    (folder / ".pruned").unlink(missing_ok=True)
    assert _compile([Path("releases")], _cache(folder)) == expected
    assert _packs(folder) == [used], "the pack this run read is kept (and marked used); the unused one goes"


def test_a_run_never_evicts_the_packs_it_wrote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cold build of a large repository writes many packs: all of them stay, however
    few packs are kept, and the next run finds every entry."""
    monkeypatch.setattr(cache_module, "MAX_PACKS", 1)
    monkeypatch.setattr(cache_module, "PACK_MIN_ENTRIES", 1)
    monkeypatch.setattr(cache_module, "PACK_MAX_ENTRIES", 2)
    cache = _cache(tmp_path / "cache")
    for number in range(6):
        cache.store_batched(f"key-{number}", {"text": f"entry {number}"})
    cache.flush()
    assert len(_packs(tmp_path / "cache")) == 3
    fresh = _cache(tmp_path / "cache")
    assert [(fresh.load(f"key-{number}") or {}).get("text") for number in range(6)] == [f"entry {n}" for n in range(6)]


def test_a_second_status_parses_no_release_and_says_the_same(
    example_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`relc status` keeps what each file says of its rollout by the file's bytes: on-call
    engineers run it again and again, and a thousand releases took seconds to parse."""
    from compiler import status
    from compiler.cache import open_cache
    from compiler.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    monkeypatch.chdir(example_repo)
    outputs = []
    for _ in range(2):
        assert main(["status"]) == 0 and main(["status", "--format", "json"]) == 0
        outputs.append(capsys.readouterr().out)
        _refuse_release_parses(monkeypatch)
    assert outputs[0] == outputs[1] and "support-chat" in outputs[0]
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    monkeypatch.chdir(example_repo)
    cache = open_cache(Path("."))
    for path in sorted(Path("releases").glob("*.yaml")):  # every stored status damaged: each file is parsed again
        cache.store(cache.key(status._STATUS_ENTRY, path.read_bytes()), {"status": ["only", "three", "fields"]})
    assert main(["status"]) == 0 and main(["status", "--format", "json"]) == 0
    assert capsys.readouterr().out == outputs[0]
    assert main(["status", "--no-cache"]) == 0 and main(["status", "--format", "json", "--no-cache"]) == 0
    assert capsys.readouterr().out == outputs[0]
    # Many files to parse: the worker processes parse them, to the same output.
    from tests.support import workers_answers

    answered = workers_answers(monkeypatch)
    monkeypatch.setattr(status, "STATUSES_AT_ONCE", 1)
    assert main(["status", "--no-cache"]) == 0 and main(["status", "--format", "json", "--no-cache"]) == 0
    assert capsys.readouterr().out == outputs[0]
    assert answered and max(answered) >= 2, "the workers parsed the files"

"""No credentials in the repository: private keys, service-account keys, cloud access keys, passwords.

The scanner walks what git would commit (tracked files, and untracked ones that
.gitignore does not exclude, so a key is caught before its first commit) and
reports each finding with file, line and rule. It is proven on planted secrets in
tmp_path first, so a scanner that silently finds nothing cannot pass. Fake
credentials the tests need (the emulators' "not-a-secret" tokens) are too short and
too plain to look like secrets; anything else must be listed in ALLOWED with a reason.
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAX_BYTES = 2_000_000            # model files and audio are binary or huge; text worth scanning is smaller

KEY_FILE_NAMES = re.compile(r"(\.pem|\.p12|\.pfx|-key\.json|^credentials\.json|^id_rsa|^id_ed25519)$", re.I)
PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
SERVICE_ACCOUNT = re.compile(r'"type"\s*:\s*"service_account"')
SA_PRIVATE_KEY = re.compile(r'"private_key"\s*:\s*"[^"]{20,}')
AWS_ACCESS_KEY = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
# name = "value" / name: 'value' / NAME=value where the name says it is a secret
ASSIGNED_SECRET = re.compile(
    r"""(?ix)\b([\w-]*(?:password|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)[\w-]*)
        ["']?\s*[:=]\s*["']?([A-Za-z0-9+/=_\-.!@#$%^&*]{16,})""")
MIN_ENTROPY_BITS_PER_CHAR = 3.5

# (path, rule, matched value) -> why it is not a secret. Keep it short and specific.
ALLOWED: dict[tuple[str, str, str], str] = {}


@dataclasses.dataclass(frozen=True)
class Finding:
    path: str
    line: int
    rule: str
    match: str

    def __str__(self) -> str:
        shown = self.match if len(self.match) <= 12 else self.match[:6] + "..." + self.match[-3:]
        return f"{self.path}:{self.line}: {self.rule} ({shown})"


def entropy_bits_per_char(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _looks_random(value: str) -> bool:
    """A token, not a word, a placeholder or a resource path: high entropy, letters mixed with digits."""
    if re.fullmatch(r"[a-z0-9_.-]+(?:/[a-z0-9_.-]+)+", value):      # projects/p/secrets/name/versions/3
        return False
    return (entropy_bits_per_char(value) >= MIN_ENTROPY_BITS_PER_CHAR and bool(re.search(r"\d", value))
            and bool(re.search(r"[A-Za-z]", value)))


def scan_text(path: str, text: str) -> list[Finding]:
    """Every secret-looking thing in one file's text."""
    findings = []
    for number, line in enumerate(text.splitlines(), start=1):
        for rule, pattern in (("private key block", PRIVATE_KEY), ("AWS access key", AWS_ACCESS_KEY)):
            findings += [Finding(path, number, rule, m.group(0)) for m in pattern.finditer(line)]
        for m in ASSIGNED_SECRET.finditer(line):
            value = m.group(2).rstrip(".")
            if _looks_random(value):
                findings.append(Finding(path, number, f"secret assigned to {m.group(1)}", value))
    if SERVICE_ACCOUNT.search(text) and SA_PRIVATE_KEY.search(text):
        findings.append(Finding(path, 1, "service account key JSON", "private_key"))
    return findings


def scan_file(path: Path, name: str | None = None) -> list[Finding]:
    """Findings in one file (`name`: how to report it); binary and oversized files are skipped."""
    name = name or path.name
    findings = [Finding(name, 0, "key file name", path.name)] if KEY_FILE_NAMES.search(path.name) else []
    if not path.is_file() or path.stat().st_size > MAX_BYTES:
        return findings
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return findings
    return findings + scan_text(name, data.decode("utf-8", errors="replace"))


def repository_files(repo: Path = REPO) -> list[str]:
    """What a commit could contain: tracked files and untracked files .gitignore does not exclude."""
    done = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=repo,
                          capture_output=True, check=True)
    return sorted({p for p in done.stdout.decode().split("\0") if p and (repo / p).exists()})


def scan_repository(repo: Path = REPO) -> list[Finding]:
    findings = [f for name in repository_files(repo) for f in scan_file(repo / name, name)]
    return [f for f in findings if (f.path, f.rule, f.match) not in ALLOWED]


# ------------------------------------------------------------------------------------------- the scanner works

# Built at run time so that no planted secret is ever a literal in this file.
BEGIN, END = "-----BEGIN ", "-----END "
PLANTED = {
    "rsa.txt": f"{BEGIN}RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n{END}RSA PRIVATE KEY-----\n",
    "ssh_config": f"{BEGIN}OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE\n",
    "sa.json": json.dumps({"type": "service" + "_account", "project_id": "p", "private_key_id": "abc",
                           "private_key": BEGIN + "PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"}),
    "settings.py": "AWS_ACCESS_KEY_ID = '" + "AKIA" + "Q3EGWX7HZ5TK2JMN" + "'\n",
    "config.yaml": "database:\n  password: " + "kX9#mP2vL8qR4wZt7N" + "\n",
    "app.env": "STRIPE_API_KEY=" + "sk_live_" + "51HxQ2e7Lk9PzR3vT8wY" + "\n",
    "client.js": "const token = \"" + "ghp_" + "4fK9sL2mQ8xR7vT1wZ3bN6cJ0hY5dE" + "\";\n",
}


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_the_scanner_finds_a_planted_secret(tmp_path, name):
    path = tmp_path / name
    path.write_text(PLANTED[name])
    assert scan_file(path), f"{name} was not caught"


@pytest.mark.parametrize("name", ["server.pem", "cert.p12", "my-project-1234-key.json", "credentials.json"])
def test_key_files_are_caught_by_name_whatever_they_hold(tmp_path, name):
    path = tmp_path / name
    path.write_text("{}")
    assert [f.rule for f in scan_file(path)] == ["key file name"]


@pytest.mark.parametrize("text", [
    'password = "not-a-secret"',                       # the emulator's fake credentials
    "token: ${{ secrets.GITHUB_TOKEN }}",
    "api_key = os.environ['CALLMOOD_API_KEY']",
    'client_secret="callmood-tests.apps.googleusercontent.com"',
    'source = "secret:projects/p/secrets/callmood-caller-salt/versions/3"',
    "secret_source = DEFAULT_SALT_SOURCE",
    "AKIAEXAMPLE",
])
def test_ordinary_code_about_secrets_is_not_a_finding(text):
    assert scan_text("x.py", text) == []


def test_a_planted_key_in_a_git_repository_is_found_before_it_is_committed(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "README.md").write_text("hello\n")
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "sa.json").write_text(PLANTED["sa.json"])
    (tmp_path / ".gitignore").write_text("ignored.pem\n")
    (tmp_path / "ignored.pem").write_text(PLANTED["rsa.txt"])        # ignored: never committed, not reported
    found = scan_repository(tmp_path)
    assert {(f.path, f.rule) for f in found} == {("deploy/sa.json", "service account key JSON"),
                                                ("deploy/sa.json", "private key block")}


# ------------------------------------------------------------------------------------------- the repository


def test_the_repository_holds_no_secrets():
    assert len(repository_files()) > 50          # the walk really saw the project
    findings = scan_repository()
    assert not findings, "possible secrets (allow-list a false positive in ALLOWED with a reason):\n" + \
        "\n".join(map(str, findings))


def test_every_allowed_finding_still_exists():
    """An allow-list entry whose finding is gone is dead weight that could hide a future secret."""
    found = {(f.path, f.rule, f.match) for name in repository_files() for f in scan_file(REPO / name, name)}
    assert set(ALLOWED) <= found, set(ALLOWED) - found

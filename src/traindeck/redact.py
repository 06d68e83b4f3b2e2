"""Secrets never reach the store: text is redacted before it is written.

Used by the SDK's console capture (each captured line) and by anything else that stores
or shows text a program printed or was given (a launcher's command lines). Blanked with
``[redacted]``, keeping a short prefix that says what it was:

- traindeck tokens (``td_…``) and any exact value given (the environment's
  ``TRAINDECK_TOKEN``);
- credentials in headers: ``Authorization: <scheme> …``, ``Bearer …``;
- provider keys by their shape: GitHub (``ghp_``, ``gho_``, ``ghu_``, ``ghs_``, ``ghr_``,
  ``github_pat_``), GitLab (``glpat-``), Hugging Face (``hf_``), OpenAI and Anthropic
  (``sk-…``, ``sk-ant-…``), Stripe-style (``sk_live_``, ``rk_test_``), CoreWeave-style
  (``cw_``), Slack (``xoxb-``, ``xoxp-``, ``xapp-``), npm (``npm_``), PyPI (``pypi-``),
  AWS access key ids (``AKIA…``, ``ASIA…``), Google API keys (``AIza…``), OAuth client
  secrets (``GOCSPX-…``) and access tokens (``ya29.…``), JSON Web Tokens (``eyJ….eyJ….…``);
- the password in a URL (``postgres://user:pa55@host``, any ``scheme://user:pass@``);
- the value of a secret-named assignment, in code, config, JSON or the environment
  (``password=…``, ``"api_key": "…"``, ``AWS_SECRET_ACCESS_KEY=…``, ``HF_TOKEN=…``,
  ``AccountKey=…;``), of a secret-named command-line option (``--password hunter2``,
  ``--token=…``) and of ``sshpass -p …`` / ``mysql -p…``. Tokenizer settings such as
  ``pad_token=0`` or ``eos_token: </s>`` are not secrets and are left alone;
- private key blocks (``-----BEGIN … PRIVATE KEY-----`` … ``-----END … PRIVATE KEY-----``),
  on one line or spread over several.

:func:`redact` works on a whole text (several lines at once). A :class:`Redactor` works
line by line, as console capture hands lines over, and remembers, per stream, that a
private key block has begun: its body lines are blanked until its ``END`` line (or a line
that cannot be part of the block).

Speed matters (every console line goes through here): the patterns are compiled once, and
a line holding none of a few short markers is returned after one cheap scan.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

MARK: Final = "[redacted]"

#: How traindeck tokens start (see ``store/token_rows.py``); kept here so that this module
#: depends on nothing else in traindeck.
TOKEN_PREFIX: Final = "td_"

# -- the patterns ------------------------------------------------------------------------

#: A value after ``=``, ``:`` or a space: quoted (anything up to the closing quote) or bare
#: (up to white space, a quote or a separator of lists and query strings).
_VALUE: Final = r"""(?:"[^"\n]*"|'[^'\n]*'|[^\s"'`,;&]+)"""

#: Names whose value is a secret, whatever comes before them (``db_password``,
#: ``aws_secret_access_key``, ``SecretAccessKey``, ``WANDB_API_KEY``, ``HF_TOKEN``).
_NAMES: Final = (
    r"passw(?:or)?d|passphrase|pwd|secret|token|credentials?|"
    r"(?:api|access|secret|private|account|auth|signing|encryption|master|client|app|session|"
    r"storage|license|subscription)[-_]?key|"
    r"apikey|sas|sig"
)

#: Words before ``token`` that make it a tokenizer setting, not a secret.
_TOKENIZER_WORDS: Final = frozenset({
    "pad", "eos", "bos", "unk", "sep", "cls", "mask", "sos", "eot", "start", "end", "stop",
    "special", "decoder_start", "additional_special", "im_start", "im_end", "begin", "image",
    "video", "audio", "vision", "added", "new", "next", "prev", "previous", "first", "last",
    "input", "output", "num", "max", "min", "n", "total", "vocab", "chat", "tool", "think",
    "default", "boi", "eoi", "fim", "fim_prefix", "fim_middle", "fim_suffix", "bot",
})
#: The same test for the shortest names, where a name alone (``pwd``, ``sas``, ``sig``)
#: would catch ordinary words: only with a prefix (``db_pwd``) or in a query (``&sig=``).
_NEEDS_PREFIX: Final = frozenset({"pwd", "sas", "sig"})

_ASSIGNMENT: Final = re.compile(
    r"(?i)(?P<key>(?<![\w.\-])[\w.\-]*?(?P<name>" + _NAMES + r"))(?![\w\-])"
    r"(?P<sep>[\"']?[ \t]*[:=][ \t]*)(?P<val>" + _VALUE + ")"
)
_OPTION: Final = re.compile(
    r"(?i)(?P<key>(?<![\w\-])--?[\w.\-]*?(?P<name>" + _NAMES + r"|pass))(?![\w\-])"
    r"(?P<sep>[ \t]+)(?!--)(?P<val>" + _VALUE + ")"
)
_SSHPASS: Final = re.compile(r"(\bsshpass\b[^\n]*?[ \t]-p[ \t]*)(" + _VALUE + ")")
_MYSQL: Final = re.compile(
    r"(\b(?:mysql|mysqldump|mysqladmin|mariadb)\b[^\n]*?[ \t]-p)(" + _VALUE + ")")
_URL_PASSWORD: Final = re.compile(
    r"(?i)\b([a-z][a-z0-9+.\-]{1,30}://[^\s:/@?#]*:)[^\s/?#]+@")
_AUTHORIZATION: Final = re.compile(
    r"(?i)\b((?:proxy-)?authorization[\"']?[ \t]*[:=][ \t]*[\"']?(?:[A-Za-z\-]+[ \t]+)?)"
    r"[^\s\"',;]+")
_PEM: Final = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----.*?"
    r"(?:-----END \1-----|\Z)", re.DOTALL)
_PEM_BEGIN: Final = re.compile(r"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----")
#: What a line inside a private key block may hold: base64, or an RFC 1421 header.
_PEM_BODY: Final = re.compile(
    r"\s*[\"']?[A-Za-z0-9+/=]*(?:\\n)?[\"']?,?\s*|\s*(?:Proc-Type|DEK-Info|Comment): .*")

#: Token shapes: (pattern, replacement).
_SHAPES: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_\-]{8,}"), TOKEN_PREFIX + MARK),
    (re.compile(r"\b(gh[pousr]_|github_pat_)[A-Za-z0-9_]{16,}"), r"\1" + MARK),
    (re.compile(r"\bglpat-[A-Za-z0-9_\-]{16,}"), "glpat-" + MARK),
    (re.compile(r"\bhf_[A-Za-z0-9]{16,}"), "hf_" + MARK),
    (re.compile(r"\bcw_[A-Za-z0-9_\-]{16,}"), "cw_" + MARK),
    (re.compile(r"\b(sk-|[sr]k_(?:live|test)_)[A-Za-z0-9_\-]{16,}"), r"\1" + MARK),
    (re.compile(r"\b(xox[abeposr]|xapp)-[A-Za-z0-9\-]{10,}"), r"\1-" + MARK),
    (re.compile(r"\bnpm_[A-Za-z0-9]{30,}"), "npm_" + MARK),
    (re.compile(r"\bpypi-[A-Za-z0-9_\-]{30,}"), "pypi-" + MARK),
    (re.compile(r"\b(AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)"
                r"[A-Z0-9]{16}\b"), r"\1" + MARK),
    (re.compile(r"\bAIza[A-Za-z0-9_\-]{30,}"), "AIza" + MARK),
    (re.compile(r"\bGOCSPX-[A-Za-z0-9_\-]{20,}"), "GOCSPX-" + MARK),
    (re.compile(r"\bya29\.[A-Za-z0-9_\-]{20,}"), "ya29." + MARK),
    (re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"), "eyJ" + MARK),
    (re.compile(r"(?i)\b(bearer)[ \t]+[A-Za-z0-9._~+/=\-]{8,}"), r"\1 " + MARK),
)

#: One of these (in the lower-cased text) must be present for any pattern to match; most
#: lines hold none, and then nothing else is scanned.
_MARKERS: Final = (
    "-----", "://", "td_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat", "glpat",
    "hf_", "cw_", "sk-", "k_live", "k_test", "xox", "xapp", "npm_", "pypi-", "aiza", "gocspx",
    "ya29", "eyj", "bearer", "authorization", "pass", "pwd", "secret", "token", "credential",
    "key", "sas", "sig=", "sshpass", "mysql", "mariadb", "akia", "asia", "abia", "acca",
    "agpa", "aida", "aipa", "anpa", "anva", "aroa", "apka", "asca",
)


def _assignment(match: re.Match[str]) -> str:
    if not _is_secret_name(match):
        return match.group(0)
    value = match.group("val")
    quote = value[0] if value[:1] in ("'", '"') and len(value) > 1 else ""
    return match.group("key") + match.group("sep") + quote + MARK + quote


def _is_secret_name(match: re.Match[str]) -> bool:
    """Whether a name caught by ``_NAMES`` really names a secret (not ``pad_token``)."""
    name = match.group("name").lower()
    prefix = match.group("key")[:-len(name)].lower().lstrip("-")
    if name in _NEEDS_PREFIX:
        before = match.string[match.start() - 1:match.start()]
        return prefix[-1:] in ("_", "-", ".") or before in ("?", "&")
    if name == "token":
        words = [w for w in re.split(r"[-_.]+", prefix) if w]
        return not words or words[-1] not in _TOKENIZER_WORDS
    return True


def redact(text: str, values: Iterable[str] = ()) -> str:
    """``text`` with its secrets blanked (every shape above, and each of ``values``)."""
    for value in values:
        if value in text:
            text = text.replace(value, MARK)
    lower = text.lower()
    if not any(marker in lower for marker in _MARKERS):
        return text
    if "-----" in text:
        text = _PEM.sub(lambda m: f"-----BEGIN {m.group(1)}-----{MARK}", text)
    for pattern, repl in _SHAPES:
        text = pattern.sub(repl, text)
    if "://" in text:
        text = _URL_PASSWORD.sub(r"\1" + MARK + "@", text)
    text = _AUTHORIZATION.sub(r"\1" + MARK, text)
    text = _SSHPASS.sub(r"\1" + MARK, text)
    text = _MYSQL.sub(r"\1" + MARK, text)
    text = _OPTION.sub(_assignment, text)
    return _ASSIGNMENT.sub(_assignment, text)


class Redactor:
    """Blanks secrets in lines of output, one stream at a time, and any exact ``values``
    given (the environment's ``TRAINDECK_TOKEN``, passed in by ``init``).

    Calling it with one line at a time (``redactor(line, stream)``) also blanks a private
    key block printed over several lines: from its ``BEGIN`` line on, each line of the
    block becomes ``[redacted]`` until its ``END`` line, or a line that cannot belong to a
    key (then that line is redacted as usual). Not thread-safe: one caller at a time.
    """

    __slots__ = ("_in_key", "values")

    def __init__(self, values: Iterable[str | None] = ()) -> None:
        self.values = sorted({v for v in values if v and len(v) >= 4}, key=len, reverse=True)
        self._in_key: dict[str, str] = {}  # stream -> the label of the open block

    def __call__(self, line: str, stream: str = "") -> str:
        label = self._in_key.get(stream)
        if label is not None:
            end = line.find(f"-----END {label}-----")
            if end >= 0:
                del self._in_key[stream]
                rest = line[end + len(label) + 14:]
                return MARK + line[end:end + len(label) + 14] + self(rest, stream)
            if _PEM_BODY.fullmatch(line):
                return MARK if line.strip() else line
            del self._in_key[stream]
        out = redact(line, self.values)
        if "-----BEGIN " in out:
            opened = _open_block(line)
            if opened is not None:
                self._in_key[stream] = opened
        return out


def _open_block(line: str) -> str | None:
    """The label of a private key block that ``line`` begins and does not end."""
    label = None
    for begin in _PEM_BEGIN.finditer(line):
        label = begin.group(1)
        if line.find(f"-----END {label}-----", begin.end()) >= 0:
            label = None
    return label

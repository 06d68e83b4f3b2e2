"""Secrets never reach the store: console lines are redacted before they are written.

Blanked (replaced with ``[redacted]``, keeping a short prefix that says what it was):

- traindeck tokens (``td_…``) and the exact value of ``TRAINDECK_TOKEN``;
- ``Authorization: Bearer …`` / ``Basic …`` values;
- well-known token formats: GitHub (``ghp_``, ``gho_``, ``ghu_``, ``ghs_``, ``ghr_``,
  ``github_pat_``), Hugging Face (``hf_``), OpenAI/Anthropic style (``sk-…``), Slack
  (``xox…``), AWS access key ids (``AKIA…``/``ASIA…``), Google API keys (``AIza…``);
- values of ``password=``, ``passwd=``, ``secret=``, ``token=``, ``api_key=``,
  ``access_key=`` style assignments (``=`` or ``:``);
- the body of PEM private keys (``-----BEGIN … PRIVATE KEY-----``).

This is a best effort on single lines; a secret split over lines is not recognised.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from ..store.token_rows import TOKEN_PREFIX

MARK: Final = "[redacted]"

_PATTERNS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_\-]{8,}"), TOKEN_PREFIX + MARK),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{8,}"), r"\1 " + MARK),
    (re.compile(r"\b(gh[pousr]_|github_pat_)[A-Za-z0-9_]{16,}"), r"\1" + MARK),
    (re.compile(r"\bhf_[A-Za-z0-9]{16,}"), "hf_" + MARK),
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"), "sk-" + MARK),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"), "xox-" + MARK),
    (re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b"), r"\1" + MARK),
    (re.compile(r"\bAIza[A-Za-z0-9_\-]{30,}"), "AIza" + MARK),
    (re.compile(r"(?i)\b((?:[a-z0-9_]*_)?(?:password|passwd|pwd|secret|token|api_?key|"
                r"access_?key|private_?key)\b[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]+"),
     r"\1" + MARK),
    (re.compile(r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)"),
     r"-----BEGIN \1PRIVATE KEY-----" + MARK),
)


class Redactor:
    """Blanks secrets in text: the patterns above and any exact ``values`` given (the
    environment's ``TRAINDECK_TOKEN``, passed in by ``init``)."""

    def __init__(self, values: Iterable[str | None] = ()) -> None:
        self.values = sorted({v for v in values if v and len(v) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, MARK)
        for pattern, repl in _PATTERNS:
            text = pattern.sub(repl, text)
        return text

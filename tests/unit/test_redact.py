"""Redaction (defect 9): no secret of the corpus survives, ordinary training output does.

The corpus is tests/unit/redaction_corpus.py. Each secret is embedded in random text, as a
line a script could print; ordinary lines (losses, paths, digests, run ids, progress bars,
tokenizer settings) must come out unchanged.
"""

from __future__ import annotations

import hashlib
import string

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from redaction_corpus import FIXED_SIZE, ORDINARY, PEM_BLOCK, SECRETS, TEMPLATES

from traindeck.redact import MARK, Redactor, redact
from traindeck.store.ids import new_id

#: Text around a secret: anything printable on one line, or words a log line would hold.
_FILLER = st.one_of(
    st.text(alphabet=string.printable.replace("\n", "").replace("\r", ""), max_size=30),
    st.lists(st.sampled_from(["step", "12", "loss=0.5", "INFO", "[rank0]:", "->", "ok",
                              "'cmd':", "running", "$", "env", "|"]), max_size=6)
    .map(" ".join),
)
_SEP = st.sampled_from([" ", "\t", " | ", ": ", " (", " '", ' "', " ["])


def _survives(part: str, before: str, after: str, out: str) -> bool:
    return out.count(part) > (before + after).count(part)


@pytest.mark.parametrize(("text", "part"), SECRETS, ids=[s[0][:30] for s in SECRETS])
def test_each_corpus_secret_is_blanked(text: str, part: str) -> None:
    out = redact(text)
    assert part not in out, out
    assert MARK in out
    assert part not in Redactor()(text)


@given(case=st.sampled_from(SECRETS), before=_FILLER, after=_FILLER, sep=_SEP)
def test_corpus_secrets_never_survive_in_random_text(
    case: tuple[str, str], before: str, after: str, sep: str
) -> None:
    text, part = case
    assume(part not in before and part not in after)
    out = redact(before + sep + text + " " + after)
    assert not _survives(part, before, after, out), out


@given(data=st.data(), template=st.sampled_from(TEMPLATES), before=_FILLER, after=_FILLER)
def test_random_secrets_of_each_shape_never_survive(
    data: st.DataObject, template: tuple[str, str, int], before: str, after: str
) -> None:
    shape, alphabet, size = template
    fixed = FIXED_SIZE.get(shape)
    secret = data.draw(st.text(alphabet=alphabet, min_size=fixed or size,
                               max_size=fixed or 60))
    assume(not secret.startswith("-"))
    assume(secret not in shape.replace("{}", " ") + MARK + before + after)
    out = redact(f"{before} {shape.format(secret)} {after}")
    assert not _survives(secret, before, after, out), out


@given(body=st.lists(st.text(alphabet=string.ascii_letters + string.digits + "+/",
                             min_size=16, max_size=64), min_size=1, max_size=30),
       before=st.lists(st.sampled_from(ORDINARY), max_size=3),
       after=st.lists(st.sampled_from(ORDINARY), max_size=3))
def test_a_private_key_printed_line_by_line_is_blanked(
    body: list[str], before: list[str], after: list[str]
) -> None:
    """Console capture hands over one line at a time: the block's state carries over."""
    redactor = Redactor()
    lines = [*before, "-----BEGIN PRIVATE KEY-----", *body, "-----END PRIVATE KEY-----",
             *after]
    out = [redactor(line, "stdout") for line in lines]
    kept = "\n".join(out)
    for line in body:
        assume(line not in "\n".join(before + after))
        assert line not in kept
    # What comes after the block is ordinary output again.
    assert out[len(out) - len(after):] == after
    assert out[:len(before)] == before


def test_a_key_block_on_one_stream_does_not_blank_the_other() -> None:
    redactor = Redactor()
    out = []
    for line in PEM_BLOCK[:5]:
        out.append(redactor(line, "stderr"))
        out.append(redactor("step 5 loss=0.1", "stdout"))
    out.extend(redactor(line, "stderr") for line in PEM_BLOCK[5:])
    joined = "\n".join(out)
    assert "MIIEpAIBAAKCAQEA7bq9" not in joined and "Xk2mQ9vL4pR7" not in joined
    assert "AES-128-CBC" not in joined
    assert out.count("step 5 loss=0.1") == 5


def test_a_block_that_never_ends_stops_at_ordinary_output() -> None:
    """A BEGIN line with no key after it (a message about keys) blanks nothing else."""
    redactor = Redactor()
    assert redactor("-----BEGIN PRIVATE KEY-----", "stdout").endswith(MARK)
    assert redactor("step 5 loss=0.1", "stdout") == "step 5 loss=0.1"
    assert redactor("next line", "stdout") == "next line"


def test_exact_values_are_blanked() -> None:
    redactor = Redactor(["plain-value-from-env", None, "abc"])  # too short to blank: abc
    assert redactor("x plain-value-from-env y") == f"x {MARK} y"
    assert redactor("abc") == "abc"


@pytest.mark.parametrize("line", ORDINARY)
def test_ordinary_lines_are_left_alone(line: str) -> None:
    assert redact(line) == line
    assert Redactor()(line) == line


@given(step=st.integers(0, 10**7), total=st.integers(1, 10**7),
       loss=st.floats(allow_nan=True, allow_infinity=True),
       lr=st.floats(1e-8, 1.0), blob=st.binary(max_size=64), when=st.floats(0, 2e9),
       words=st.lists(st.sampled_from(["train", "val", "data", "ckpt", "resnet-50",
                                       "bert_base", "v2", "weights", "tokens", "keys"]),
                      min_size=1, max_size=4))
def test_training_output_is_left_alone(
    step: int, total: int, loss: float, lr: float, blob: bytes, when: float,
    words: list[str],
) -> None:
    digest = hashlib.sha256(blob).hexdigest()
    run_id = new_id(when)
    path = "/" + "/".join(words) + f"/runs/{run_id}/checkpoints/step_{step:08d}.pt"
    lines = [
        f"step {step}/{total} loss={loss} lr={lr:.3e}",
        f"[{run_id}] epoch {step % 100}: {words[0]}_loss={loss:.4f} {words[-1]}={step}",
        f"saved {path} sha256={digest}",
        f"checkpoint {digest[:12]} at {path} ({step} bytes)",
        f"{'/'.join(words)} {hashlib.sha1(blob).hexdigest()} {hashlib.md5(blob).hexdigest()}",
        f"{step * 100 // total % 101:3d}%|{'█' * (step % 10)}| {step}/{total} [00:01<00:02]",
    ]
    for line in lines:
        assert redact(line) == line

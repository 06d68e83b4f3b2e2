"""Shapes of secrets that console output must never keep, and output that must stay as is.

``SECRETS``: realistic examples, each ``(text, part)``: ``part`` is what must not survive
redaction (the distinctive part of the secret, not its well-known prefix).
``TEMPLATES``: the same shapes with the secret drawn at random: ``(template, alphabet,
min_size)``, the secret goes where ``{}`` is.
``PEM_BLOCK``: a private key as a program would print it, one line at a time.
``ORDINARY``: lines from training scripts that hold no secret.
"""

from __future__ import annotations

import string
from typing import Final

SECRETS: Final[tuple[tuple[str, str], ...]] = (
    # command-line options and tools
    ("--password hunter2", "hunter2"),
    ("--password=hunter2", "hunter2"),
    ("--db-password 'correct horse'", "correct horse"),
    ("--api-key abc123def456", "abc123def456"),
    ("--token=tok_live_998877", "tok_live_998877"),
    ("--hub_token hubsecret42", "hubsecret42"),
    ("sshpass -p hunter2 ssh user@host", "hunter2"),
    ("sshpass -p'hunter2' scp a b:", "hunter2"),
    ("mysql -u root -phunter2 train_db", "hunter2"),
    ("curl -H 'Authorization: token 0123456789abcdef' https://api", "0123456789abcdef"),
    ("docker login -u bob --password Pa55word! registry.io", "Pa55word!"),
    # passwords in URLs
    ("postgres://user:pa55@host", "pa55@"),
    ("postgresql+psycopg://trainer:S3cr3t-Pw@db.internal:5432/runs", "S3cr3t-Pw"),
    ("redis://:r3dispw@cache:6379/0", "r3dispw"),
    ("https://x-access-token:gho_16C7e42F292c6912E7710c838347Ae178B4a@github.com/o/r.git",
     "16C7e42F292c6912E7710c838347Ae178B4a"),
    ("amqp://guest:gu3st-pw@rabbit//", "gu3st-pw"),
    # provider keys by their shape
    ("cw_5Gc8KpQ2xYz1RfT7mN3vB9wLe4", "5Gc8KpQ2xYz1RfT7mN3vB9wLe4"),
    ("hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345", "AbCdEfGhIjKlMnOpQrStUvWxYz012345"),
    ("ghp_1a2B3c4D5e6F7g8H9i0JkLmNoPqRsTuVwXyZ", "1a2B3c4D5e6F7g8H9i0JkLmNoPqRsTuVwXyZ"),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEF",
     "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEF"),
    ("glpat-xYz1234567890AbCdEfGh", "xYz1234567890AbCdEfGh"),
    ("sk-proj-Abc123Def456Ghi789Jkl012Mno345", "Abc123Def456Ghi789Jkl012Mno345"),
    ("sk-ant-api03-AbCdEf0123456789_GhIjKl-MnOpQr", "AbCdEf0123456789_GhIjKl-MnOpQr"),
    ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyjWDarjtT1zdp7dc"),
    ("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
     "1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"),
    ("xapp-1-A0123456789-0123456789012-abcdef0123456789", "abcdef0123456789"),
    ("npm_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"),
    ("pypi-AgEIcHlwaS5vcmcCJGFiY2RlZi0xMjM0LTU2Nzg", "AgEIcHlwaS5vcmcCJGFiY2RlZi0xMjM0LTU2Nzg"),
    ("AKIAIOSFODNN7EXAMPLE", "IOSFODNN7EXAMPLE"),
    ("ASIAY34FZKBOKMUTVV7A", "Y34FZKBOKMUTVV7A"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ('"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI", "SyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI"),
    ("ya29.a0AfH6SMBx3kLmNoPqRsTuVwXyZ0123456789", "a0AfH6SMBx3kLmNoPqRsTuVwXyZ0123456789"),
    ("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", "1a2B3c4D5e6F7g8H9i0JkLmNoPqR"),
    ("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCD"
     "XJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq==;EndpointSuffix=core.windows.net",
     "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq"),
    ("https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sp=r&sig=aB3dE5fG7hI9jK1lM3nO5pQ%3D",
     "aB3dE5fG7hI9jK1lM3nO5pQ"),
    ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
     "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
    ("td_Xk2mQ9vL4pR7sT1wY8zA3bC6", "Xk2mQ9vL4pR7sT1wY8zA3bC6"),
    # headers
    ("Authorization: Bearer abcdefghijklmnop0123", "abcdefghijklmnop0123"),
    ("authorization=Basic dXNlcjpodW50ZXIy", "dXNlcjpodW50ZXIy"),
    ("bearer qwertyuiop1234567890", "qwertyuiop1234567890"),
    # assignments: environment, code, config, JSON, Python reprs
    ("TOKEN=s3cr3t-t0ken", "s3cr3t-t0ken"),
    ("export SECRET=very-secret-value", "very-secret-value"),
    ("API_KEY=abcdef123456", "abcdef123456"),
    ("HF_TOKEN=hf_AbCdEfGhIjKlMnOpQrStUv", "AbCdEfGhIjKlMnOpQrStUv"),
    ("WANDB_API_KEY=0123456789abcdef0123456789abcdef01234567",
     "0123456789abcdef0123456789abcdef01234567"),
    ("PGPASSWORD=pgpass99 psql -h db", "pgpass99"),
    ("password: hunter2", "hunter2"),
    ("DB_PASSWORD: 'x y z'", "x y z"),
    ('{"password": "hunter 2", "user": "bob"}', "hunter 2"),
    ("{'client_secret': 'cl13nt-s3cr3t'}", "cl13nt-s3cr3t"),
    ("Trainer(hub_token='hubtok123456')", "hubtok123456"),
    ("config.db.passwd=letmein99", "letmein99"),
    ('passphrase = "open sesame"', "open sesame"),
    ("authToken: zyxwvu987654", "zyxwvu987654"),
    ("?access_token=ACCESS0123456789&step=5", "ACCESS0123456789"),
    ("credentials=AKIDsecret:val", "AKIDsecret:val"),
    # private keys on one line (JSON-escaped, as in a service-account file)
    ('"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n'
     '-----END PRIVATE KEY-----\\n"', "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"),
    ("-----BEGIN RSA PRIVATE KEY-----MIIEpAIBAAKCAQEA7bq9", "MIIEpAIBAAKCAQEA7bq9"),
    ("-----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXktdjEAAAAA -----END OPENSSH PRIVATE KEY"
     "-----", "b3BlbnNzaC1rZXktdjEAAAAA"),
)

_PASSWORD: Final = string.ascii_letters + string.digits + "!#$%*+-./:<=>?@[]^_{|}~"
_URL_PASSWORD: Final = string.ascii_letters + string.digits + "!$%*+-._~"
_ALNUM: Final = string.ascii_letters + string.digits
_UPPER: Final = string.ascii_uppercase + string.digits
_B64: Final = _ALNUM + "+/"

TEMPLATES: Final[tuple[tuple[str, str, int], ...]] = (
    ("--password {}", _PASSWORD, 6),
    ("--password={}", _PASSWORD, 6),
    ("--secret-key {}", _PASSWORD, 6),
    ("sshpass -p {} ssh -o StrictHostKeyChecking=no user@node-3", _PASSWORD, 6),
    ("postgres://trainer:{}@db.internal:5432/traindeck", _URL_PASSWORD, 6),
    ("mongodb+srv://admin:{}@cluster0.example.net/test", _URL_PASSWORD, 6),
    ("password={}", _PASSWORD, 6),
    ("MY_SERVICE_TOKEN={}", _PASSWORD, 6),
    ("'api_key': '{}'", _PASSWORD.replace("'", ""), 6),
    ("cw_{}", _ALNUM, 20),
    ("hf_{}", _ALNUM, 20),
    ("ghp_{}", _ALNUM, 36),
    ("github_pat_{}", _ALNUM + "_", 40),
    ("sk-{}", _ALNUM, 32),
    ("sk-ant-api03-{}", _ALNUM + "_-", 40),
    ("xoxb-{}", _ALNUM + "-", 24),
    ("AKIA{}", _UPPER, 16),
    ("aws_secret_access_key={}", _B64, 40),
    ("Authorization: Bearer {}", _ALNUM + "._-", 16),
    ("eyJhbGciOiJSUzI1NiJ9.eyJ{}.sig0123456789", _ALNUM + "_-", 16),
)
# AKIA keys are exactly 16 characters after the prefix.
FIXED_SIZE: Final = {"AKIA{}": 16}

PEM_BLOCK: Final = (
    "-----BEGIN RSA PRIVATE KEY-----",
    "Proc-Type: 4,ENCRYPTED",
    "DEK-Info: AES-128-CBC,3F17F5316E2BAC89BB9A2C2D8D6DDAD2",
    "",
    "MIIEpAIBAAKCAQEA7bq9x2Lk1cQ0pW4hZ3tN8sV5yR2mF6jG9uD1oE4aI7bK0lPq",
    "Xk2mQ9vL4pR7sT1wY8zA3bC6eH0jN5uM2gF9dS4aZ7xV1cB8nQ3wE6rT0yU5iO2p",
    "hZ3tN8sV5yR2mF6jG9uD1oE4aI7bK0lPqMIIEpAIBAAKCAQEA7bq9x2Lk1cQ0==",
    "-----END RSA PRIVATE KEY-----",
)

ORDINARY: Final = (
    "step 100/1000 loss=0.1234 lr=3.00e-04 grad_norm=1.02",
    "epoch 3: val_acc=0.9312 val_loss=0.2101 best=True",
    "loss: 0.693147 | acc: 51.2% | 12.4 it/s",
    "saved checkpoint /data/runs/01j8zq3k4m5n6p7q/checkpoints/step_000500.pt (23.4 MiB)",
    "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "git commit 4b825dc642cb6eb9a060e54bf8d69288fbee4904 (dirty)",
    "run 01j8zq3k4m5n6p7q started: project=mnist name=resnet-18",
    " 45%|████▌     | 450/1000 [00:12<00:15, 36.21it/s, loss=0.412]",
    "Missing key(s) in state_dict: \"fc.weight\", \"fc.bias\".",
    "Some weights of the model checkpoint were not used when initializing BertModel",
    "tokenizer: pad_token=0 eos_token='</s>' bos_token: <s> unk_token=<unk>",
    "max_tokens=512 tokens_per_sec=1234.5 num_tokens: 8192 token_count=5",
    "Serving on http://127.0.0.1:8000/ (press Ctrl-C to stop)",
    "Downloading https://huggingface.co/bert-base-uncased/resolve/main/config.json",
    "PWD=/home/alice/project OLDPWD=/tmp",
    "WARNING: the password-file option is deprecated; use --password-file PATH",
    "INFO:root:using key 'loss' for the best checkpoint (mode=min)",
    "CUDA_VISIBLE_DEVICES=0,1 torchrun --nproc_per_node=2 train.py --lr 3e-4",
    "basic augmentation: random crop + flip",
    "signal handler installed (SIGTERM); sigmoid output in [0, 1]",
    "task-0123456789abcdefgh finished",
    "Asian-English corpus: 1,234,567 sentences",
    "",
)

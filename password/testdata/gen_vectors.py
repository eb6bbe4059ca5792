#!/usr/bin/python3
"""Writes vectors.json: password hashes made by the real libraries that
sessiond's password package must verify (imported users, issue #12).

Run from this directory with Debian's Python (python3 on PATH may be a pyenv
one without Django):

    apt-get install -y python3-django python3-bcrypt python3-argon2
    /usr/bin/python3 gen_vectors.py > vectors.json

Each vector: format, password, encoded, match (whether sessiond must accept
the password) and upgrade (whether a match asks for a rehash). Each hash is
checked here with the library that made it, with its password and with "!"
before it, before it is written, so the file records the libraries' own
answers. Plain bcrypt reads only a password's first 72 bytes; sessiond does
not truncate (SEC-17), so those vectors use passwords of at most 72 bytes,
and the two LONG_BCRYPT vectors record the one place sessiond answers
differently from the library.
"""
import base64
import hashlib
import json
import os
import sys

import argon2
import bcrypt
import django
from django.conf import settings

settings.configure(PASSWORD_HASHERS=[
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.BCryptPasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
])
django.setup()

from django.contrib.auth import hashers  # noqa: E402  (needs settings)


# Cheaper subclasses keep the Go tests fast (they run under the race
# detector too, where bcrypt is some twenty times slower); one vector per
# format keeps Django's own defaults, except bcrypt's 12 rounds, for which
# 10 stands (two digits, a sixteenth of the time). They change only the cost, never the algorithm name,
# so check_password verifies their hashes with Django's own hashers.
class FastPBKDF2(hashers.PBKDF2PasswordHasher):
    iterations = 1000


class FastPBKDF2SHA1(hashers.PBKDF2SHA1PasswordHasher):
    iterations = 1000


class FastBCryptSHA256(hashers.BCryptSHA256PasswordHasher):
    rounds = 4


class FastBCrypt(hashers.BCryptPasswordHasher):
    rounds = 4


class BCryptSHA256_10(hashers.BCryptSHA256PasswordHasher):
    rounds = 10


class BCrypt10(hashers.BCryptPasswordHasher):
    rounds = 10


class FastArgon2(hashers.Argon2PasswordHasher):
    memory_cost = 1024
    time_cost = 1
    parallelism = 2


PASSWORDS = [
    "correct horse battery staple",
    "pässwörd",
    "密码🔑 with spaces ",
    " leading and trailing\t",
    "é" * 150 + "!",  # 301 bytes, non-ASCII
    "x" * 100,
]
SHORT = [pw for pw in PASSWORDS if len(pw.encode()) <= 72]  # for plain bcrypt
NUL = "nul\x00inside"  # plain bcrypt refuses NUL bytes; the others take them
LONG_BCRYPT = "b" * 72 + "truncated"  # 81 bytes: bcrypt reads only the first 72
SESSIOND = dict(memory_cost=19456, time_cost=2, parallelism=1)  # password.MinParams

vectors = []


def add(fmt, password, encoded, match=True, upgrade=True, note=None):
    v = dict(format=fmt, password=password, encoded=encoded, match=match, upgrade=upgrade)
    if note:
        v["note"] = note
    vectors.append(v)


def via_django(fmt, hasher, passwords, salt=None):
    for pw in passwords:
        enc = hashers.make_password(pw, salt=salt, hasher=hasher)
        assert hashers.check_password(pw, enc), (fmt, pw)
        assert not hashers.check_password("!" + pw, enc), (fmt, pw)
        add(fmt, pw, enc)


def b64(b):
    return base64.b64encode(b).decode("ascii").rstrip("=")


# Django's hashers, through make_password.
via_django("django pbkdf2_sha256", "pbkdf2_sha256", PASSWORDS[:1])  # Django's default iterations
via_django("django pbkdf2_sha256", FastPBKDF2(), PASSWORDS + [NUL])
via_django("django pbkdf2_sha256", FastPBKDF2(), ["unicode salt"], salt="sälté")
via_django("django pbkdf2_sha1", "pbkdf2_sha1", PASSWORDS[:1])
via_django("django pbkdf2_sha1", FastPBKDF2SHA1(), PASSWORDS + [NUL])
via_django("django bcrypt_sha256", BCryptSHA256_10(), PASSWORDS[:1])
via_django("django bcrypt_sha256", FastBCryptSHA256(), PASSWORDS + [NUL, LONG_BCRYPT])
via_django("django bcrypt", BCrypt10(), PASSWORDS[:1])
via_django("django bcrypt", FastBCrypt(), SHORT)
via_django("django argon2", "argon2", PASSWORDS[:1])  # Django's default m, t, p
via_django("django argon2", FastArgon2(), PASSWORDS + [NUL])

# Django's bcrypt$ (without the SHA-256 step) passes the password to bcrypt,
# which reads only its first 72 bytes, so Django accepts any password that
# shares them. sessiond verifies passwords exactly as received (SEC-17):
# longer than 72 bytes never matches a plain bcrypt hash.
enc = hashers.make_password(LONG_BCRYPT, hasher=FastBCrypt())
assert hashers.check_password(LONG_BCRYPT, enc) and hashers.check_password(LONG_BCRYPT[:72] + "other", enc)
add("django bcrypt", LONG_BCRYPT, enc, match=False,
    note="made from these 81 bytes; bcrypt hashed the first 72; refused: no truncation")
add("django bcrypt", LONG_BCRYPT[:72], enc, note="the 72 bytes bcrypt actually hashed")

# Django's older argon2i, as Django < 3.2 stored it ("argon2" + argon2-cffi's string).
for pw in PASSWORDS[:2]:
    raw = argon2.low_level.hash_secret(pw.encode(), os.urandom(16), time_cost=2, memory_cost=512,
                                       parallelism=2, hash_len=16, type=argon2.low_level.Type.I)
    assert argon2.low_level.verify_secret(raw, pw.encode(), argon2.low_level.Type.I)
    enc = "argon2" + raw.decode("ascii")
    assert hashers.check_password(pw, enc), pw
    add("django argon2i", pw, enc)

# Plain bcrypt, from the bcrypt library.
for prefix in (b"2a", b"2b"):
    for pw in SHORT:
        enc = bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4, prefix=prefix))
        assert bcrypt.checkpw(pw.encode(), enc) and not bcrypt.checkpw(b"!" + pw.encode(), enc)
        add("bcrypt $" + prefix.decode() + "$", pw, enc.decode("ascii"))
enc = bcrypt.hashpw(PASSWORDS[0].encode(), bcrypt.gensalt(rounds=10))
add("bcrypt $2b$", PASSWORDS[0], enc.decode("ascii"))
# $2y$ (PHP's name) is the same algorithm as $2b$; the library makes only
# 2a and 2b, so relabel one and have the library check it.
for pw in PASSWORDS[:3]:
    enc = b"$2y$" + bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=5))[4:]
    assert bcrypt.checkpw(pw.encode(), enc) and not bcrypt.checkpw(b"!" + pw.encode(), enc)
    add("bcrypt $2y$", pw, enc.decode("ascii"))
enc = bcrypt.hashpw(LONG_BCRYPT.encode(), bcrypt.gensalt(rounds=4))
assert bcrypt.checkpw(LONG_BCRYPT[:72].encode() + b"other", enc)
add("bcrypt $2b$", LONG_BCRYPT, enc.decode("ascii"), match=False,
    note="made from these 81 bytes; bcrypt hashed the first 72; refused: no truncation")
add("bcrypt $2b$", LONG_BCRYPT[:72], enc.decode("ascii"), note="the 72 bytes bcrypt actually hashed")

# PHC argon2id from argon2-cffi, below and at sessiond's own parameters.
for pw in PASSWORDS + [NUL]:
    enc = argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=2, hash_len=32,
                                type=argon2.Type.ID).hash(pw)
    assert argon2.PasswordHasher().verify(enc, pw)
    try:
        argon2.PasswordHasher().verify(enc, "!" + pw)
        raise AssertionError(pw)
    except argon2.exceptions.VerifyMismatchError:
        pass
    add("phc argon2id", pw, enc)
enc = argon2.PasswordHasher(hash_len=32, salt_len=16, type=argon2.Type.ID, **SESSIOND).hash(PASSWORDS[1])
add("phc argon2id", PASSWORDS[1], enc, upgrade=False, note="sessiond's own parameters")

# PHC scrypt, as passlib writes it: $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<key>,
# salt and key in standard base64 without padding. Made with hashlib.scrypt.
def scrypt(pw, ln, r, p):
    salt = os.urandom(16)
    key = hashlib.scrypt(pw.encode(), salt=salt, n=2 ** ln, r=r, p=p, dklen=32, maxmem=2 ** 27)
    return "$scrypt$ln=%d,r=%d,p=%d$%s$%s" % (ln, r, p, b64(salt), b64(key))


for pw in PASSWORDS + [NUL]:
    add("phc scrypt", pw, scrypt(pw, 10, 8, 1))
add("phc scrypt", PASSWORDS[0], scrypt(PASSWORDS[0], 4, 2, 3))
add("phc scrypt", PASSWORDS[0], scrypt(PASSWORDS[0], 16, 8, 1), note="passlib's default cost: 64 MiB")

json.dump(dict(generator="gen_vectors.py", django=django.get_version(), bcrypt=bcrypt.__version__,
               argon2_cffi=argon2.__version__, vectors=vectors),
          sys.stdout, ensure_ascii=False, indent=1)
sys.stdout.write("\n")

"""test_schema_exact.py — `oneOf` and `number` ranges generate exactly what
an independent validator (Debian's python3-jsonschema) accepts.

tests/progs/schema_walk gives random sentences of a schema's grammar (a
byte-level random walk) and says which given texts the grammar accepts.

- number with minimum / maximum / exclusive*: 300 random sentences per
  range validate; and for decimals around every bound (b, b +- 10^-k,
  integers and fractions in between) in the generated form (no exponent,
  at most 15 digits), the grammar accepts exactly those jsonschema accepts.
  Bounds needing more than 15 significant digits are refused.
- oneOf: branches that cannot both match (types, const/enum values, number
  ranges, object discriminators, additionalProperties false, $refs) are
  accepted and every sentence validates (jsonschema's oneOf: exactly one
  branch); branches that can overlap are refused naming oneOf, and for each
  a witness value matching two branches shows the refusal is needed.
Exit 77 (skip) when python3-jsonschema is missing."""
import json
import os
import subprocess
import sys
import tempfile
from decimal import Decimal

import testlib as T
from testlib import check

T.print_ok = True

try:
    import jsonschema
except ImportError:
    T.skip("test_schema_exact: python3-jsonschema is not installed (scripts/install-deps.sh)")

WALK = os.path.join(os.environ.get("WAFER_BUILD", "build"), "tests", "schema_walk")
TMP = tempfile.mkdtemp()


def schema_file(schema):
    p = os.path.join(TMP, "s.json")
    with open(p, "w") as f:
        json.dump(schema, f)
    return p


def walk(schema, seed, n):
    out = subprocess.run([WALK, schema_file(schema), str(seed), str(n)], capture_output=True, text=True,
                         timeout=60).stdout
    if out.startswith("ERROR "):
        return None, out[6:].strip()
    return out.splitlines(), None


def accepts(schema, texts):
    out = subprocess.run([WALK, "--check", schema_file(schema)], input="".join(t + "\n" for t in texts),
                         capture_output=True, text=True, timeout=60).stdout.split()
    return [x == "1" for x in out]


def validator(schema):
    return jsonschema.Draft202012Validator(schema)


def sentences_validate(name, schema, seed, n=300, min_distinct=5):
    lines, err = walk(schema, seed, n)
    if lines is None:
        check(False, "%s: refused: %s" % (name, err))
        return
    v = validator(schema)
    bad = []
    for s in lines:
        try:
            inst = json.loads(s)
        except ValueError as e:
            bad.append((s, "not JSON: %s" % e))
            continue
        errs = [e.message for e in v.iter_errors(inst)]
        if errs:
            bad.append((s, errs[0]))
    check(not bad and len(lines) == n and len(set(lines)) >= min_distinct,
          "%s: %d random sentences (%d distinct) validate%s" % (name, len(lines), len(set(lines)),
                                                                 "" if not bad else ": %r" % bad[:3]))


# ---- numbers ----------------------------------------------------------------------------------------

FORM_DIGITS = 15


def in_form(t):
    """The form the grammar generates: -?(0|[1-9][0-9]*)(.[0-9]+)?, <= 15 digits, not a negative zero."""
    body = t[1:] if t.startswith("-") else t
    ip, _, fr = body.partition(".")
    if not ip.isdigit() or (len(ip) > 1 and ip[0] == "0") or ("." in body and not fr.isdigit()):
        return False
    if len(ip) + len(fr) > FORM_DIGITS:
        return False
    return not (t.startswith("-") and Decimal(body) == 0)


def text_of(d):
    t = format(d, "f")
    if "." in t:
        t = t.rstrip("0").rstrip(".")
    return "0" if t in ("-0", "") else t


def candidates(bounds):
    out = set()
    for b in bounds:
        bd = Decimal(repr(b)) if isinstance(b, float) else Decimal(b)
        for k in range(0, 15):
            step = Decimal(1).scaleb(-k)
            for d in (bd, bd + step, bd - step, bd + 3 * step, bd - 7 * step):
                t = text_of(d)
                out.add(t)
                if "." not in t:
                    out.add(t + ".0")
                    out.add(t + ".000")
    for t in ["0", "0.0", "-0.5", "0.5", "1", "-1", "12.75", "-12.75", "99999", "-99999", "1e2", "-0", "007", "1.",
              "123456789012.345", "0.1234567890123456"]:
        out.add(t)
    return sorted(out)


NUMBER_RANGES = [
    dict(minimum=0, maximum=1),
    dict(minimum=-2.5, exclusiveMaximum=10.25),
    dict(exclusiveMinimum=0, maximum=0.001),
    dict(exclusiveMinimum=-1, exclusiveMaximum=1),
    dict(minimum=3.14159),
    dict(maximum=-0.75),
    dict(exclusiveMaximum=0),
    dict(minimum=0.5, maximum=0.5),
    dict(minimum=-100.125, maximum=-99.5),
    dict(minimum=1e-5, exclusiveMaximum=2e-5),
    dict(minimum=123456.789, maximum=123457),
    dict(minimum=0.1, exclusiveMinimum=0.1, maximum=0.3),
]


def numbers():
    for i, r in enumerate(NUMBER_RANGES):
        schema = dict(type="number", **r)
        name = "number %s" % json.dumps(r)
        sentences_validate(name, schema, 100 + i, min_distinct=3 if r.get("minimum") == r.get("maximum") else 5)
        cand = candidates([b for b in r.values()])
        got = accepts(schema, cand)
        v = validator(schema)
        wrong = []
        n_form = n_valid = 0
        for t, a in zip(cand, got):
            try:
                valid = v.is_valid(json.loads(t))
            except ValueError:
                valid = False
            if in_form(t):
                n_form += 1
                n_valid += valid
                if a != valid:
                    wrong.append((t, "grammar %s, jsonschema %s" % (a, valid)))
            elif a and not valid:
                wrong.append((t, "accepted but invalid"))
        check(len(got) == len(cand) and not wrong and n_valid > 0 and n_valid < n_form,
              "%s: on %d decimals around the bounds (%d valid) the grammar agrees with jsonschema%s"
              % (name, n_form, n_valid, "" if not wrong else ": %r" % wrong[:4]))
    # refused: bounds that need more than 15 significant digits, or nothing in range
    for r, want in [(dict(minimum=0.1234567890123456), "15"), (dict(maximum=1e20), "1e15"),
                    (dict(minimum=2, maximum=1), "no number")]:
        lines, err = walk(dict(type="number", **r), 1, 1)
        check(lines is None and want in (err or ""), "number %s refused: %s" % (json.dumps(r), err))


# ---- oneOf -----------------------------------------------------------------------------------------

S = dict
OBJ = lambda props, req, **k: S(type="object", properties=props, required=req, **k)
DISJOINT = [
    ("types", S(oneOf=[S(type="integer"), S(type="string", maxLength=4), S(type="boolean"), S(type="null")])),
    ("consts", S(oneOf=[S(const="a"), S(const="b"), S(const=1), S(const=None)])),
    ("enums", S(oneOf=[S(enum=["x", "y"]), S(enum=["z", 3]), S(enum=[4, 5.5])])),
    ("number ranges", S(oneOf=[S(type="number", maximum=0), S(type="number", exclusiveMinimum=0, maximum=10),
                               S(type="integer", exclusiveMinimum=10)])),
    ("const discriminator", S(oneOf=[
        OBJ(S(kind=S(const="circle"), r=S(type="number", minimum=0, maximum=9)), ["kind", "r"], additionalProperties=False),
        OBJ(S(kind=S(const="square"), side=S(type="integer")), ["kind", "side"], additionalProperties=False)])),
    ("enum discriminator", S(oneOf=[
        OBJ(S(op=S(enum=["add", "sub"]), a=S(type="integer")), ["op", "a"]),
        OBJ(S(op=S(enum=["neg"]), a=S(type="integer")), ["op"])])),
    ("type discriminator", S(oneOf=[OBJ(S(v=S(type="string", maxLength=3)), ["v"]), OBJ(S(v=S(type="integer")), ["v"])])),
    ("closed objects", S(oneOf=[OBJ(S(a=S(type="integer")), ["a"], additionalProperties=False),
                                OBJ(S(b=S(type="integer")), ["b"], additionalProperties=False)])),
    ("refs", {"$defs": {"cat": OBJ(S(pet=S(const="cat"), lives=S(type="integer", minimum=0, maximum=9)), ["pet", "lives"]),
                        "dog": OBJ(S(pet=S(const="dog"), good=S(type="boolean")), ["pet", "good"])},
              "oneOf": [{"$ref": "#/$defs/cat"}, {"$ref": "#/$defs/dog"}, S(type="array", items=S(type="integer"), maxItems=2)]}),
    ("implied object vs typed", S(oneOf=[S(properties=S(k=S(const=1)), required=["k"]),
                                         S(type="object", properties=S(k=S(const=2)), required=["k"])])),
]
OVERLAP = [
    ("integer vs number", S(oneOf=[S(type="integer"), S(type="number")]), 3),
    ("two strings", S(oneOf=[S(type="string", maxLength=3), S(type="string", pattern="^a")]), "ab"),
    ("enums sharing a value", S(oneOf=[S(enum=[1, 2]), S(enum=[2, 3])]), 2),
    ("1 and 1.0", S(oneOf=[S(const=1), S(const=1.0)]), 1),
    ("ranges meeting", S(oneOf=[S(type="number", maximum=1), S(type="number", minimum=1)]), 1),
    ("objects without a discriminator", S(oneOf=[OBJ(S(a=S(type="integer")), ["a"]),
                                                 OBJ(S(b=S(type="integer")), ["b"])]), {"a": 1, "b": 2}),
    ("untyped branch", S(oneOf=[S(type="string"), S(minLength=2)]), "abc"),
    ("true branch", S(oneOf=[S(type="integer"), True]), 5),
    ("optional discriminator", S(oneOf=[OBJ(S(k=S(const="a")), []), OBJ(S(k=S(const="b")), [])]), {}),
]


def one_of():
    for i, (name, schema) in enumerate(DISJOINT):
        sentences_validate("oneOf, " + name, schema, 200 + i)
    for name, schema, witness in OVERLAP:
        lines, err = walk(schema, 1, 1)
        n_match = sum(validator(b).is_valid(witness) for b in schema["oneOf"])
        check(lines is None and "oneOf" in (err or "") and n_match >= 2,
              "oneOf, %s: refused (%s); witness %s matches %d branches" % (name, (err or "")[:70], json.dumps(witness), n_match))


def main():
    if not os.path.exists(WALK):
        check(False, "missing %s" % WALK)
        return T.summary("test_schema_exact")
    numbers()
    one_of()
    return T.summary("test_schema_exact")


if __name__ == "__main__":
    sys.exit(main())

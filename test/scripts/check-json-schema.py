#!/usr/bin/env python3
"""check-json-schema.py — schema-constrained decoding, checked by an
independent validator (issue 18's acceptance).

For each of the schemas below, bin/deepseek-r1 generate --schema writes
--per-schema answers (--parallel batches, several seeds, temperature 0.7 by
default) on SmolLM2-135M; every answer must parse as JSON and be valid
under the PyPI `jsonschema` package (Draft 2020-12, formats checked: date
by the standard library, date-time by RFC 3339's grammar and a real
calendar time).  An answer cut short by max tokens counts as a failure.
Prints "N passed, N failed" and exits 1 on any failure.

usage: check-json-schema.py [--program bin/deepseek-r1] [--model FILE]
                            [--per-schema 42] [--batch 42] [--temp 0.7]
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys

import jsonschema

S = {"type": "string"}
ENUM = lambda *v: {"enum": list(v)}
INT = lambda lo, hi: {"type": "integer", "minimum": lo, "maximum": hi}
NUM = lambda lo, hi: {"type": "number", "minimum": lo, "maximum": hi}
STR = lambda n: {"type": "string", "maxLength": n}
OBJ = lambda props, req=(): {"type": "object", "properties": props, "required": list(req)}
ARR = lambda items, lo=0, hi=None: dict({"type": "array", "items": items, "minItems": lo},
                                        **({"maxItems": hi} if hi is not None else {}))

# (prompt, schema): support tickets, reviews, people, orders, events
CASES = [
    ("Classify this support ticket: 'I was charged twice for my subscription this month.'",
     OBJ({"category": ENUM("billing", "bug", "account", "other"),
          "urgent": {"type": "boolean"}}, ["category", "urgent"])),
    ("Extract the customer from: 'Hi, this is Maria Lopez (34) from Madrid.'",
     OBJ({"name": STR(40), "age": INT(0, 120), "city": STR(30)}, ["name"])),
    ("Rate this review from 1 to 5: 'The blender broke after two days. Awful.'",
     OBJ({"stars": INT(1, 5), "summary": STR(60)}, ["stars", "summary"])),
    ("List up to three tags for: 'The app crashes when I upload a photo on Android.'",
     ARR(STR(20), 1, 3)),
    ("Give the sentiment score between -1 and 1 of: 'Pretty good, but shipping was slow.'",
     OBJ({"score": NUM(-1, 1), "label": ENUM("positive", "negative", "mixed")}, ["score", "label"])),
    ("When was the order placed? 'Order #5521 placed on March 3rd 2024, shipped the 5th.'",
     OBJ({"order": INT(1, 99999), "placed": {"type": "string", "format": "date"},
          "shipped": {"type": "string", "format": "date"}}, ["order", "placed"])),
    ("When did the outage start? 'Servers went down at 14:05 UTC on 2024-06-01.'",
     OBJ({"start": {"type": "string", "format": "date-time"}, "resolved": {"type": "boolean"}},
         ["start"])),
    ("Extract the line items: '2 coffees at 3.50 and a muffin at 2.25'",
     OBJ({"items": ARR(OBJ({"name": STR(20), "qty": INT(1, 100), "price": NUM(0, 1000)},
                           ["name", "qty", "price"]), 1, 4),
          "currency": ENUM("EUR", "USD", "GBP")}, ["items"])),
    ("Is this email spam? 'You won a free cruise, click here now!!!'",
     {"type": "boolean"}),
    ("How many people are mentioned: 'Anna met Bob and Chris at the station.'",
     INT(0, 50)),
    ("What fraction of the survey answered yes? '42 of 60 said yes.'",
     NUM(0, 1)),
    ("Pick the department for: 'My password reset link does not arrive.'",
     ENUM("sales", "support", "security", "hr")),
    ("Describe the product in a few words: 'Stainless steel water bottle, 750 ml, keeps cold 24h.'",
     OBJ({"material": STR(30), "volume_ml": INT(1, 5000), "insulated": {"type": "boolean"},
          "colour": {"anyOf": [STR(15), {"type": "null"}]}}, ["material", "volume_ml", "colour"])),
    ("Extract the address: 'Ship to 221B Baker Street, London NW1 6XE, United Kingdom.'",
     OBJ({"street": STR(50), "city": STR(30), "postcode": STR(10), "country": STR(30)},
         ["street", "city", "country"])),
    ("Summarise the meeting: 'We agreed to launch on 2024-09-15; Tom owns marketing, Ann QA.'",
     OBJ({"launch": {"type": "string", "format": "date"},
          "owners": ARR(OBJ({"person": STR(20), "area": STR(20)}, ["person", "area"]), 0, 3)},
         ["launch", "owners"])),
    ("Give the coordinates of Paris.",
     OBJ({"lat": NUM(-90, 90), "lon": NUM(-180, 180)}, ["lat", "lon"])),
    ("Nested profile for: 'Dr. Lee, cardiologist at City Hospital since 2015.'",
     OBJ({"person": OBJ({"name": STR(30), "title": ENUM("Dr.", "Mr.", "Ms.", "Prof.")}, ["name"]),
          "job": OBJ({"role": STR(30), "employer": STR(30), "since": INT(1900, 2030)},
                     ["role"])}, ["person", "job"])),
    ("Which priority, and why? 'Checkout page returns error 500 for all users.'",
     OBJ({"priority": ENUM("p0", "p1", "p2", "p3"), "reason": STR(80),
          "affected": {"anyOf": [INT(0, 1000000000), {"type": "null"}]}}, ["priority"])),
    ("Matrix of small numbers.",
     ARR(ARR(INT(-9, 9), 1, 3), 1, 3)),
    ("Temperatures this week in Celsius.",
     ARR(NUM(-50, 60), 0, 7)),
    ("Optional fields only: 'The caller did not leave a name.'",
     OBJ({"name": STR(20), "phone": STR(20), "callback": {"type": "boolean"}})),
    ("Answer null if unknown, else the year: 'The company was founded in 1998.'",
     {"anyOf": [{"type": "null"}, INT(1800, 2100)]}),
    ("Tickets and their states.",
     OBJ({"tickets": ARR(OBJ({"id": INT(1, 9999), "state": ENUM("open", "closed", "pending"),
                               "opened": {"type": "string", "format": "date-time"}},
                              ["id", "state"]), 0, 3)}, ["tickets"])),
    ("Free text note about: 'Customer prefers email contact.'",
     OBJ({"note": {"type": "string", "minLength": 3, "maxLength": 50},
          "channel": ENUM("email", "phone", "chat")}, ["note", "channel"])),
]

RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?"
                     r"(Z|[+-](\d{2}):(\d{2}))$")

checker = jsonschema.FormatChecker(formats=())


@checker.checks("date", raises=ValueError)
def is_date(value):
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("not YYYY-MM-DD")
    datetime.date.fromisoformat(value)
    return True


@checker.checks("date-time", raises=ValueError)
def is_date_time(value):
    if not isinstance(value, str):
        return True
    m = RFC3339.fullmatch(value)
    if not m:
        raise ValueError("not RFC 3339")
    datetime.date(int(m[1]), int(m[2]), int(m[3]))
    if int(m[4]) > 23 or int(m[5]) > 59 or int(m[6]) > 59:
        raise ValueError("bad time")
    if m[9] and (int(m[9]) > 23 or int(m[10]) > 59):
        raise ValueError("bad offset")
    return True


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    models = os.environ.get("DR1_MODEL_CACHE",
                            os.path.expanduser("~/.cache/deepseek_r1/models"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--program", default=os.path.join(root, "bin", "deepseek-r1"))
    ap.add_argument("--model", default=os.path.join(models, "SmolLM2-135M-Instruct-Q4_1.gguf"))
    ap.add_argument("--per-schema", type=int, default=42)
    ap.add_argument("--batch", type=int, default=42)
    ap.add_argument("--temp", default="0.7")
    ap.add_argument("--max-tokens", default="400")
    ap.add_argument("--threads", default="2")
    args = ap.parse_args()
    if not os.path.exists(args.model):
        print(f"SKIP {args.model} absent")
        return 1 if os.environ.get("DR1_REQUIRE_ALL", "0") not in ("", "0") else 0

    passed = failed = 0
    for k, (prompt, schema) in enumerate(CASES):
        jsonschema.Draft202012Validator.check_schema(schema)
        validator = jsonschema.Draft202012Validator(schema, format_checker=checker)
        text = json.dumps(schema)
        for first in range(0, args.per_schema, args.batch):
            n = min(args.batch, args.per_schema - first)
            seed = str(1000 * k + first + 1)
            run = subprocess.run(
                [args.program, "generate", "-m", args.model, "-p", prompt, "--schema", text,
                 "--temp", args.temp, "--seed", seed, "--parallel", str(n), "-n",
                 args.max_tokens, "-t", args.threads, "-c", "16384", "--device", "cpu"],
                capture_output=True, text=True)
            lines = run.stdout.split("\n")[:n]
            if len(lines) < n:
                print(f"FAIL schema {k} seed {seed}: {len(lines)} answers of {n}: "
                      f"{run.stderr.strip()}")
                failed += n
                continue
            for i, line in enumerate(lines):
                try:
                    validator.validate(json.loads(line))
                    passed += 1
                except (ValueError, jsonschema.ValidationError) as e:
                    failed += 1
                    print(f"FAIL schema {k} seed {int(seed) + i}: {line!r}: "
                          f"{str(e).splitlines()[0]}")
            if run.returncode != 0 and not any(l.startswith("FAIL") for l in lines):
                print(f"note: schema {k} seed {seed}: {run.stderr.strip()}")
    print(f"{len(CASES)} schemas: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Precision and recall of data.anonymization's recognisers, per entity type, on synthetic text.

    python -m benchmarks.pii [--english 500] [--chinese 300] [--cache DIR]

English: Presidio evaluator 0.3.2's sentence templates ({{slot}} placeholders, many of them
banking support requests) filled, seeded, with its 3,000 FakeNameGenerator identities (names,
emails) and Faker en_US (phones, cards, IBANs, IPs, URLs, dates). The package is only downloaded
(pip download --no-deps) and read as a zip; its dependencies are never installed.
Chinese: sentences of our own with Faker zh_CN mobiles, resident IDs (valid check digits),
emails, Luhn-valid UnionPay-style cards, and digit-run distractors (order numbers) that must not
be found.

A gold span counts as found when a finding of the same entity type overlaps it (so "the URL
plus a trailing full stop" still counts); "exact" also requires the same start and end.
Precision counts every finding, also on words no slot put there ("this month" as DATE_TIME).
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import re
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks import _harness

EVALUATOR = "presidio-evaluator==0.3.2"
RAW = "presidio_evaluator/data_generator/raw_data/"
# Template slots scored, and the entity type a correct finding has; other slots are filled
# (cities, companies, ...) but are not personal data this anonymiser claims to find.
GOLD = {
    **dict.fromkeys(
        ("person", "name", "name_female", "name_male", "first_name", "last_name"), "PERSON"
    ),
    **dict.fromkeys(("first_name_male", "first_name_female", "first_name_nonbinary"), "PERSON"),
    **dict.fromkeys(("last_name_male", "last_name_female"), "PERSON"),
    "email": "EMAIL_ADDRESS",
    "phone_number": "PHONE_NUMBER",
    "credit_card_number": "CREDIT_CARD",
    "iban": "IBAN_CODE",
    "ip_address": "IP_ADDRESS",
    "url": "URL",
    "date_time": "DATE_TIME",
    "date_of_birth": "DATE_TIME",
    "year": "DATE_TIME",
    "day_of_week": "DATE_TIME",
}
SLOT = re.compile(r"\{\{(\w+)\}\}")
Span = tuple[int, int, str]


def evaluator_files(cache: Path) -> tuple[list[str], list[dict[str, str]]]:
    """(templates, identities) read from the downloaded presidio-evaluator wheel."""
    wheels = sorted(cache.glob("presidio_evaluator-0.3.2*.whl"))
    if not wheels:
        cache.mkdir(parents=True, exist_ok=True)
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", EVALUATOR, "-d"]
        subprocess.run([*pip, str(cache)], check=True)
        wheels = sorted(cache.glob("presidio_evaluator-0.3.2*.whl"))
    with zipfile.ZipFile(wheels[0]) as archive:
        templates = archive.read(RAW + "templates.txt").decode("utf-8", errors="replace")
        people = archive.read(RAW + "FakeNameGenerator.com_3000.csv").decode("utf-8-sig")
    lines = [line.strip() for line in templates.splitlines() if SLOT.search(line)]
    return lines, list(csv.DictReader(io.StringIO(people)))


def slot_value(slot: str, person: dict[str, str], fake: Any) -> str:
    """A value for a template slot: the identity's own where it has one, else Faker's."""
    own = {
        "person": f"{person['GivenName']} {person['Surname']}",
        "name": f"{person['GivenName']} {person['Surname']}",
        "first_name": person["GivenName"],
        "last_name": person["Surname"],
        "email": person["EmailAddress"],
        "city": person["City"],
        "country": person["CountryFull"],
        "street_name": person["StreetAddress"],
        "address": f"{person['StreetAddress']}, {person['City']} {person['ZipCode']}",
        "organization": person["Company"],
        "job": person["Occupation"],
        "age": person["Age"],
        "date_of_birth": person["Birthday"],
    }
    if slot in own:
        return own[slot]
    if slot.startswith(("name_", "first_name_", "last_name_")) and slot in GOLD:
        return own["name" if slot.startswith("name") else slot.split("_name")[0] + "_name"]
    generated = {
        "phone_number": fake.phone_number,
        "credit_card_number": fake.credit_card_number,
        "iban": fake.iban,
        "ip_address": fake.ipv4_public,
        "url": fake.url,
        "date_time": lambda: fake.date_time().strftime("%B %d, %Y"),
    }
    maker = generated.get(slot) or getattr(fake, slot, None)
    return str(maker()) if callable(maker) else slot.replace("_", " ")


def fill(template: str, person: dict[str, str], fake: Any) -> tuple[str, list[Span]]:
    """The template with its slots filled, and the gold spans of the scored slots."""
    text, gold, position = "", [], 0
    for match in SLOT.finditer(template):
        text += template[position : match.start()]
        value = slot_value(match.group(1), person, fake)
        if match.group(1) in GOLD:
            gold.append((len(text), len(text) + len(value), GOLD[match.group(1)]))
        text += value
        position = match.end()
    return text + template[position:], gold


def english_set(count: int, cache: Path, seed: int = 0) -> list[tuple[str, list[Span]]]:
    from faker import Faker

    templates, people = evaluator_files(cache)
    rng, fake = random.Random(seed), Faker("en_US")
    fake.seed_instance(seed)
    return [fill(rng.choice(templates), rng.choice(people), fake) for _ in range(count)]


ZH_TEMPLATES = (
    "您好，我是{name}，手机号{phone}，请尽快回电。",
    "客户{name}的身份证号码为{id}，已完成实名认证。",
    "请将退款打到我的银行卡{card}，谢谢！",
    "如有问题请发邮件至{email}或拨打{phone}联系我们。",
    "订单号{order}已发货，收件人{name}，电话{phone}。",
    "身份证{id}，银行卡号{card}，开户人{name}。",
    "流水号{order}，交易金额{amount}元，请核对。",
    "我的邮箱是{email}，工单编号{order}。",
)


def chinese_set(count: int, seed: int = 0) -> list[tuple[str, list[Span]]]:
    """Chinese sentences with gold spans; {order} and {amount} are digit-run distractors."""
    from faker import Faker

    from tuneforge.data._cjk_pii import luhn_valid

    rng, fake = random.Random(seed), Faker("zh_CN")
    fake.seed_instance(seed)

    def card() -> str:
        stem = "62" + "".join(rng.choice("0123456789") for _ in range(14 + rng.randint(0, 2)))
        return next(stem + d for d in "0123456789" if luhn_valid(stem + d))

    makers = {
        "name": (fake.name, None),
        "phone": (fake.phone_number, "CN_PHONE_NUMBER"),
        "id": (fake.ssn, "CN_RESIDENT_ID"),
        "card": (card, "CN_BANK_CARD"),
        "email": (fake.email, "EMAIL_ADDRESS"),
        "order": (lambda: str(rng.randint(10**11, 10**20)), None),
        "amount": (lambda: f"{rng.randint(1, 99999)}.{rng.randint(0, 99):02d}", None),
    }
    out = []
    for _ in range(count):
        template = rng.choice(ZH_TEMPLATES)
        text, gold, position = "", [], 0
        for match in re.finditer(r"\{(\w+)\}", template):
            text += template[position : match.start()]
            make, entity = makers[match.group(1)]
            value = make()
            if entity:
                gold.append((len(text), len(text) + len(value), entity))
            text += value
            position = match.end()
        out.append((text + template[position:], gold))
    return out


def score(anonymizer: Any, sentences: list[tuple[str, list[Span]]]) -> dict[str, dict[str, Any]]:
    """Per entity type: gold, found (overlap), exact, predicted, precision, recall."""
    tally: dict[str, Counter[str]] = {}
    for text, gold in sentences:
        predicted = [(f.start, f.end, f.entity) for f in anonymizer.find(text)]
        for start, end, entity in gold:
            row = tally.setdefault(entity, Counter())
            row["gold"] += 1
            hits = [p for p in predicted if p[2] == entity and p[0] < end and start < p[1]]
            row["found"] += bool(hits)
            row["exact"] += (start, end, entity) in predicted
        for start, end, entity in predicted:
            row = tally.setdefault(entity, Counter())
            row["predicted"] += 1
            row["correct"] += any(g[2] == entity and g[0] < end and start < g[1] for g in gold)
    return {
        entity: {
            "gold": row["gold"],
            "predicted": row["predicted"],
            "precision": row["correct"] / row["predicted"] if row["predicted"] else None,
            "recall": row["found"] / row["gold"] if row["gold"] else None,
            "exact_recall": row["exact"] / row["gold"] if row["gold"] else None,
        }
        for entity, row in sorted(tally.items())
    }


def table(scores: dict[str, dict[str, Any]]) -> str:
    def cell(value: float | None) -> Any:
        return "-" if value is None else value

    rows = [
        [
            entity,
            s["gold"],
            s["predicted"],
            cell(s["precision"]),
            cell(s["recall"]),
            cell(s["exact_recall"]),
        ]
        for entity, s in scores.items()
    ]
    columns = ["entity", "gold", "predicted", "precision", "recall", "exact recall"]
    return _harness.markdown_table(columns, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--english", type=int, default=500, help="English sentences")
    parser.add_argument("--chinese", type=int, default=300, help="Chinese sentences")
    parser.add_argument(
        "--cache", type=Path, default=Path.home() / ".cache" / "tuneforge" / "benchmarks"
    )
    args = parser.parse_args()

    from tuneforge.config import AnonymizationConfig
    from tuneforge.data.anonymize import Anonymizer

    anonymizer = Anonymizer(AnonymizationConfig(enabled=True))
    results: dict[str, Any] = {"settings": anonymizer.config.model_dump(mode="json")}
    for name, sentences in (
        ("english", english_set(args.english, args.cache)),
        ("chinese", chinese_set(args.chinese)),
    ):
        started = time.perf_counter()
        scores = score(anonymizer, sentences)
        seconds = time.perf_counter() - started
        results[name] = {"sentences": len(sentences), "seconds": seconds, "scores": scores}
        print(f"\n{name}: {len(sentences)} sentences, {seconds:.1f} s")
        print(table(scores))
    results["machine"] = _harness.machine_info()
    print(f"\nwrote {_harness.write_results('pii', results)}")


if __name__ == "__main__":
    main()

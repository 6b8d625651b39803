"""Generate examples/storm.jsonl: a day on a Dutch retailer's accounts with a storm on one post.

The retailer is "Voorbeeld" (app.yaml's example organisation). The day has ordinary traffic on X,
Facebook, Instagram, reviews and a forum (questions about parcels, returns and opening hours,
complaints, praise; quiet at night, busiest in the afternoon). At 15:00 (Amsterdam) the retailer
posts about a new campaign on Facebook and the comments explode: a ramp of about 30 minutes to a
peak, then a long tail, from thousands of different people, mostly angry Dutch, some with threats
phrased the way real ones are ("ik weet waar jullie hoofdkantoor zit"), and a few defenders;
almost half repeat one of a few chants (#boycotvoorbeeld), as storms do.

    python examples/make_storm.py                    # writes examples/storm.jsonl (seed 7)
    python examples/make_storm.py --storm 300 --out /tmp/small.jsonl

Deterministic for a given seed. Nothing here is real: names, handles and posts are made up.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

DAY = datetime(2026, 11, 24, 0, 0, tzinfo=UTC) - timedelta(hours=1)  # midnight in Amsterdam (CET)
STORM_AT = timedelta(hours=15)  # 15:00 Amsterdam
STORM_POST = "1029384756_556677"
FIRST = [
    "Sanne",
    "Daan",
    "Lotte",
    "Bram",
    "Emma",
    "Jeroen",
    "Fleur",
    "Ruben",
    "Anouk",
    "Thijs",
    "Iris",
    "Niels",
    "Sophie",
    "Lars",
    "Eva",
    "Koen",
    "Femke",
    "Joost",
    "Marloes",
    "Wouter",
    "Noor",
    "Sem",
    "Ilse",
    "Pieter",
    "Yara",
    "Mehmet",
    "Fatima",
    "Kevin",
    "Linda",
    "Hans",
    "Marieke",
    "Tim",
    "Naomi",
    "Stijn",
    "Esther",
    "Youssef",
    "Lieke",
    "Bas",
    "Annemiek",
    "Gert",
]
LAST = [
    "de Vries",
    "Jansen",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "de Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "van Leeuwen",
    "Dekker",
    "Brouwer",
    "de Wit",
    "Dijkstra",
    "Smits",
    "van Dijk",
    "Janssens",
    "Maes",
    "Claes",
    "Willems",
    "Peeters",
    "Yilmaz",
    "El Amrani",
]

NORMAL = {
    "question": [
        "Hoe laat zijn jullie open op zondag in {city}?",
        "Waar blijft mijn pakket? Besteld op maandag, nog steeds niks. Ordernummer {order}",
        "Kan ik een bestelling van de webshop ook in de winkel retourneren?",
        "Is de {product} weer op voorraad? Online staat uitverkocht",
        "Hoe lang duurt terugbetalen na een retour? Al 8 dagen gewacht",
        "Hebben jullie koopavond in {city}?",
        "Kun je bij jullie met een cadeaukaart online betalen?",
    ],
    "complaint": [
        "Al twee weken wachten op mijn pakket en niemand reageert. Echt slecht @voorbeeld",
        "Bezorger heeft mijn pakket gewoon bij de buren over de schutting gegooid. Kapot natuurlijk.",
        "Drie keer gebeld, drie keer een ander verhaal. Waardeloze klantenservice",
        "De {product} was na één week al stuk. Jammer, had meer verwacht van Voorbeeld",
        "Lange rij bij de kassa in {city} en maar één kassa open. Kom op zeg",
    ],
    "praise": [
        "Top geholpen in de winkel in {city}, dank jullie wel!",
        "Mijn {product} is vandaag al bezorgd, super snel 👍",
        "Wat een leuke nieuwe collectie weer @voorbeeld",
        "Complimenten voor de medewerker in {city}, zo vriendelijk",
    ],
    "chat": [
        "Iemand de nieuwe {product} van Voorbeeld al geprobeerd?",
        "Net even langs Voorbeeld geweest voor een {product}",
        "Die rookworst van Voorbeeld blijft toch de beste",
    ],
}
CITIES = [
    "Utrecht",
    "Amsterdam",
    "Gent",
    "Antwerpen",
    "Rotterdam",
    "Zwolle",
    "Eindhoven",
    "Leuven",
    "Groningen",
]
PRODUCTS = ["tompouce", "rookworst", "handdoekenset", "waterfles", "agenda", "koffiezetapparaat", "knuffel"]

ANGRY_OPENERS = [
    "Schaam je, Voorbeeld.",
    "Wat een schande dit.",
    "Walgelijk.",
    "Ongelooflijk dit.",
    "Echt triest, Voorbeeld.",
    "Dit kan echt niet.",
    "Bah.",
    "Wie heeft dit bedacht??",
    "Nou nou Voorbeeld...",
    "Diep teleurgesteld.",
]
ANGRY_BODIES = [
    "Ik kom nooit meer bij jullie",
    "Klantenkaart gaat vandaag de prullenbak in",
    "Boycot Voorbeeld",
    "Haal die campagne offline",
    "Jullie zijn je vaste klanten kwijt",
    "Weg met die reclame",
    "Dertig jaar klant geweest, nu klaar mee",
    "Wie keurt zoiets goed bij jullie",
    "Excuses is wel het minste",
    "Ik zeg mijn account op",
    "Ik koop mijn spullen voortaan ergens anders",
    "Schandalige reclame",
]
CHANTS = [
    "#boycotvoorbeeld",
    "Boycot Voorbeeld!",
    "Schaam je Voorbeeld",
    "Haal die campagne offline #boycotvoorbeeld",
    "Nooit meer Voorbeeld",
]
ANGRY_TAILS = [
    "",
    "",
    "!",
    "!!!",
    " 😡",
    " 🤬🤬",
    " #boycotvoorbeeld",
    " #voorbeeldschande",
    " Zielig.",
    " Nooit meer.",
    " 👎👎",
]
DEFENDERS = [
    "Wat een ophef om niks, ik vind de campagne prima eigenlijk",
    "Laat ze toch, er zijn wel ergere dingen in de wereld",
    "Mensen hebben echt te veel tijd. Ik blijf gewoon bij Voorbeeld kopen",
    "Die medewerkers kunnen hier ook niks aan, doe eens normaal allemaal",
]
THREATS = [
    "Ik weet waar jullie hoofdkantoor zit. Wacht maar.",
    "Die marketingmensen moeten maar eens goed opletten als ze vanavond naar buiten lopen",
    "Ik kom morgen langs in de winkel met een paar vrienden en dan zul je het zien",
    "Als die reclame morgen nog online staat dan steek ik die winkel in de fik",
    "Iemand zou die directeur eens flink moeten aanpakken",
]


def _person(rng: random.Random, n: int) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    handle = f"{first.lower()}{last.split()[-1].lower()}{n % 997}"
    return {
        "id": f"u{n}",
        "handle": handle,
        "name": f"{first} {last}",
        "followers": int(rng.paretovariate(1.2) * 40),
    }


def _fill(rng: random.Random, text: str) -> str:
    return text.format(city=rng.choice(CITIES), product=rng.choice(PRODUCTS), order=rng.randint(10**7, 10**8))


def _hourly_weight(hour: float) -> float:
    """Ordinary traffic over a day (Amsterdam time): quiet at night, peaks around 13:00 and 20:00."""
    return 0.05 + math.exp(-((hour - 13) ** 2) / 18) + 0.7 * math.exp(-((hour - 20.5) ** 2) / 6)


def normal_day(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """`count` ordinary mentions spread over the day, a few of them follow-ups."""
    out: list[dict[str, Any]] = []
    weights = [_hourly_weight(h / 4) for h in range(96)]
    sources = ["x", "x", "facebook", "facebook", "instagram", "review", "forum"]
    for n in range(count):
        quarter = rng.choices(range(96), weights)[0]
        at = DAY + timedelta(minutes=quarter * 15 + rng.random() * 15)
        source = rng.choice(sources)
        kind = rng.choices(list(NORMAL), [4, 3, 2, 1])[0]
        author = _person(rng, 100_000 + n)
        ident = f"n{n:05d}"
        m: dict[str, Any] = {
            "source": source,
            "id": ident,
            "thread_id": f"t{rng.randint(1, 60)}" if source == "facebook" else ident,
            "venue": "third_party" if source in ("review", "forum") else "own",
            "author": author,
            "text": _fill(rng, rng.choice(NORMAL[kind])),
            "created_at": at.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "lang": "nl",
        }
        out.append(m)
        if kind in ("question", "complaint") and rng.random() < 0.15:  # the author writes again
            later = at + timedelta(minutes=rng.uniform(5, 90))
            out.append(
                {
                    **m,
                    "id": ident + "b",
                    "in_reply_to": ident,
                    "created_at": later.isoformat(timespec="seconds").replace("+00:00", "Z"),
                    "text": "Hallo?? Nog steeds geen antwoord.",
                }
            )
    return out


def storm_rate(minute: float, ramp: float = 30.0) -> float:
    """Relative comment rate: a ramp to the peak at `ramp` minutes, then a long decaying tail."""
    if minute < ramp:
        return (minute / ramp) ** 2
    return math.exp(-(minute - ramp) / (ramp * 5 / 6))


def storm(rng: random.Random, count: int, ramp: float = 30.0) -> list[dict[str, Any]]:
    """`count` comments on one Facebook post: many people, mostly angry, a few threats and defenders."""
    start = DAY + STORM_AT
    grid = [storm_rate(s / 60, ramp) for s in range(0, int(ramp * 5 * 60), 10)]  # 10-second slots
    out: list[dict[str, Any]] = [
        {
            "source": "facebook",
            "id": STORM_POST,
            "thread_id": STORM_POST,
            "venue": "own",
            "url": f"https://www.facebook.com/voorbeeld/posts/{STORM_POST}",
            "author": {"id": "page1234", "handle": "voorbeeld", "name": "Voorbeeld"},
            "text": "Onze nieuwe campagne is live! Wat vinden jullie ervan? 🎉",
            "created_at": start.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "lang": "nl",
        }
    ]
    regulars = [_person(rng, 500_000 + i) for i in range(max(1, count // 40))]  # people who write again
    for n in range(count):
        slot = rng.choices(range(len(grid)), grid)[0]
        at = start + timedelta(seconds=30 + slot * 10 + rng.random() * 10)
        author = rng.choice(regulars) if rng.random() < 0.08 else _person(rng, 200_000 + n)
        roll = rng.random()
        if roll < 0.012:
            text = rng.choice(THREATS)
        elif roll < 0.06:
            text = rng.choice(DEFENDERS)
        elif roll < 0.45:  # the chants everyone copies (a storm repeats itself)
            text = rng.choice(CHANTS) + rng.choice(["", "", "!", "!!", " 😡"])
        else:
            text = f"{rng.choice(ANGRY_OPENERS)} {rng.choice(ANGRY_BODIES)}{rng.choice(ANGRY_TAILS)}"
            if rng.random() < 0.15:
                text = text.upper()
        out.append(
            {
                "source": "facebook",
                "id": f"{STORM_POST}_{n:05d}",
                "thread_id": STORM_POST,
                "venue": "own",
                "author": author,
                "text": text,
                "created_at": at.isoformat(timespec="seconds").replace("+00:00", "Z"),
            }
        )
    return out


def generate(
    *, seed: int = 7, storm_size: int = 5000, normal: int = 600, ramp: float = 30.0
) -> list[dict[str, Any]]:
    """The whole export, sorted by created_at."""
    rng = random.Random(seed)
    rows = normal_day(rng, normal) + storm(rng, storm_size, ramp)
    rows.sort(key=lambda m: m["created_at"])
    return rows


def main() -> None:
    """Write the export."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--storm", type=int, default=5000, help="comments in the storm (default 5000)")
    parser.add_argument("--normal", type=int, default=600, help="ordinary mentions over the day (default 600)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("storm.jsonl"))
    args = parser.parse_args()
    rows = generate(seed=args.seed, storm_size=args.storm, normal=args.normal)
    with args.out.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"wrote {len(rows)} mentions to {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()

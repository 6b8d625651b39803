"""Near-duplicate clustering of surge texts (bot.surge.cluster): pure, no database."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.surge.cluster import ClusterConfig, Clusterer, StoredText, cluster_key
from bot.surge.shingles import normalise, shingles

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parent.parent

ANGRY = [
    "Schaam je HEMA, racisme hoort niet in deze tijd",
    "schaam je hema racisme hoort niet in deze tijd 😡😡",
    "@HEMA Schaam je HEMA, racisme hoort niet in deze tijd!!! https://t.co/abc123",
    "SCHAAM JE HEMA, RACISME HOORT NIET IN DEZE TIJD",
    "Schaaaaam je HEMA, rascisme hoort niet in deze tijd",  # stretched, typo
    "Schaam je echt HEMA, racisme hoort gewoon niet in deze tijd 🤬",  # extra words
    "schaam je hema racisme hoort niet in deze tyd",
]
UNRELATED = [
    "Waar blijft mijn pakket? Besteld op maandag",
    "Ik kom nooit meer bij de HEMA, boycot",
    "Goed zo HEMA, eindelijk een winkel die durft te kiezen",
    "Hoe laat gaat het filiaal in Utrecht open op zondag?",
    "Never shopping at HEMA again after this post",
]


def at(i: int) -> datetime:
    return T0 + timedelta(seconds=i)


def test_normalise_drops_noise_and_squeezes_stretched_letters() -> None:
    assert normalise("NEEEEE!!! @hema https://x.co/1 Één 😡 ideeën 2026") == ["nee", "een", "ideeen", "0"]
    assert normalise("😡🤬 👎") == []
    assert shingles(["nee"]) == {"nee", "# nee", "#nee "}  # the word, and 4-grams of " nee "
    long = [f"w{i}" for i in range(50)]
    assert not any(s.startswith("#") for s in shingles(long))  # long texts: word 3-shingles only


def test_variants_of_one_angry_message_cluster_together() -> None:
    c = Clusterer()
    results = [c.assign(text, at=at(i), scope="post-1") for i, text in enumerate(ANGRY)]
    assert len({r.cluster_id for r in results}) == 1
    assert results[0].created and not any(r.created for r in results[1:])
    (cluster,) = c.clusters("post-1")
    assert cluster.count == len(ANGRY) and cluster.sample == ANGRY[0]
    assert (cluster.first_seen, cluster.last_seen) == (at(0), at(len(ANGRY) - 1))
    assert set(cluster.top_words(3)) <= {"schaam", "hema", "racisme", "hoort", "tijd"}
    assert cluster.top_words(1) in (["schaam"], ["hema"], ["racisme"], ["hoort"], ["tijd"])


def test_unrelated_messages_get_their_own_clusters() -> None:
    c = Clusterer()
    ids = [c.assign(text, at=at(i), scope="post-1").cluster_id for i, text in enumerate(ANGRY[:1] + UNRELATED)]
    assert len(set(ids)) == len(ids)


def test_short_texts() -> None:
    c = Clusterer()
    a = c.assign("Neeeee!!!", at=at(0))
    assert c.assign("nee 😡", at=at(1)).cluster_id == a.cluster_id
    assert c.assign("NEE", at=at(2)).cluster_id == a.cluster_id
    assert c.assign("ja", at=at(3)).cluster_id != a.cluster_id
    boycot = c.assign("boycot hema", at=at(4))
    assert c.assign("Boycot HEMA!!", at=at(5)).cluster_id == boycot.cluster_id
    assert boycot.cluster_id != a.cluster_id
    emoji = c.assign("😡😡😡", at=at(6))
    assert c.assign("🤬 https://t.co/x", at=at(7)).cluster_id == emoji.cluster_id  # no words: one cluster


def test_scopes_are_apart() -> None:
    c = Clusterer()
    one = c.assign(ANGRY[0], at=at(0), scope="post-1")
    two = c.assign(ANGRY[1], at=at(1), scope="post-2")
    assert two.created and one.cluster_id != two.cluster_id
    assert c.get(one.cluster_id, "post-1") is not None and c.get(one.cluster_id, "post-2") is None


def test_deterministic_across_processes() -> None:
    texts = ANGRY + UNRELATED + ANGRY[::-1]
    c = Clusterer()
    here = [c.assign(t, at=at(i), scope="p").cluster_id for i, t in enumerate(texts)]
    code = ("import sys, json; from datetime import datetime, UTC, timedelta; "
            "from bot.surge.cluster import Clusterer; c = Clusterer(); "
            "t0 = datetime(2026, 11, 22, 9, tzinfo=UTC); texts = json.load(sys.stdin); "
            "print(json.dumps([c.assign(t, at=t0 + timedelta(seconds=i), scope='p').cluster_id "
            "for i, t in enumerate(texts)]))")
    import json

    for hashseed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", code], input=json.dumps(texts), capture_output=True,
                             text=True, cwd=REPO, env={"PYTHONHASHSEED": hashseed, "PATH": ""}, check=True)
        assert json.loads(out.stdout) == here
    assert here[0] == cluster_key("p", normalise(ANGRY[0]))


def test_eviction_keeps_memory_bounded_and_says_so() -> None:
    c = Clusterer(ClusterConfig(max_clusters=3))
    big = c.assign(ANGRY[0], at=at(0))
    c.assign(ANGRY[1], at=at(1))  # big has 2 texts now
    singles = [c.assign(text, at=at(2 + i)) for i, text in enumerate(UNRELATED[:2])]
    assert all(s.evicted == () for s in singles)
    third = c.assign(UNRELATED[2], at=at(10))
    # full: the least recently seen one-off cluster goes, the two-text cluster stays
    assert third.evicted == (singles[0].cluster_id,)
    assert {x.id for x in c.clusters()} == {big.cluster_id, singles[1].cluster_id, third.cluster_id}
    assert c.evictions == 1 and c.size() == 3
    # an evicted cluster's near-duplicate starts again under the same id (same first words)
    again = c.assign(UNRELATED[0], at=at(11))
    assert again.created and again.cluster_id == singles[0].cluster_id
    assert again.evicted == (singles[1].cluster_id,)


def test_eviction_of_scopes() -> None:
    c = Clusterer(ClusterConfig(max_scopes=2))
    a = c.assign(ANGRY[0], at=at(0), scope="a")
    c.assign(ANGRY[0], at=at(1), scope="b")
    c.assign(ANGRY[1], at=at(2), scope="a")  # a is seen more recently than b
    got = c.assign(ANGRY[0], at=at(3), scope="c")
    assert got.evicted == (cluster_key("b", normalise(ANGRY[0])),)
    assert set(c.scopes()) == {"a", "c"} and c.get(a.cluster_id, "a") is not None


def test_rebuild_from_stored_texts_gives_the_same_state() -> None:
    texts = ANGRY + UNRELATED + ["nee", "NEEEE"]
    live = Clusterer()
    stored = [StoredText(t, at(i), "post-1", live.assign(t, at=at(i), scope="post-1").cluster_id)
              for i, t in enumerate(texts)]
    # replayed with the ids the database holds, or without them: the same clusters
    for items in (stored, [s._replace(cluster_id=None) for s in stored]):
        rebuilt = Clusterer.rebuild(items)
        assert [(x.id, x.count, x.sample) for x in rebuilt.clusters("post-1")] == [
            (x.id, x.count, x.sample) for x in live.clusters("post-1")]
        nxt = "Schaam je HEMA racisme hoort niet in deze tijd!!"
        assert rebuilt.assign(nxt, at=at(99), scope="post-1").cluster_id == stored[0].cluster_id


def test_rebuild_honours_stored_cluster_ids() -> None:
    rebuilt = Clusterer.rebuild([StoredText("iets heel anders", at(0), "p", "c-from-db")])
    assert [x.id for x in rebuilt.clusters("p")] == ["c-from-db"]
    assert rebuilt.assign("iets heel anders!", at=at(1), scope="p").cluster_id == "c-from-db"


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="threshold"):
        ClusterConfig(threshold=0)
    strict = Clusterer(ClusterConfig(threshold=0.95))
    a = strict.assign(ANGRY[0], at=at(0))
    assert strict.assign(ANGRY[5], at=at(1)).cluster_id != a.cluster_id


def test_a_synthetic_storm_collapses_into_few_clusters() -> None:
    """Speed is measured by bench/cluster.py (docs/BENCHMARKS.md), never asserted here."""
    from bench.cluster import storm

    texts = storm(3000, 20, 0.2, seed=3)
    c = Clusterer()
    for i, (text, _) in enumerate(texts):
        c.assign(text, at=at(i), scope="post")
    assert len(c.clusters("post")) < 800

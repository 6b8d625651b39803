"""Near-duplicate clustering of a surge's mentions (MinHash + LSH), pure and in memory.

During a storm thousands of people post the same few messages with small variations (typos, emoji,
an extra word). `Clusterer.assign` puts each text in the cluster of its near-duplicates (estimated
Jaccard similarity of its shingles >= `threshold`) or starts a new one, and returns the cluster's id;
the caller stores that id with the mention, so every mention stays stored, counted and reachable from
its cluster card, whatever happens to this in-memory state.

- **Deterministic.** Shingles are hashed with CRC-32 and permuted with seeded permutations; ties go to
  the oldest cluster. A cluster's id is a hash of its scope and its first text's words, so the same
  stream gives the same ids in every process and after every restart.
- **Bounded.** Each cluster keeps a few exemplar signatures (the first text, plus texts that joined
  with a low similarity, up to `exemplars`), a sample text, counters and its top words (capped).
  Each scope (one post or thread) keeps at most `max_clusters` live clusters and the clusterer at most
  `max_scopes` scopes. When full, the victim is the least recently seen one-off cluster (count 1),
  else the least recently seen cluster; scopes go least recently seen first. Evicted ids are returned
  in `Assignment.evicted`; a later near-duplicate of an evicted cluster starts a new cluster (with the
  same id when it has the same words as the evicted cluster's first text).
- **Rebuildable.** `Clusterer.rebuild` replays stored texts in their stored order; texts stored with
  a cluster id go back to that cluster, so a restart re-seeds the state from the database.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
from datasketch import MinHash, MinHashLSH

from bot.surge.shingles import content_words, normalise, shingles

SAMPLE_CHARS = 280
_SPACE_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class ClusterConfig:
    """How texts are compared and how much is kept."""

    threshold: float = 0.5
    """Estimated Jaccard similarity of shingle sets at which a text joins a cluster."""
    num_perm: int = 64
    seed: int = 1
    max_clusters: int = 500
    """Live clusters per scope."""
    max_scopes: int = 50
    exemplars: int = 4
    """Signatures kept per cluster: its first text plus texts that joined with a low similarity."""
    exemplar_below: float = 0.8
    """A joining text becomes an exemplar (while there is room) when its similarity is below this."""
    short_words: int = 40
    """Texts with fewer words (social posts) also get character 4-grams; long ones word 3-shingles only."""
    top_words: int = 5

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        if self.num_perm < 8 or self.max_clusters < 1 or self.max_scopes < 1 or self.exemplars < 1:
            raise ValueError("num_perm >= 8 and max_clusters, max_scopes, exemplars >= 1")


@dataclass
class Cluster:
    """One group of near-duplicate texts in one scope: what a cluster card shows."""

    id: str
    scope: str
    sample: str
    """The first text (whitespace collapsed, at most 280 characters): a representative."""
    first_seen: datetime
    last_seen: datetime
    count: int = 0
    """Texts assigned while this cluster was live (the database holds the full membership)."""
    serial: int = 0
    words: Counter[str] = field(default_factory=Counter)
    exemplars: list[int] = field(default_factory=list)

    def top_words(self, n: int = 5) -> list[str]:
        """The most frequent content words of the cluster's texts."""
        return [w for w, _ in self.words.most_common(n)]


@dataclass(frozen=True)
class Assignment:
    """Where a text went."""

    cluster_id: str
    created: bool
    similarity: float
    """Estimated Jaccard similarity to the closest exemplar (1.0 for a new cluster)."""
    count: int
    evicted: tuple[str, ...] = ()
    """Clusters dropped from memory to make room (their cards can be finalised)."""


class StoredText(NamedTuple):
    """A stored mention's text, as `Clusterer.rebuild` reads it back."""

    text: str
    at: datetime
    scope: str = ""
    cluster_id: str | None = None


@dataclass
class _Scope:
    name: str
    lsh: MinHashLSH
    last_seen: datetime
    clusters: dict[str, Cluster] = field(default_factory=dict)


@lru_cache(maxsize=16)
def _lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """Bands and rows for the threshold (datasketch's optimiser integrates; do it once)."""
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return lsh.b, lsh.r


def _crc32(data: bytes) -> int:
    return zlib.crc32(data)


def cluster_key(scope: str, words: list[str]) -> str:
    """The id of a cluster whose first text has these words (stable across processes)."""
    digest = hashlib.blake2b(f"{scope}\x1f{' '.join(words)}".encode(), digest_size=8).hexdigest()
    return f"c{digest}"


class Clusterer:
    """Assign texts to near-duplicate clusters, per scope (e.g. one post), in bounded memory."""

    def __init__(self, config: ClusterConfig | None = None) -> None:
        self.config = cfg = config or ClusterConfig()
        self._perms = MinHash(num_perm=cfg.num_perm, seed=cfg.seed).permutations
        self._params = _lsh_params(cfg.threshold, cfg.num_perm)
        self._scopes: dict[str, _Scope] = {}
        self._signatures: dict[int, tuple[str, Any]] = {}
        self._serial = 0
        self._next_key = 0
        self.evictions = 0

    # --- reading ------------------------------------------------------------------------------

    def clusters(self, scope: str = "") -> list[Cluster]:
        """The scope's live clusters, biggest first (ties: oldest first)."""
        found = self._scopes.get(scope)
        if found is None:
            return []
        return sorted(found.clusters.values(), key=lambda c: (-c.count, c.serial))

    def get(self, cluster_id: str, scope: str = "") -> Cluster | None:
        """A live cluster by id."""
        found = self._scopes.get(scope)
        return found.clusters.get(cluster_id) if found else None

    def scopes(self) -> list[str]:
        """Scopes with live clusters."""
        return list(self._scopes)

    def size(self) -> int:
        """Live clusters over all scopes."""
        return sum(len(s.clusters) for s in self._scopes.values())

    # --- writing ------------------------------------------------------------------------------

    def signature(self, words: list[str]) -> MinHash:
        """The MinHash of a normalised text's shingles."""
        mh = MinHash(num_perm=self.config.num_perm, seed=self.config.seed, hashfunc=_crc32,
                     permutations=self._perms, scheme="affine32")
        mh.update_batch(s.encode() for s in shingles(words, short=self.config.short_words))
        return mh

    def assign(self, text: str, *, at: datetime, scope: str = "",
               cluster_id: str | None = None) -> Assignment:
        """Put a text in its near-duplicates' cluster or a new one; `cluster_id` forces the cluster."""
        words = normalise(text)
        evicted: list[str] = []
        state = self._scope(scope, at, evicted)
        state.last_seen = max(state.last_seen, at)
        if not words:  # emoji, links or handles only: one cluster per scope
            cluster_id = cluster_id or cluster_key(scope, [])
        mh = self.signature(words) if words else None
        best, similarity = (None, 0.0) if cluster_id or mh is None else self._closest(state, mh)
        if cluster_id is not None:
            best, similarity = state.clusters.get(cluster_id), 1.0
        created = best is None
        if best is None:
            best = self._create(state, cluster_id or cluster_key(scope, words), text, at, evicted)
            similarity = 1.0
        if mh is not None and len(best.exemplars) < self.config.exemplars and (
                created or similarity < self.config.exemplar_below):
            self._add_exemplar(state, best, mh)
        best.count += 1
        best.first_seen, best.last_seen = min(best.first_seen, at), max(best.last_seen, at)
        best.words.update(set(content_words(words)))
        if len(best.words) > 16 * self.config.top_words:
            best.words = Counter(dict(best.words.most_common(4 * self.config.top_words)))
        return Assignment(best.id, created, round(similarity, 3), best.count, tuple(evicted))

    def forget(self, scope: str) -> list[str]:
        """Drop a scope's clusters (its surge is over); return their ids."""
        state = self._scopes.pop(scope, None)
        if state is None:
            return []
        for cluster in state.clusters.values():
            for key in cluster.exemplars:
                self._signatures.pop(key, None)
        return list(state.clusters)

    @classmethod
    def rebuild(cls, items: Iterable[StoredText], config: ClusterConfig | None = None) -> Clusterer:
        """A clusterer re-seeded from stored texts, in stored order (e.g. ORDER BY mentions.id)."""
        clusterer = cls(config)
        for item in items:
            clusterer.assign(item.text, at=item.at, scope=item.scope, cluster_id=item.cluster_id)
        return clusterer

    # --- internals ----------------------------------------------------------------------------

    def _scope(self, scope: str, at: datetime, evicted: list[str]) -> _Scope:
        state = self._scopes.get(scope)
        if state is not None:
            return state
        if len(self._scopes) >= self.config.max_scopes:
            oldest = min(self._scopes, key=lambda k: self._scopes[k].last_seen)
            gone = self.forget(oldest)
            self.evictions += len(gone)
            evicted.extend(gone)
        state = self._scopes[scope] = _Scope(name=scope, lsh=MinHashLSH(num_perm=self.config.num_perm,
                                                            params=self._params), last_seen=at)
        return state

    def _closest(self, state: _Scope, mh: MinHash) -> tuple[Cluster | None, float]:
        best: Cluster | None = None
        best_sim = 0.0
        values = mh.hashvalues
        for key in state.lsh.query(mh):
            cid, other = self._signatures[key]
            sim = float(np.count_nonzero(values == other)) / len(values)
            cluster = state.clusters[cid]
            if sim > best_sim or (sim == best_sim and best is not None and cluster.serial < best.serial):
                best, best_sim = cluster, sim
        if best is None or best_sim < self.config.threshold:
            return None, best_sim
        return best, best_sim

    def _create(self, state: _Scope, cid: str, text: str, at: datetime, evicted: list[str]) -> Cluster:
        if len(state.clusters) >= self.config.max_clusters:
            victim = min(state.clusters.values(), key=lambda c: (c.count > 1, c.last_seen, c.serial))
            self._drop(state, victim)
            evicted.append(victim.id)
        self._serial += 1
        sample = _SPACE_RE.sub(" ", text).strip()[:SAMPLE_CHARS]
        cluster = state.clusters[cid] = Cluster(id=cid, scope=state.name, sample=sample, first_seen=at,
                                                last_seen=at, serial=self._serial)
        return cluster

    def _add_exemplar(self, state: _Scope, cluster: Cluster, mh: MinHash) -> None:
        key = self._next_key
        self._next_key += 1
        state.lsh.insert(key, mh, check_duplication=False)
        self._signatures[key] = (cluster.id, mh.hashvalues)
        cluster.exemplars.append(key)

    def _drop(self, state: _Scope, cluster: Cluster) -> None:
        for key in cluster.exemplars:
            state.lsh.remove(key)
            self._signatures.pop(key, None)
        del state.clusters[cluster.id]
        self.evictions += 1


__all__ = ["Assignment", "Cluster", "ClusterConfig", "Clusterer", "StoredText", "cluster_key"]

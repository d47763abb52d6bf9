"""Procedural research worlds: a seeded knowledge graph of fictional entities with typed relations and dated
attributes. Fictional names make every task contamination-free: no model can answer from memory.

`World.generate(seed, …)` is deterministic for a seed, its knobs and `WORLD_VERSION`; `World.generate_packed(seed,
path, …)` draws the same graph into a file, an entity at a time (`PackedEntities`).
"""

from __future__ import annotations

import contextlib
import itertools
import marshal
import math
import os
import random
import struct
import sys
import tempfile
import weakref
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from drgym.errors import ConfigError

__all__ = ["ATTRIBUTES", "Attribute", "Entity", "KINDS", "PackedEntities", "RELATIONS", "Relation", "World",
           "WORLD_VERSION", "format_value", "world_from_dict", "world_to_dict"]

WORLD_VERSION = 2
"""Bump when generation changes, so cached worlds are rebuilt."""

KINDS = ("organisation", "person", "place", "product", "compound", "regulation", "event")
# Shares of each kind among a world's entities.
_KIND_SHARES = {"organisation": 0.22, "person": 0.2, "place": 0.12, "product": 0.16, "compound": 0.1,
                "regulation": 0.1, "event": 0.1}


@dataclass(frozen=True)
class Attribute:
    """A numeric or categorical property of an entity kind."""

    key: str
    label: str
    """How text names it: 'annual revenue'."""
    unit: str
    """Written after the value: 'USD million'; '' for none."""
    lo: float
    hi: float
    decimals: int = 0
    dated: bool = False
    """True: a history of dated values (the latest is current); False: one fixed value."""
    deep: bool = False
    """True: stated only on the entity's archive page, one link away from its registry entry."""

    @property
    def is_year(self) -> bool:
        return self.unit == "" and self.decimals == 0


@dataclass(frozen=True)
class Relation:
    """A functional relation: each subject has exactly one object of `target` kind."""

    key: str
    source: str
    target: str
    phrase: str
    """Noun phrase for the object, given the subject: 'the company that makes {x}'."""
    sentence: str
    """A sentence stating the fact: '{s} is made by {o}.'"""


ATTRIBUTES: dict[str, tuple[Attribute, ...]] = {
    "organisation": (
        Attribute("employees", "workforce", "employees", 80, 90_000, dated=True),
        Attribute("revenue_musd", "annual revenue", "USD million", 5, 25_000, decimals=1, dated=True),
        Attribute("founded", "founding year", "", 1890, 2015, deep=True),
    ),
    "person": (Attribute("born", "year of birth", "", 1940, 1995, deep=True),),
    "place": (
        Attribute("population", "population", "inhabitants", 4_000, 3_500_000, dated=True),
        Attribute("area_km2", "land area", "km²", 12, 4_000, decimals=1, deep=True),
    ),
    "product": (
        Attribute("unit_price_usd", "unit price", "USD", 9, 40_000, decimals=2, dated=True),
        Attribute("launch_year", "launch year", "", 1995, 2023, deep=True),
    ),
    "compound": (
        Attribute("melting_point_c", "melting point", "°C", -120, 1_800, decimals=1),
        Attribute("molar_mass", "molar mass", "g/mol", 30, 900, decimals=2, deep=True),
    ),
    "regulation": (
        Attribute("max_fine_musd", "maximum fine", "USD million", 0.5, 900, decimals=1, dated=True),
        Attribute("enacted", "year of enactment", "", 1960, 2023, deep=True),
    ),
    "event": (
        Attribute("attendance", "attendance", "attendees", 300, 250_000),
        Attribute("first_held", "year first held", "", 1950, 2020, deep=True),
    ),
}

RELATIONS: tuple[Relation, ...] = (
    Relation("headquarters", "organisation", "place", "the city where {x} is headquartered",
             "{s} is headquartered in {o}."),
    Relation("ceo", "organisation", "person", "the chief executive of {x}", "{o} is the chief executive of {s}."),
    Relation("birthplace", "person", "place", "the birthplace of {x}", "{s} was born in {o}."),
    Relation("employer", "person", "organisation", "the employer of {x}", "{s} works for {o}."),
    Relation("mayor", "place", "person", "the mayor of {x}", "{o} is the mayor of {s}."),
    Relation("maker", "product", "organisation", "the company that makes {x}", "{s} is made by {o}."),
    Relation("key_compound", "product", "compound", "the key compound in {x}", "The key compound in {s} is {o}."),
    Relation("discoverer", "compound", "person", "the person who first synthesised {x}",
             "{s} was first synthesised by {o}."),
    Relation("issuer", "regulation", "organisation", "the body that issued {x}", "{s} was issued by {o}."),
    Relation("regulates", "regulation", "compound", "the compound regulated by {x}", "{s} regulates the use of {o}."),
    Relation("host_city", "event", "place", "the city that hosts {x}", "{s} is held in {o}."),
    Relation("organiser", "event", "organisation", "the organiser of {x}", "{s} is organised by {o}."),
)
RELATIONS_BY_SOURCE: dict[str, tuple[Relation, ...]] = {
    kind: tuple(r for r in RELATIONS if r.source == kind) for kind in KINDS}
RELATION_BY_KEY = {r.key: r for r in RELATIONS}

SECTORS = ("battery storage", "aquaculture", "precision optics", "freight logistics", "biopolymers",
           "satellite services", "water treatment", "agritech", "medical imaging", "textile recycling")

_ONSETS = ("b", "br", "c", "d", "dr", "f", "g", "gr", "h", "k", "kl", "l", "m", "n", "p", "pr", "r", "s", "st",
           "t", "tr", "v", "w", "z", "th", "sh", "qu")
_VOWELS = ("a", "e", "i", "o", "u", "a", "e", "o", "ei", "ou")
_CODAS = ("", "", "n", "r", "l", "s", "th", "nd", "rk", "x", "m", "lt", "v")
_ORG_SUFFIXES = ("Dynamics", "Holdings", "Laboratories", "Works", "Systems", "Group", "Industries", "Collective",
                 "Partners", "Institute")
_PLACE_SUFFIXES = ("ford", "haven", "mere", "stad", "ville", "burg", "port", "dale", "ria", "ton")
_COMPOUND_SUFFIXES = ("ine", "ate", "ol", "ide", "ene", "ium", "ane")
_PRODUCT_LINES = ("X", "Pro", "Mini", "Max", "S", "Neo", "Air", "Flux")
_EVENT_KINDS = ("Summit", "Expo", "Festival", "Forum", "Congress", "Biennale")
_REGULATION_KINDS = ("Safety Act", "Emissions Directive", "Handling Code", "Import Standard", "Labelling Rule")


_ATTRIBUTE_KEYS = {kind: tuple(a.key for a in attributes) for kind, attributes in ATTRIBUTES.items()}
_RELATION_KEYS = {kind: tuple(r.key for r in relations) for kind, relations in RELATIONS_BY_SOURCE.items()}
_POINT_CODECS = tuple(struct.Struct(f"<{n}h{n}d") for n in range(16))
"""Codecs of a history of n points (n 16-bit years, then n floats). Made with the module, not on first use: an
object made while a graph is built and kept after it holds a memory pool of the graph's, which Python then cannot
give back."""


def _shared(keys: tuple[str, ...], known: tuple[str, ...]) -> tuple[str, ...]:
    """`known` (one tuple every entity of a kind shares) when `keys` equals it, else `keys`."""
    return known if keys == known else keys


def _with_relation(kind: str, keys: tuple[str, ...], objects: tuple[str, ...], key: str,
                   object_id: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """An entity's relation keys and objects once `object_id` is the object of relation `key` (`Entity.set_relation`)."""
    key_list, object_list = list(keys), list(objects)
    if key in key_list:
        object_list[key_list.index(key)] = object_id
    else:
        key_list.append(key)
        object_list.append(object_id)
    return _shared(tuple(key_list), _RELATION_KEYS.get(kind, ())), tuple(object_list)


def _with_history(history: tuple, key: str, holders: Iterable[tuple[int, str]]) -> tuple:
    """An entity's relation history once `holders` are those of relation `key` (`Entity.set_relation_history`)."""
    by_key = dict(history)
    by_key[key] = tuple((int(start), object_id) for start, object_id in holders)
    return tuple(by_key.items())


def _point_codec(n_points: int) -> struct.Struct:
    return _POINT_CODECS[n_points] if n_points < len(_POINT_CODECS) else struct.Struct(f"<{n_points}h{n_points}d")


class Entity:
    """An entity of the graph: what `World.generate` draws, held compactly.

    A world holds one per ~4.6 pages (48k at 200k pages). The attribute histories are packed into one bytes
    object (a 16-bit year and a float per point), the relations into a tuple of object ids, and the keys of both
    are tuples that the entities of a kind share; `attributes`, `relations` and `relation_history` give them back
    as dicts, built on each read. This takes ~0.44 KiB an entity, where a dataclass of dicts, lists and tuples took
    1.3 KiB. An entity is changed only through `set_relation` and `set_relation_history`.
    """

    __slots__ = ("id", "kind", "name", "category", "twin_of", "_aliases", "_attribute_keys", "_points",
                 "_relation_keys", "_objects", "_history")

    def __init__(self, id: str, kind: str, name: str, aliases: Sequence[str],
                 attributes: Mapping[str, Sequence[tuple[int, float]]], relations: Mapping[str, str] | None = None,
                 category: str = "", twin_of: str = "",
                 relation_history: Mapping[str, Sequence[tuple[int, str]]] | None = None) -> None:
        self.id = id
        self.kind = sys.intern(kind)
        self.name = name
        self.category = sys.intern(category)
        """Organisations: sector."""
        self.twin_of = twin_of
        """Id of the entity whose near-identical name this one carries (a distractor), or ''."""
        self._aliases = tuple(aliases)
        self._attribute_keys = _shared(tuple(attributes), _ATTRIBUTE_KEYS.get(kind, ()))
        # the points: one byte per attribute (its history's length), then every year, then every value
        years = [year for history in attributes.values() for year, _ in history]
        values = [value for history in attributes.values() for _, value in history]
        try:
            counts = bytes(len(history) for history in attributes.values())
            self._points = counts + _point_codec(len(years)).pack(*years, *values)
        except (ValueError, struct.error) as e:
            raise ConfigError(f"entity {id!r}: an attribute history holds at most 255 points, each a year in "
                              f"[-32768, 32767] and a number; got {dict(attributes)!r} ({e})") from e
        relations = relations or {}
        self._relation_keys = _shared(tuple(relations), _RELATION_KEYS.get(kind, ()))
        self._objects = tuple(relations.values())
        self._history: tuple[tuple[str, tuple[tuple[int, str], ...]], ...] = ()
        for key, holders in (relation_history or {}).items():
            self.set_relation_history(key, holders)

    @property
    def aliases(self) -> list[str]:
        return list(self._aliases)

    @property
    def names(self) -> list[str]:
        return [self.name, *self._aliases]

    @property
    def attributes(self) -> dict[str, list[tuple[int, float]]]:
        """Attribute key → history of (year, value), oldest first; fixed attributes have one entry."""
        keys, points = self._attribute_keys, self._points
        counts = points[:len(keys)]
        total = sum(counts)
        numbers = _point_codec(total).unpack_from(points, len(keys))
        start, attributes = 0, {}
        for key, count in zip(keys, counts):
            attributes[key] = list(zip(numbers[start:start + count], numbers[total + start:total + start + count]))
            start += count
        return attributes

    @property
    def relations(self) -> dict[str, str]:
        """Relation key → object entity id."""
        return dict(zip(self._relation_keys, self._objects))

    def relation(self, key: str) -> str:
        """The object id of relation `key` (``relations[key]`` without building the dict); KeyError if none."""
        try:
            return self._objects[self._relation_keys.index(key)]
        except ValueError:
            raise KeyError(key) from None

    @property
    def relation_history(self) -> dict[str, list[tuple[int, str]]]:
        """Relation key → the holders over time as (first year, object id), oldest first; the last is the current
        object (``relations[key]``). The first holder's year is 0: held since before the records. Only relations
        that changed are listed."""
        return {key: list(holders) for key, holders in self._history}

    def set_relation(self, key: str, object_id: str) -> None:
        """Makes `object_id` the object of relation `key` (added after the others if the entity has none yet)."""
        self._relation_keys, self._objects = _with_relation(self.kind, self._relation_keys, self._objects, key,
                                                            object_id)

    def set_relation_history(self, key: str, holders: Iterable[tuple[int, str]]) -> None:
        """Records the holders of relation `key` over time (see `relation_history`)."""
        self._history = _with_history(self._history, key, holders)

    def current(self, key: str) -> tuple[int, float]:
        return self.attributes[key][-1]

    def value_as_of(self, key: str, year: int) -> tuple[int, float] | None:
        """The latest (year, value) of a dated attribute reported in or before `year`; None if none was."""
        reported = [point for point in self.attributes[key] if point[0] <= year]
        return reported[-1] if reported else None

    def relation_as_of(self, key: str, year: int) -> str:
        """The object id of relation `key` during `year` (the holder who took over in that year, if it changed)."""
        holder = self.relations[key]
        for start, object_id in self.relation_history.get(key, ()):
            if start <= year:
                holder = object_id
        return holder

    def _fields(self) -> tuple:
        return (self.id, self.kind, self.name, self.aliases, self.attributes, self.relations, self.category,
                self.twin_of, self.relation_history)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Entity):
            return NotImplemented
        return self.id == other.id and self._fields() == other._fields()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]  # mutable (set_relation), compared by value, as the dataclass was

    def __repr__(self) -> str:
        names = ("id", "kind", "name", "aliases", "attributes", "relations", "category", "twin_of", "relation_history")
        return f"Entity({', '.join(f'{name}={value!r}' for name, value in zip(names, self._fields()))})"


_KEPT_ENTITIES = 1 << 12
"""How many entities a `PackedEntities` keeps once read (then it forgets them all, and keeps reading): ~2 MiB at
most, the whole graph of a world of up to ~19k pages, whose task families scan it many times."""


class _PackedEntity(Entity):
    """An entity of a `PackedEntities`, read-only, made when it is first looked up or iterated (and kept a while:
    `_KEPT_ENTITIES`). It is made with its kind and its store only (and ``twin_of`` when it is no twin), which is what
    scans over a world's entities mostly test; the rest is read from its record the first time any of it is asked
    for (`__getattr__`), into `Entity`'s slots."""

    __slots__ = ("_store", "_number")

    def __getattr__(self, name: str) -> object:
        if name in ("_store", "_number"):  # not made through PackedEntities (e.g. copy.copy): no store to read
            raise AttributeError(name)
        (self.id, self.name, self.category, self.twin_of, self._aliases, attribute_keys, self._points, relation_keys,
         self._objects, self._history) = self._store._record(self._number)
        self._attribute_keys, self._relation_keys = self._store._keys[attribute_keys], self._store._keys[relation_keys]
        if self._store._ids:  # the store's own string of the id, not the record's copy
            self.id = self._store._ids[self._number]
        return object.__getattribute__(self, name)

    def set_relation(self, key: str, object_id: str) -> None:
        raise TypeError(f"entity {self.id!r} belongs to a packed world, which is read-only: change the entities "
                        "before they are packed (`PackedEntities`), or copy them into a dict of `Entity`")

    def set_relation_history(self, key: str, holders: Iterable[tuple[int, str]]) -> None:
        self.set_relation(key, "")

    def __reduce__(self) -> tuple:  # pickled as a plain entity, without the whole store
        return (Entity, (self.id, self.kind, self.name, self.aliases, self.attributes, self.relations, self.category,
                         self.twin_of, self.relation_history))


class PackedEntities(Mapping[str, Entity]):
    """A world's entities by id, in a file: what `ProceduralWorld.build` holds the graph as while it renders and
    synthesises (`World.packed`), read-only.

    Each entity is one `marshal` record in the file, read with `os.pread` when the entity is looked up or iterated
    (`_PackedEntity`); memory holds where each record ends, each entity's kind and whether it is a twin (one byte
    each), and the ids with their numbers, read back from the file as one record on the first look-up: ~120 bytes
    an entity, 6 MiB at 200k pages where a dict of `Entity` takes 20. The ids are made together, after the entities
    they were written from are freed, so that what keeps them (`canonical`) does not keep Python's memory pools of
    the objects made between them. The order is the entities' order when packed. `close` closes the file; the store
    is unusable after it.
    """

    def __init__(self, path: str | os.PathLike[str], entities: Iterable[Entity]) -> None:
        ends, kinds, twins, ids = array("Q"), bytearray(), bytearray(), []
        key_codes: dict[tuple[str, ...], int] = {}
        seen: set[str] = set()
        with open(path, "wb") as out:
            size = 0
            for entity in entities:
                if entity.id in seen:
                    raise ConfigError(f"entity id {entity.id!r} is given twice: a world's entity ids are unique")
                seen.add(entity.id)
                ids.append(entity.id)
                attribute_keys, relation_keys = entity._attribute_keys, entity._relation_keys
                record = marshal.dumps((entity.id, entity.name, entity.category, entity.twin_of, entity._aliases,
                                        key_codes.setdefault(attribute_keys, len(key_codes)), entity._points,
                                        key_codes.setdefault(relation_keys, len(key_codes)), entity._objects,
                                        entity._history))
                out.write(record)
                size += len(record)
                ends.append(size)
                kinds.append(KINDS.index(entity.kind))
                twins.append(1 if entity.twin_of else 0)
            del seen
            ids_record = marshal.dumps(ids)
            del ids
            out.write(ids_record)
        self._ids_at = (size, len(ids_record))
        del ids_record
        self._ends = ends
        self._kinds = bytes(kinds)
        self._twins = bytes(twins)
        self._keys = tuple(key_codes)
        self._file = open(path, "rb")  # noqa: SIM115  # held until `close`, or closed when the store is freed
        self._close_file = weakref.finalize(self, self._file.close)
        self._kept: dict[int, _PackedEntity] = {}
        self._numbers: dict[str, int] | None = None
        self._ids: list[str] = []

    def close(self) -> None:
        self._close_file()
        self._kept.clear()
        self._numbers, self._ids = None, []

    def _record(self, number: int) -> tuple:
        start = self._ends[number - 1] if number else 0
        return marshal.loads(os.pread(self._file.fileno(), self._ends[number] - start, start))

    def _numbers_by_id(self) -> dict[str, int]:
        if self._numbers is None:
            start, length = self._ids_at
            self._ids = marshal.loads(os.pread(self._file.fileno(), length, start))
            self._numbers = {entity_id: number for number, entity_id in enumerate(self._ids)}
        return self._numbers

    def read_ids(self) -> None:
        """Reads the ids from the file now; otherwise the first look-up does."""
        self._numbers_by_id()

    def plain(self, number: int) -> Entity:
        """The entity numbered `number`, read from its record as a plain `Entity` (its own, changeable)."""
        entity = Entity.__new__(Entity)
        (entity.id, entity.name, category, entity.twin_of, entity._aliases, attribute_keys, entity._points,
         relation_keys, entity._objects, entity._history) = self._record(number)
        entity.kind, entity.category = KINDS[self._kinds[number]], sys.intern(category)
        entity._attribute_keys, entity._relation_keys = self._keys[attribute_keys], self._keys[relation_keys]
        return entity

    @property
    def numbers(self) -> Mapping[str, int]:
        """Each entity's number (its place in the store) by id, in that order: the store's own table, not a copy."""
        return self._numbers_by_id()

    def _find(self, entity_id: object) -> int:
        """The number of the entity `entity_id`, or -1."""
        if not isinstance(entity_id, str):
            return -1
        return self._numbers_by_id().get(entity_id, -1)

    def canonical(self, entity_id: str) -> str:
        """This store's own string of the id `entity_id` (equal to it), or `entity_id` if no entity has it: a table
        keyed by ids that outlives the strings it is given keeps these instead."""
        number = self._numbers_by_id().get(entity_id)
        return entity_id if number is None else self._ids[number]

    def _entity(self, number: int) -> _PackedEntity:
        entity = self._kept.get(number)
        if entity is None:
            entity = _PackedEntity.__new__(_PackedEntity)
            entity._store, entity._number, entity.kind = self, number, KINDS[self._kinds[number]]
            if not self._twins[number]:
                entity.twin_of = ""
            if len(self._kept) >= _KEPT_ENTITIES:
                self._kept.clear()
            self._kept[number] = entity
        return entity

    def __getitem__(self, entity_id: str) -> Entity:
        number = self._find(entity_id)
        if number < 0:
            raise KeyError(entity_id)
        return self._entity(number)

    def __contains__(self, entity_id: object) -> bool:
        return self._find(entity_id) >= 0

    def __len__(self) -> int:
        return len(self._kinds)

    def __iter__(self) -> Iterator[str]:
        self._numbers_by_id()
        return iter(self._ids)

    def values(self) -> Iterator[Entity]:  # type: ignore[override]
        return (self._entity(number) for number in range(len(self._kinds)))

    def items(self) -> Iterator[tuple[str, Entity]]:  # type: ignore[override]
        return ((entity.id, entity) for entity in self.values())

    def of_kind(self, kind: str) -> list[Entity]:
        """The entities of `kind`, in order, read without looking at the others."""
        code, kinds = KINDS.index(kind), self._kinds
        return [self._entity(number) for number in range(len(kinds)) if kinds[number] == code]

    def __repr__(self) -> str:
        return f"PackedEntities({len(self)} entities)"


@dataclass
class World:
    """A generated knowledge graph; render it with `drgym.tasks.render.render_world`."""

    seed: int
    entities: Mapping[str, Entity]
    """By id: a dict of `Entity`, or `PackedEntities` (read-only, in a file: `packed`)."""
    knobs: dict[str, float]
    _ids_of_kind: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False, compare=False)
    _named: dict[str, str | None] = field(default_factory=dict, init=False, repr=False, compare=False)

    def named(self, name: str) -> Entity | None:
        """The first entity (in the graph's order) called `name`, or None; each name is looked for once."""
        if name not in self._named:
            self._named[name] = next((e.id for e in self.entities.values() if e.name == name), None)
        entity_id = self._named[name]
        return None if entity_id is None else self.entities[entity_id]

    def by_kind(self, kind: str) -> list[Entity]:
        if isinstance(self.entities, PackedEntities):
            return self.entities.of_kind(kind)
        return [e for e in self.entities.values() if e.kind == kind]

    def ids_of_kind(self, kind: str) -> list[str]:
        """The ids of the entities of `kind` that are no twins, in order; worked out once per kind (the world is
        complete: `generate` and `world_from_dict` make it whole)."""
        return self._ids_where(kind, lambda entity_kind: entity_kind == kind)

    def chain_start_ids(self) -> list[str]:
        """The ids of the entities that are no twins and whose kind has relations (where a chain of hops can
        start), in order; worked out once."""
        return self._ids_where("", lambda entity_kind: bool(RELATIONS_BY_SOURCE[entity_kind]))

    def _ids_where(self, name: str, kind_test: Callable[[str], bool]) -> list[str]:
        """The ids of the entities that are no twins and whose kind passes `kind_test`, in order, kept under `name`
        ("" for chain starts, else a kind)."""
        if name not in self._ids_of_kind:
            self._ids_of_kind[name] = [e.id for e in self.entities.values() if not e.twin_of and kind_test(e.kind)]
        return self._ids_of_kind[name]

    def target(self, entity: Entity, relation_key: str) -> Entity:
        return self.entities[entity.relation(relation_key)]

    def packed(self, path: str | os.PathLike[str]) -> World:
        """This world with its entities written to the file `path` and read from it (`PackedEntities`): what a large
        world's build holds while it renders and synthesises. Close it with ``world.entities.close()``."""
        return World(seed=self.seed, entities=PackedEntities(path, self.entities.values()), knobs=dict(self.knobs))

    @classmethod
    def generate(cls, seed: int, *, n_entities: int = 400, distractor_rate: float = 0.1,
                 relation_change_rate: float = 0.0) -> World:
        """A world of `n_entities` fictional entities (at least 7: one of each kind) plus distractor twins.

        Args:
            seed: everything follows from it.
            n_entities: entities before twins.
            distractor_rate: share of entities that get a twin with a near-identical name and other values.
            relation_change_rate: share of companies whose chief executive changed, and (half as many) whose
                headquarters moved, once or twice since 2008 (`Entity.relation_history`). Drawn from a stream of
                its own: the rest of the world is the same at any rate.

        The graph is drawn as `generate_packed` draws it, into a temporary file, and read back as a dict of `Entity`.
        """
        with tempfile.TemporaryDirectory(prefix="drgym-graph-") as folder:
            packed = cls.generate_packed(seed, os.path.join(folder, "graph.bin"), n_entities=n_entities,
                                         distractor_rate=distractor_rate, relation_change_rate=relation_change_rate)
            store = packed.entities
            assert isinstance(store, PackedEntities)
            try:
                entities = {entity.id: entity for entity in map(store.plain, range(len(store)))}
            finally:
                store.close()
        return cls(seed=seed, entities=entities, knobs=packed.knobs)

    @classmethod
    def generate_packed(cls, seed: int, path: str | os.PathLike[str], *, n_entities: int = 400,
                        distractor_rate: float = 0.1, relation_change_rate: float = 0.0) -> World:
        """The world `generate` describes, in the file `path` (`PackedEntities`), without the graph in memory: each entity
        is written as it is drawn (to ``<path>.draft``, its twins to ``<path>.twins``, both deleted), and memory holds
        the relations as tuples of ids until the entities are written again with them. At 500k pages the dict of
        `Entity` took ~0.13 KiB a page. Close it with ``world.entities.close()``."""
        rng = random.Random(f"drgym-world-{WORLD_VERSION}-{seed}")
        n_entities = max(n_entities, len(KINDS))
        names: set[str] = set()
        drafts = [f"{os.fspath(path)}.draft", f"{os.fspath(path)}.twins"]
        stores: list[PackedEntities] = []
        try:
            draft = PackedEntities(drafts[0], _drawn_entities(rng, n_entities, names))
            stores.append(draft)
            ids, kinds = list(draft), [KINDS[code] for code in draft._kinds]
            numbers = draft.numbers
            by_kind = {kind: [i for i, k in zip(ids, kinds) if k == kind] for kind in KINDS}
            relation_keys: list[tuple[str, ...]] = []
            objects: list[tuple[str, ...]] = []
            for kind, pairs in zip(kinds, _drawn_relations(rng, zip(ids, kinds), by_kind)):
                keys = _shared((), _RELATION_KEYS.get(kind, ()))
                targets: tuple[str, ...] = ()
                for key, target in pairs:
                    keys, targets = _with_relation(kind, keys, targets, key, target)
                relation_keys.append(keys)
                objects.append(targets)
            del by_kind
            for person_id, organisation_id in _employers(
                    (i, targets[keys.index("ceo")]) for i, k, keys, targets in zip(ids, kinds, relation_keys, objects)
                    if k == "organisation"):
                number = numbers[person_id]
                relation_keys[number], objects[number] = _with_relation(
                    "person", relation_keys[number], objects[number], "employer", organisation_id)

            def drawn_twins() -> Iterator[Entity]:
                for number in range(len(ids)):
                    if rng.random() < distractor_rate:
                        entity = draft.plain(number)
                        entity._relation_keys, entity._objects = relation_keys[number], objects[number]
                        yield _twin(rng, entity, names)

            twins = PackedEntities(drafts[1], drawn_twins())
            stores.append(twins)
            names.clear()
            histories: dict[int, tuple] = {}
            if relation_change_rate > 0:
                twin_relations = ((t._relation_keys, t._objects) for t in twins.values())
                changes = _relation_changes(
                    random.Random(f"drgym-relation-changes-{seed}"), relation_change_rate,
                    people=sorted(i for i, k in zip(ids, kinds) if k == "person"),
                    places=sorted(i for i, k in zip(ids, kinds) if k == "place"),
                    in_office={targets[keys.index(k)]
                               for keys, targets in itertools.chain(zip(relation_keys, objects), twin_relations)
                               for k in ("ceo", "mayor") if k in keys},
                    organisations=((i, int(draft.plain(n).attributes["founded"][0][1]),
                                    dict(zip(relation_keys[n], objects[n])))
                                   for n, (i, k) in enumerate(zip(ids, kinds)) if k == "organisation"))
                for entity_id, key, holders in changes:
                    number = numbers[entity_id]
                    histories[number] = _with_history(histories.get(number, ()), key, holders)

            def entities() -> Iterator[Entity]:
                for number in range(len(ids)):
                    entity = draft.plain(number)
                    entity._relation_keys, entity._objects = relation_keys[number], objects[number]
                    entity._history = histories.get(number, ())
                    yield entity
                for number in range(len(twins)):
                    yield twins.plain(number)

            packed = PackedEntities(path, entities())
        finally:
            for store in stores:
                store.close()
            for draft_path in drafts:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(draft_path)
        return cls(seed=seed, entities=packed,
                   knobs={"n_entities": n_entities, "distractor_rate": distractor_rate,
                          "relation_change_rate": relation_change_rate})


def _drawn_entities(rng: random.Random, n_entities: int, names: set[str]) -> Iterator[Entity]:
    """The entities of a world of `n_entities`, without relations, in order: each kind's share, kind by kind."""
    for kind in KINDS:
        for number in range(max(1, round(n_entities * _KIND_SHARES[kind]))):
            yield _new_entity(rng, kind, f"{kind[:3]}-{number:05d}", names)


def _drawn_relations(rng: random.Random, entities: Iterable[tuple[str, str]],
                     by_kind: Mapping[str, list[str]]) -> Iterator[list[tuple[str, str]]]:
    """The (key, object id) of each relation of each entity (id, kind), in order: an office (chief executive, mayor)
    goes to a person who holds none while people last; an entity is not its own object when another can be."""
    free_people = list(by_kind["person"])
    rng.shuffle(free_people)
    for entity_id, kind in entities:
        pairs = []
        for relation in RELATIONS_BY_SOURCE[kind]:
            if relation.key in ("ceo", "mayor") and free_people:  # one office per person while people last
                pairs.append((relation.key, free_people.pop()))
                continue
            candidates = by_kind[relation.target]
            target = rng.choice(candidates)
            if target == entity_id and len(candidates) > 1:
                target = candidates[(candidates.index(target) + 1) % len(candidates)]
            pairs.append((relation.key, target))
        yield pairs


def _employers(organisations: Iterable[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """(person, organisation): a chief executive works for the company they lead, the first one if several."""
    led: set[str] = set()
    for organisation_id, ceo in organisations:
        if ceo not in led:
            led.add(ceo)
            yield ceo, organisation_id


def _relation_changes(rng: random.Random, rate: float, *, people: list[str], places: list[str], in_office: set[str],
                      organisations: Iterable[tuple[str, int, Mapping[str, str]]]
                      ) -> Iterator[tuple[str, str, list[tuple[int, str]]]]:
    """Former chief executives and headquarters of the `organisations` (id, founding year, relations; no twins), as
    (organisation, key, holders over time): each holder kept at least three full years, so a year strictly inside a
    tenure has one holder. `people` and `places` are sorted and hold no twins."""
    former_pool = [p for p in people if p not in in_office]
    for organisation_id, founded, relations in organisations:
        for key, chance, pool in (("ceo", rate, former_pool), ("headquarters", rate / 2, places)):
            if rng.random() >= chance or len(pool) < 3:
                continue
            n_changes = rng.choice((1, 1, 2))
            first, last = max(founded + 4, 2008), min(2016, 2022 - 4 * (n_changes - 1))
            if first > last:
                continue
            years = [rng.randint(first, last)]
            if n_changes == 2:
                years.append(rng.randint(years[0] + 4, 2022))
            holders: list[str] = []
            while len(holders) < n_changes:
                holder = rng.choice(pool)
                if holder != relations[key] and holder not in holders:
                    holders.append(holder)
            yield organisation_id, key, list(zip([0, *years], [*holders, relations[key]]))


def _word(rng: random.Random, syllables: int) -> str:
    parts = [rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables)]
    return ("".join(parts) + rng.choice(_CODAS)).capitalize()


def _name(rng: random.Random, kind: str) -> tuple[str, list[str]]:
    if kind == "organisation":
        core = _word(rng, rng.choice((2, 3)))
        return f"{core} {rng.choice(_ORG_SUFFIXES)}", [core]
    if kind == "person":
        first, last = _word(rng, 2), _word(rng, rng.choice((2, 3)))
        return f"{first} {last}", [f"{first[0]}. {last}"]
    if kind == "place":
        return _word(rng, 2) + rng.choice(_PLACE_SUFFIXES), []
    if kind == "product":
        core = _word(rng, 2)
        return f"{core} {rng.choice(_PRODUCT_LINES)}{rng.randint(2, 99)}", []
    if kind == "compound":
        return (_word(rng, 2) + rng.choice(_COMPOUND_SUFFIXES)).lower(), []
    if kind == "regulation":
        return f"{_word(rng, 2)} {rng.choice(_REGULATION_KINDS)}", []
    return f"{_word(rng, 2)} {rng.choice(_EVENT_KINDS)}", []


def _value(rng: random.Random, attribute: Attribute) -> float:
    if attribute.lo > 0 and attribute.hi / attribute.lo > 50:  # spread over orders of magnitude
        value = 10 ** rng.uniform(math.log10(attribute.lo), math.log10(attribute.hi))
    else:
        value = rng.uniform(attribute.lo, attribute.hi)
    return round(value, attribute.decimals)



def _history(rng: random.Random, attribute: Attribute) -> list[tuple[int, float]]:
    if not attribute.dated:
        return [(0 if attribute.is_year else rng.randint(2016, 2024), _value(rng, attribute))]
    n_years = rng.randint(2, 4)
    last_year = rng.randint(2022, 2024)
    years = sorted(rng.sample(range(last_year - 6, last_year), n_years - 1)) + [last_year]
    value = _value(rng, attribute)
    history = []
    for year in years:
        history.append((year, value))
        # successive values differ by 8-30 %, far outside any matching tolerance
        factor = rng.uniform(1.08, 1.3) if rng.random() < 0.65 else rng.uniform(0.72, 0.92)
        value = round(value * factor, attribute.decimals)
        if attribute.decimals == 0:
            value = float(int(value))
    return history


def _new_entity(rng: random.Random, kind: str, entity_id: str, names: set[str]) -> Entity:
    for _ in range(100):
        name, aliases = _name(rng, kind)
        if name not in names and not any(a in names for a in aliases):
            break
    names.update([name, *aliases])
    attributes = {a.key: _history(rng, a) for a in ATTRIBUTES[kind]}
    return Entity(id=entity_id, kind=kind, name=name, aliases=aliases, attributes=attributes,
                  category=rng.choice(SECTORS) if kind == "organisation" else "")


def _twin(rng: random.Random, entity: Entity, names: set[str]) -> Entity:
    """A distractor: same kind, a name one letter away, its own values and relations."""
    for _ in range(100):
        first, _, rest = entity.name.partition(" ")
        position = rng.randrange(1, len(first))
        letter = rng.choice("aeiouyhdtk")
        changed = first[:position] + letter + first[position + 1:] if rng.random() < 0.5 else \
            first[:position] + letter + first[position:]
        name = f"{changed} {rest}".strip()
        if name not in names and name.lower() != entity.name.lower():
            break
    names.add(name)
    aliases = [changed] if entity.kind == "organisation" and changed not in names else []
    names.update(aliases)
    return Entity(id=f"{entity.id}-twin", kind=entity.kind, name=name, aliases=aliases,
                  attributes={a.key: _history(rng, a) for a in ATTRIBUTES[entity.kind]},
                  relations=dict(entity.relations), category=entity.category, twin_of=entity.id)


def format_value(value: float, attribute: Attribute, *, with_unit: bool = True) -> str:
    """``12345.0`` → ``"12,345 employees"``; years print without separators."""
    if attribute.unit == "" and attribute.decimals == 0:
        text = str(int(value))
    elif attribute.decimals == 0:
        text = f"{int(value):,}"
    else:
        text = f"{value:,.{attribute.decimals}f}"
    return f"{text} {attribute.unit}" if with_unit and attribute.unit else text


def world_to_dict(world: World, *, entities_as_iterator: bool = False) -> dict:
    """A JSON-ready dict of the graph; `world_from_dict` inverts it.

    Args:
        world: the graph.
        entities_as_iterator: give the entities as an iterator of dicts, each made when it is read (a large world
            is written a piece at a time), instead of a list.
    """
    entities = (_entity_to_dict(e) for e in world.entities.values())
    return {"world_version": WORLD_VERSION, "seed": world.seed, "knobs": world.knobs,
            "entities": entities if entities_as_iterator else list(entities)}


def _entity_to_dict(e: Entity) -> dict:
    return {"id": e.id, "kind": e.kind, "name": e.name, "aliases": e.aliases,
            "attributes": {k: [list(p) for p in v] for k, v in e.attributes.items()},
            "relations": e.relations, "category": e.category, "twin_of": e.twin_of,
            "relation_history": {k: [list(p) for p in v] for k, v in e.relation_history.items()}}


def world_from_dict(data: dict) -> World:
    entities = {}
    for row in data["entities"]:
        entities[row["id"]] = _entity_from_dict(row)
    return World(seed=data["seed"], entities=entities, knobs=data["knobs"])


def _entity_from_dict(row: dict) -> Entity:
    return Entity(id=row["id"], kind=row["kind"], name=row["name"], aliases=row["aliases"],
                  attributes={k: [(int(y), float(v)) for y, v in h] for k, h in row["attributes"].items()},
                  relations=row["relations"], category=row["category"], twin_of=row["twin_of"],
                  relation_history={k: [(int(y), o) for y, o in h] for k, h in row.get("relation_history", {}).items()})

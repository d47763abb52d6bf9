"""The compact knowledge graph: entities give back exactly what they were built from, and a seed generates the graph
the dataclass graph generated before it."""

from __future__ import annotations

import hashlib
import json
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drgym.errors import ConfigError
from drgym.tasks.render import RenderKnobs, _Renderer
from drgym.tasks.world import (
    ATTRIBUTES,
    KINDS,
    RELATION_BY_KEY,
    Entity,
    PackedEntities,
    World,
    world_from_dict,
    world_to_dict,
)

# sha256 of json.dumps(world_to_dict(World.generate(...))) (insertion order kept) as the dataclass graph gave it
GRAPH_DIGESTS = {
    (1, 40, 0.1, 0.0): "11a9dd958c12909b4df6d8552ed894132d5a57ec8baa2a55274cb6d416bbc6b0",
    (7, 300, 0.3, 0.4): "e6d02948d78c757248b3aebf5333f9c24572149e825e8a4bc103637cf8a1cb07",
    (23, 1200, 0.1, 0.25): "78ece66e9c7f740d3e56496d05d99d19ce29c3ef57a3b899b4735a18bab420a0",
}

_years = st.integers(min_value=-32768, max_value=32767)
_values = st.floats(allow_nan=False)
_ids = st.text(min_size=1, max_size=12)
_histories = st.lists(st.tuples(_years, _values), min_size=1, max_size=6)
_keys = st.sampled_from(sorted({a.key for attributes in ATTRIBUTES.values() for a in attributes}) + ["custom key"])


@st.composite
def _entity_fields(draw) -> dict:
    kind = draw(st.sampled_from(KINDS))
    return {
        "id": draw(_ids), "kind": kind, "name": draw(st.text(max_size=20)),
        "aliases": draw(st.lists(st.text(max_size=10), max_size=3)),
        "attributes": draw(st.dictionaries(_keys, _histories, max_size=4)),
        "relations": draw(st.dictionaries(st.sampled_from(sorted(RELATION_BY_KEY)), _ids, max_size=4)),
        "category": draw(st.sampled_from(["", "aquaculture", "something else"])),
        "twin_of": draw(st.sampled_from(["", "org-00001"])),
        "relation_history": draw(st.dictionaries(st.sampled_from(["ceo", "headquarters"]),
                                                 st.lists(st.tuples(_years, _ids), min_size=1, max_size=3),
                                                 max_size=2)),
    }


@settings(max_examples=300, deadline=None)
@given(_entity_fields(), _years)
def test_entity_gives_back_exactly_the_fields_it_was_built_from(fields, year):
    entity = Entity(**fields)
    assert (entity.id, entity.kind, entity.name, entity.category, entity.twin_of) == \
        (fields["id"], fields["kind"], fields["name"], fields["category"], fields["twin_of"])
    assert entity.aliases == fields["aliases"] and entity.names == [fields["name"], *fields["aliases"]]
    # the same keys in the same order, the same points, years as ints and values as floats
    assert list(entity.attributes.items()) == list(fields["attributes"].items())
    assert all(type(y) is int and type(v) is float for history in entity.attributes.values() for y, v in history)
    assert list(entity.relations.items()) == list(fields["relations"].items())
    assert all(entity.relation(key) == object_id for key, object_id in fields["relations"].items())
    assert all(key in fields["relations"] or _raises_key_error(entity, key) for key in RELATION_BY_KEY)
    assert entity.relation_history == {k: list(v) for k, v in fields["relation_history"].items()}
    for key, history in fields["attributes"].items():
        assert entity.current(key) == history[-1]
        reported = [point for point in history if point[0] <= year]
        assert entity.value_as_of(key, year) == (reported[-1] if reported else None)
    for key, holder in fields["relations"].items():
        for start, object_id in fields["relation_history"].get(key, []):
            if start <= year:
                holder = object_id
        assert entity.relation_as_of(key, year) == holder
    assert entity == Entity(**fields)
    assert repr(entity).startswith(f"Entity(id={fields['id']!r}, kind={fields['kind']!r}")


def _raises_key_error(entity: Entity, key: str) -> bool:
    with pytest.raises(KeyError):
        entity.relation(key)
    return True


@settings(max_examples=100, deadline=None)
@given(_entity_fields(), st.sampled_from(sorted(RELATION_BY_KEY)), _ids)
def test_set_relation_replaces_an_object_or_adds_the_relation_last(fields, key, object_id):
    entity = Entity(**fields)
    entity.set_relation(key, object_id)
    expected = dict(fields["relations"])
    expected[key] = object_id  # a dict keeps a replaced key in its place and adds a new one last
    assert list(entity.relations.items()) == list(expected.items())
    assert list(entity.attributes.items()) == list(fields["attributes"].items())


def test_entities_of_a_kind_share_their_keys():
    world = World.generate(3, n_entities=60)
    companies = world.by_kind("organisation")
    assert all(c._attribute_keys is companies[0]._attribute_keys for c in companies)
    assert all(c._relation_keys is companies[0]._relation_keys for c in companies)


def test_an_attribute_point_out_of_range_names_the_entity():
    with pytest.raises(ConfigError, match=re.escape("entity 'per-00001': an attribute history holds at most 255 "
                                                    "points, each a year in [-32768, 32767]")):
        Entity("per-00001", "person", "Ada Lovel", [], {"born": [(40_000, 1.0)]})


@pytest.mark.parametrize("knobs", sorted(GRAPH_DIGESTS))
def test_a_seed_generates_the_graph_the_dataclass_graph_did(knobs):
    seed, n_entities, distractor_rate, relation_change_rate = knobs
    world = World.generate(seed, n_entities=n_entities, distractor_rate=distractor_rate,
                           relation_change_rate=relation_change_rate)
    text = json.dumps(world_to_dict(world), ensure_ascii=False)
    assert hashlib.sha256(text.encode()).hexdigest() == GRAPH_DIGESTS[knobs]


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=7, max_value=150),
       st.sampled_from([0.0, 0.3]))
def test_a_graph_round_trips_through_its_dict(seed, n_entities, relation_change_rate):
    world = World.generate(seed, n_entities=n_entities, relation_change_rate=relation_change_rate)
    again = world_from_dict(json.loads(json.dumps(world_to_dict(world))))
    assert again == world
    assert world_to_dict(again) == world_to_dict(world)


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=7, max_value=150))
def test_the_renderer_finds_every_relation_naming_an_entity_sorted(seed, n_entities):
    world = World.generate(seed, n_entities=n_entities, distractor_rate=0.3)
    renderer = _Renderer(world, RenderKnobs(), random.Random(seed), [])
    for entity in world.entities.values():
        naming = sorted((key, subject.id) for subject in world.entities.values()
                        for key, object_id in subject.relations.items() if object_id == entity.id)
        assert renderer.inverse(entity.id) == naming


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=7, max_value=150),
       st.sampled_from([0.0, 0.3]))
def test_a_packed_graph_reads_back_the_entities_it_was_written_from(tmp_path_factory, seed, n_entities,
                                                                    relation_change_rate):
    world = World.generate(seed, n_entities=n_entities, distractor_rate=0.3, relation_change_rate=relation_change_rate)
    packed = world.packed(tmp_path_factory.mktemp("graph") / "graph.bin")
    try:
        assert isinstance(packed.entities, PackedEntities) and len(packed.entities) == len(world.entities)
        assert list(packed.entities) == list(world.entities)  # the same order
        for (entity_id, entity), read in zip(world.entities.items(), packed.entities.values()):
            assert read == entity and packed.entities[entity_id] == entity and entity_id in packed.entities
            assert (read.kind, read.twin_of, read.relations, read.relation_history) == \
                (entity.kind, entity.twin_of, entity.relations, entity.relation_history)
        for kind in KINDS:
            assert packed.by_kind(kind) == world.by_kind(kind)
            assert packed.ids_of_kind(kind) == world.ids_of_kind(kind)
        assert "nobody" not in packed.entities and 7 not in packed.entities
        with pytest.raises(KeyError):
            packed.entities["nobody"]
        assert world_to_dict(packed) == world_to_dict(world)
    finally:
        packed.entities.close()


@settings(max_examples=12, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=7, max_value=200),
       st.sampled_from([0.0, 0.3, 1.0]), st.sampled_from([0.0, 0.4, 1.0]))
def test_a_graph_drawn_into_its_file_is_the_generated_graph_packed(tmp_path_factory, seed, n_entities, distractor_rate,
                                                                   relation_change_rate):
    """`World.generate_packed` writes each entity as it is drawn; `generate` reads that file back into a dict, which
    `packed` writes again: the same entities in the same order, with the same knobs, and the drafts are gone (that the
    draws are the graph's of before: `GRAPH_DIGESTS`)."""
    folder = tmp_path_factory.mktemp("drawn")
    knobs = {"n_entities": n_entities, "distractor_rate": distractor_rate, "relation_change_rate": relation_change_rate}
    world = World.generate(seed, **knobs)
    drawn = World.generate_packed(seed, folder / "graph.bin", **knobs)
    try:
        assert isinstance(drawn.entities, PackedEntities) and list(drawn.entities) == list(world.entities)
        for entity, read in zip(world.entities.values(), drawn.entities.values()):
            assert read == entity and (read.kind, read.twin_of) == (entity.kind, entity.twin_of)
        assert world_to_dict(drawn) == world_to_dict(world) and drawn.knobs == world.knobs
        assert [path.name for path in folder.iterdir()] == ["graph.bin"]
    finally:
        drawn.entities.close()


def test_a_failed_draw_leaves_no_draft(tmp_path, monkeypatch):
    import drgym.tasks.world as world_module

    def broken(*args):
        raise RuntimeError("a twin could not be drawn")

    monkeypatch.setattr(world_module, "_twin", broken)
    with pytest.raises(RuntimeError, match="could not be drawn"):
        World.generate_packed(3, tmp_path / "graph.bin", n_entities=40, distractor_rate=0.5)
    assert list(tmp_path.iterdir()) == []


def test_a_packed_graph_is_read_only_pickles_as_plain_entities_and_refuses_a_repeated_id(tmp_path):
    import pickle

    world = World.generate(3, n_entities=30)
    packed = world.packed(tmp_path / "graph.bin")
    entity = next(iter(packed.entities.values()))
    with pytest.raises(TypeError, match="read-only"):
        entity.set_relation("headquarters", "cit-00000")
    again = pickle.loads(pickle.dumps(entity))
    assert type(again) is Entity and again == world.entities[entity.id]
    packed.entities.close()
    twice = [*world.entities.values(), world.entities["org-00000"]]
    with pytest.raises(ConfigError, match="org-00000.*given twice"):
        PackedEntities(tmp_path / "twice.bin", twice)

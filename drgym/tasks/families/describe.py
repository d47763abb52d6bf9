"""How questions name an entity: by name, or by a one-hop description through another entity's relation."""

from __future__ import annotations

import random

from drgym.tasks.world import RELATION_BY_KEY, Entity, World

__all__ = ["KIND_NOUN", "entity_phrase"]

KIND_NOUN = {"organisation": "the company", "person": "the person", "place": "the city", "product": "the product",
             "compound": "the compound", "regulation": "the regulation", "event": "the event"}


def entity_phrase(world: World, entity: Entity, rng: random.Random, *, describe_rate: float = 0.5) -> tuple[str, int]:
    """("the company Taquon Works", 0) or, with chance `describe_rate`, a description through an entity that points
    at it by a relation it alone holds ("the company that makes the product Kelva X2", 1)."""
    if rng.random() < describe_rate:
        pointers = sorted((key, subject.id) for subject in world.entities.values() if not subject.twin_of
                          for key, target in subject.relations.items() if target == entity.id)
        if pointers:
            key, subject_id = rng.choice(pointers)
            subject = world.entities[subject_id]
            return RELATION_BY_KEY[key].phrase.format(x=f"{KIND_NOUN[subject.kind]} {subject.name}"), 1
    return f"{KIND_NOUN[entity.kind]} {entity.name}", 0

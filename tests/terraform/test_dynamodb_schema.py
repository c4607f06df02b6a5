"""The DynamoDB tables in terraform/modules/dynamodb are exactly the PynamoDB models."""

from __future__ import annotations

import pytest
from pynamodb.attributes import TTLAttribute
from pynamodb.indexes import GlobalSecondaryIndex, LocalSecondaryIndex

from chat import models
from chat.models import TABLE_MODELS
from tests.terraform.conftest import MANIFEST, MODULES, evaluate, first, resource

DYNAMODB = MODULES / "dynamodb"


def model_schema(model) -> dict:
    """The table definition a PynamoDB model implies, in the module's `local.tables` shape."""
    attributes = {a.attr_name: a.attr_type for a in model.get_attributes().values() if a.is_hash_key or a.is_range_key}
    indexes = {}
    for name, index in model._indexes.items():
        assert isinstance(index, GlobalSecondaryIndex) and not isinstance(index, LocalSecondaryIndex), name
        keys = index.Meta.attributes.values()
        hash_key = next(a.attr_name for a in keys if a.is_hash_key)
        range_key = next((a.attr_name for a in keys if a.is_range_key), None)
        attributes.update({a.attr_name: a.attr_type for a in keys})
        projection = index.Meta.projection
        indexes[name] = {
            "hash_key": hash_key,
            "range_key": range_key,
            "projection_type": projection.projection_type,
            "non_key_attributes": sorted(projection.non_key_attributes or []),
        }
    ttl = [a.attr_name for a in model.get_attributes().values() if isinstance(a, TTLAttribute)]
    assert len(ttl) == 1, f"{model.__name__} must have exactly one TTLAttribute"
    return {
        "hash_key": model._hash_keyname,
        "range_key": model._range_keyname,
        "attributes": attributes,
        "ttl_attribute": ttl[0],
        "global_secondary_indexes": indexes,
    }


@pytest.fixture(scope="module")
def terraform_tables() -> dict:
    tables = evaluate(DYNAMODB, ["schema.tf"], {}, {"tables": "local.tables"})["tables"]
    for table in tables.values():
        for index in table["global_secondary_indexes"].values():
            index["non_key_attributes"] = sorted(index["non_key_attributes"] or [])
    return tables


def test_terraform_defines_exactly_the_tables_of_the_models(terraform_tables):
    assert set(terraform_tables) == set(TABLE_MODELS)


@pytest.mark.parametrize("table", sorted(TABLE_MODELS))
def test_table_keys_attribute_types_indexes_and_ttl_equal_the_model(terraform_tables, table):
    # GIVEN the PynamoDB model / WHEN compared with the Terraform schema / THEN they are equal
    assert terraform_tables[table] == model_schema(TABLE_MODELS[table])


def test_every_model_stored_in_a_table_has_that_tables_keys():
    # GIVEN models sharing a table (MessageDedup lives in messages) / THEN they use its key names and types
    sharing = [m for m in vars(models).values()
               if isinstance(m, type) and issubclass(m, models.Model) and m not in (models.Model, models._ChatModel)]
    by_keys = {(m._hash_keyname, m._range_keyname) for m in TABLE_MODELS.values()}
    for model in sharing:
        assert (model._hash_keyname, model._range_keyname) in by_keys, model.__name__


def test_manifest_permissions_name_only_existing_tables_and_indexes(terraform_tables):
    for name, fn in MANIFEST["functions"].items():
        for grant in fn["permissions"]["dynamodb"]:
            assert grant["table"] in terraform_tables, name
            assert set(grant.get("indexes", [])) <= set(terraform_tables[grant["table"]]["global_secondary_indexes"]), name


def test_tables_are_on_demand_recoverable_encrypted_and_protectable():
    table = resource(DYNAMODB, "aws_dynamodb_table", "this")
    assert table["for_each"] == "${local.tables}"
    assert table["billing_mode"] == "PAY_PER_REQUEST"
    assert first(table["point_in_time_recovery"]) == {"enabled": True}
    assert first(table["server_side_encryption"]) == {"enabled": True, "kms_key_arn": "${var.kms_key_arn}"}
    assert table["deletion_protection_enabled"] == "${var.deletion_protection}"
    assert first(table["ttl"]) == {"attribute_name": "${each.value.ttl_attribute}", "enabled": True}


def test_table_resource_is_built_from_the_schema_map_not_hand_written_values():
    table = resource(DYNAMODB, "aws_dynamodb_table", "this")
    assert table["hash_key"] == "${each.value.hash_key}"
    assert table["range_key"] == "${each.value.range_key}"
    attribute = first(table["dynamic"])["attribute"]
    assert attribute["for_each"] == "${each.value.attributes}"
    assert first(attribute["content"]) == {"name": "${attribute.key}", "type": "${attribute.value}"}
    gsi = table["dynamic"][1]["global_secondary_index"]
    assert gsi["for_each"] == "${each.value.global_secondary_indexes}"
    content = first(gsi["content"])
    assert content["name"] == "${global_secondary_index.key}"
    assert content["hash_key"] == "${global_secondary_index.value.hash_key}"
    assert content["range_key"] == "${global_secondary_index.value.range_key}"
    assert content["projection_type"] == "${global_secondary_index.value.projection_type}"

# The table schemas, mirroring shared/chat/models.py (the single source of truth).
# Locals only, so tests/terraform can evaluate this file without a provider and compare it with
# the PynamoDB models (keys, attribute types, GSIs and their projections, TTL attribute).
locals {
  tables = {
    connections = {
      hash_key      = "connectionId"
      range_key     = null
      attributes    = { connectionId = "S", userId = "S", shard = "N" }
      ttl_attribute = "expiresAt"
      global_secondary_indexes = {
        byUser = {
          hash_key           = "userId"
          range_key          = "connectionId"
          projection_type    = "INCLUDE"
          non_key_attributes = ["expiresAt"]
        }
        byShard = {
          hash_key           = "shard"
          range_key          = "connectionId"
          projection_type    = "INCLUDE"
          non_key_attributes = ["expiresAt", "userId"]
        }
      }
    }
    room_members = {
      hash_key                 = "roomId"
      range_key                = "connectionId"
      attributes               = { roomId = "S", connectionId = "S" }
      ttl_attribute            = "expiresAt"
      global_secondary_indexes = {}
    }
    messages = {
      hash_key                 = "conversationId"
      range_key                = "messageId"
      attributes               = { conversationId = "S", messageId = "S" }
      ttl_attribute            = "expiresAt"
      global_secondary_indexes = {}
    }
  }
}

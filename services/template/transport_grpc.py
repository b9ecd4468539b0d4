"""The template service over gRPC (``kitcore.template.v1.TemplateService``).

Each method is a :class:`kitcore.transport.grpc.Handler` over the endpoint Set:
decode the message, call the endpoint, encode the reply. Errors become the
status of their kind (NOT_FOUND, INVALID_ARGUMENT ...). In proto3 a missing
field reads as its zero value, so a missing name arrives as "" and is refused.
kitcore's server names the instance that answered in the trailing metadata
``x-served-by``, so no reply message does.
"""

from __future__ import annotations

import grpc

from kitcore.transport.grpc import Handler
from protos import template_pb2, template_pb2_grpc
from template.endpoints import Set
from template.service import CreateItemRequest, GetItemRequest, Item


class TemplateServicer(template_pb2_grpc.TemplateServiceServicer):
    """The generated servicer, one Handler per method."""

    def __init__(self, endpoints: Set) -> None:
        self.GetItem = Handler(endpoints.get_item, decode_get_item, encode_item_reply,
                               name="GetItem")
        self.CreateItem = Handler(endpoints.create_item, decode_create_item, encode_item_reply,
                                  name="CreateItem")


def add_to_server(server: grpc.Server, endpoints: Set) -> None:
    """Serve the endpoints on ``server``."""
    template_pb2_grpc.add_TemplateServiceServicer_to_server(TemplateServicer(endpoints), server)


def decode_get_item(msg: template_pb2.GetItemRequest) -> GetItemRequest:
    """The endpoint request of a GetItem call."""
    return GetItemRequest(msg.id)


def decode_create_item(msg: template_pb2.CreateItemRequest) -> CreateItemRequest:
    """The endpoint request of a CreateItem call."""
    return CreateItemRequest(msg.name)


def encode_item_reply(item: Item) -> template_pb2.ItemReply:
    """The ItemReply message of an endpoint's item."""
    return template_pb2.ItemReply(item=template_pb2.Item(id=item.id, name=item.name))

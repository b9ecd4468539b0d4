"""The user service over gRPC (``kitcore.user.v1.UserService``), served from the endpoint Set.

Each method is a :class:`kitcore.transport.grpc.Handler`: decode the message,
call the endpoint, encode the reply. Errors become the status of their kind
(NOT_FOUND, ALREADY_EXISTS, UNAUTHENTICATED, INVALID_ARGUMENT ...). kitcore's
server names the instance that answered in the trailing metadata
``x-served-by``, so no reply message does.
"""

from __future__ import annotations

import grpc

from kitcore.transport.grpc import Handler
from protos import user_pb2, user_pb2_grpc
from user.endpoints import Set
from user.service import (
    AddToShelfRequest,
    CreateUserRequest,
    GetShelfRequest,
    GetUserRequest,
    LoginReply,
    LoginRequest,
    ShelfReply,
    User,
)


class UserServicer(user_pb2_grpc.UserServiceServicer):
    """The generated servicer, one Handler per method."""

    def __init__(self, endpoints: Set) -> None:
        self.CreateUser = Handler(endpoints.create_user, decode_create_user, encode_user_reply,
                                  name="CreateUser")
        self.GetUser = Handler(endpoints.get_user, decode_get_user, encode_user_reply,
                               name="GetUser")
        self.Login = Handler(endpoints.login, decode_login, encode_login_reply, name="Login")
        self.GetShelf = Handler(endpoints.get_shelf, decode_get_shelf, encode_shelf_reply,
                                name="GetShelf")
        self.AddToShelf = Handler(endpoints.add_to_shelf, decode_add_to_shelf,
                                  encode_shelf_reply, name="AddToShelf")


def add_to_server(server: grpc.Server, endpoints: Set) -> None:
    """Serve the user endpoints on ``server``."""
    user_pb2_grpc.add_UserServiceServicer_to_server(UserServicer(endpoints), server)


def decode_create_user(msg: user_pb2.CreateUserRequest) -> CreateUserRequest:
    """The endpoint request of a CreateUser call."""
    return CreateUserRequest(msg.name, msg.email, msg.password)


def decode_get_user(msg: user_pb2.GetUserRequest) -> GetUserRequest:
    """The endpoint request of a GetUser call."""
    return GetUserRequest(msg.id)


def decode_login(msg: user_pb2.LoginRequest) -> LoginRequest:
    """The endpoint request of a Login call."""
    return LoginRequest(msg.email, msg.password)


def decode_get_shelf(msg: user_pb2.GetShelfRequest) -> GetShelfRequest:
    """The endpoint request of a GetShelf call."""
    return GetShelfRequest(msg.user_id)


def decode_add_to_shelf(msg: user_pb2.AddToShelfRequest) -> AddToShelfRequest:
    """The endpoint request of an AddToShelf call."""
    return AddToShelfRequest(msg.user_id, msg.book_id)


def encode_user_reply(user: User) -> user_pb2.UserReply:
    """The UserReply message of an endpoint's user."""
    return user_pb2.UserReply(user=user_pb2.User(id=user.id, name=user.name, email=user.email))


def encode_login_reply(reply: LoginReply) -> user_pb2.LoginReply:
    """The LoginReply message of an endpoint reply."""
    return user_pb2.LoginReply(access_token=reply.access_token, token_type=reply.token_type,
                               expires_in=reply.expires_in)


def encode_shelf_reply(reply: ShelfReply) -> user_pb2.ShelfReply:
    """The ShelfReply message of an endpoint reply."""
    return user_pb2.ShelfReply(user_id=reply.user_id, book_ids=reply.book_ids)

"""Requests and latency of a gRPC server per method and status code: an aio server interceptor
(named after go-grpc-prometheus: `grpc_server_handled_total`, `grpc_server_handling_seconds`,
with the program's prefix). A refusal by an interceptor after this one (authorization) is
counted with its code too."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram

from miglane.grpctls import rpc_name

# Seconds: quick unary calls through long streams (a WatchMigrations stream lasts minutes).
LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 600)


def _failed_code(error: BaseException) -> grpc.StatusCode:
    """What a call that raised `error` without setting a code ends with."""
    return (
        grpc.StatusCode.CANCELLED
        if isinstance(error, asyncio.CancelledError)
        else grpc.StatusCode.UNKNOWN
    )


def _code_name(context: grpc.aio.ServicerContext, default: grpc.StatusCode) -> str:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    if isinstance(code, int):  # some grpcio versions keep the number
        return next((c.name for c in grpc.StatusCode if c.value[0] == code), default.name)
    return default.name


class GrpcServerMetrics(grpc.aio.ServerInterceptor):
    """Put it first in the server's interceptors, so that it sees every call."""

    def __init__(self, registry: CollectorRegistry, prefix: str) -> None:
        labels = ("grpc_service", "grpc_method", "grpc_code")
        self.handled = Counter(
            f"{prefix}_grpc_server_handled",
            "gRPC calls completed on the server, by method and status code.",
            labels,
            registry=registry,
        )
        self.latency = Histogram(
            f"{prefix}_grpc_server_handling_seconds",
            "Time from a call's start to its end on the server, by method and status code.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def _observe(self, method: str, code: str, started: float) -> None:
        service, rpc = rpc_name(method)
        self.handled.labels(service, rpc, code).inc()
        self.latency.labels(service, rpc, code).observe(time.perf_counter() - started)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(method, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler  # client streaming: none of ours

    def _unary(self, method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
        async def timed(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            try:
                response = await behavior(request, context)
            except BaseException as error:
                self._observe(method, _code_name(context, _failed_code(error)), started)
                raise
            self._observe(method, _code_name(context, grpc.StatusCode.OK), started)
            return response

        return timed

    def _stream(self, method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
        async def timed(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            started = time.perf_counter()
            try:
                result = behavior(request, context)
                if inspect.isasyncgen(result):
                    async for item in result:
                        yield item
                else:  # a coroutine writing with context.write()
                    await result
            except BaseException as error:
                self._observe(method, _code_name(context, _failed_code(error)), started)
                raise
            self._observe(method, _code_name(context, grpc.StatusCode.OK), started)

        return timed

"""Who is calling: the caller's identity read from its TLS certificate on every call, checked
by one interceptor in front of every handler (unary and streaming): a revoked certificate is
refused at once (UNAUTHENTICATED), then the service's own rule decides (`authorize`); the
caller's name is published in a context variable for the duration of the call. The parsed
identity of a certificate is kept (an LRU keyed by its PEM): a client reusing its connection
is not parsed again on every call, while revocation is still checked on every call."""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextvars import ContextVar, Token
from typing import Any, NamedTuple

import grpc

from miglane.pki import CertificateInfo, PkiError, RevocationList, identity_of_pem, serial_hex

PEER_CERTIFICATE = "x509_pem_cert"
# How many callers' parsed certificates are kept (a few hundred bytes each).
IDENTITY_CACHE_SIZE = 1024
# The caller's name on a plaintext (--insecure) server, where nobody has a certificate.
ANONYMOUS = "anonymous"


class Refusal(NamedTuple):
    """How a call is refused: status code, sentence and trailing metadata (rich details)."""

    code: grpc.StatusCode
    message: str
    trailers: tuple[Any, ...] = ()


Authorize = Callable[[str, CertificateInfo], Refusal | None]


def rpc_name(method: str) -> tuple[str, str]:
    """("/pkg.Service/Rpc") -> ("pkg.Service", "Rpc")."""
    service, _, rpc = method.lstrip("/").partition("/")
    return service, rpc


def peer_identity(context: grpc.aio.ServicerContext) -> CertificateInfo | None:
    """The identity in the caller's certificate; None on a plaintext connection."""
    pems = context.auth_context().get(PEER_CERTIFICATE)
    if not pems:
        return None
    return identity_of_certificate(next(iter(pems)))


@functools.lru_cache(maxsize=IDENTITY_CACHE_SIZE)
def identity_of_certificate(cert_pem: bytes) -> CertificateInfo:
    """`identity_of_pem`, remembered per PEM (a PEM that does not parse raises PkiError each
    time, and is not kept). What it returns says nothing about revocation: check the serial."""
    return identity_of_pem(cert_pem)


class ServiceGate(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """An interceptor that checks every call of one service when it starts (`admit`, which
    aborts the call to refuse it); the server's other services (health, reflection) pass.
    A subclass may guard other services by overriding `guards`."""

    def __init__(self, service: str) -> None:
        self._service = service

    def guards(self, service: str) -> bool:
        return service == self._service

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method  # type: ignore[attr-defined]
        if handler is None or not self.guards(rpc_name(method)[0]):
            return handler
        return guarded(handler, method, self.admit)

    async def admit(self, method: str, context: grpc.aio.ServicerContext) -> Token[str] | None:
        raise NotImplementedError


class CallerCheck(ServiceGate):
    """Wraps every handler of the services not in `open_services` (health, reflection: any
    client of our CA may reach them). `insecure`: a plaintext server, whose callers have no
    certificate; they are let through as ANONYMOUS (development only). `actor`, when given, holds
    the caller's name for the call."""

    def __init__(
        self,
        authorize: Authorize,
        *,
        revocations: RevocationList | None,
        open_services: Collection[str] = (),
        actor: ContextVar[str] | None = None,
        insecure: bool = False,
    ) -> None:
        super().__init__("")
        self._authorize = authorize
        self._revocations = revocations
        self._open = frozenset(open_services)
        self._actor = actor
        self._insecure = insecure

    def guards(self, service: str) -> bool:
        return service not in self._open

    async def admit(self, method: str, context: grpc.aio.ServicerContext) -> Token[str] | None:
        """Aborts the call unless the caller may make it; sets the actor when it may."""
        try:
            identity = peer_identity(context)
        except PkiError as error:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(error))
            raise  # abort raises; this line is for the type checker
        if identity is None:
            if not self._insecure:
                await context.abort(
                    grpc.StatusCode.UNAUTHENTICATED, "a client certificate of our CA is required"
                )
            return self._actor.set(ANONYMOUS) if self._actor else None
        if self._revocations is not None and self._revocations.is_revoked(identity.serial):
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                f"certificate {serial_hex(identity.serial)} of {identity.name} is revoked",
            )
        refusal = self._authorize(method, identity)
        if refusal is not None:
            await context.abort(refusal.code, refusal.message, refusal.trailers)
        return self._actor.set(identity.name) if self._actor else None


Admit = Callable[[str, grpc.aio.ServicerContext], Awaitable[Token[str] | None]]


def _reset(token: Token[str] | None) -> None:
    if token is not None:
        # A stream resumed in another context has nothing to reset: the call's context ends.
        with contextlib.suppress(ValueError):
            token.var.reset(token)


def _checked(inner: Callable[..., Any], method: str, admit: Admit) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(inner):

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            token = await admit(method, context)
            try:
                async with contextlib.aclosing(inner(request, context)) as items:
                    async for item in items:
                        yield item
            finally:
                _reset(token)

        return stream

    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        token = await admit(method, context)
        try:
            return await inner(request, context)
        finally:
            _reset(token)

    return call


def guarded(handler: grpc.RpcMethodHandler, method: str, admit: Admit) -> grpc.RpcMethodHandler:
    """The same handler, each of its behaviours behind `admit` (which aborts the call to refuse
    it): how an interceptor checks a call when it starts, with its context at hand."""
    kinds = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")
    changes = {
        kind: _checked(getattr(handler, kind), method, admit)
        for kind in kinds
        if getattr(handler, kind) is not None
    }
    return handler._replace(**changes)  # type: ignore[attr-defined,no-any-return]

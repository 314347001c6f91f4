"""Server side: TLS credentials that require a client certificate of our CA and follow the
server's credentials directory, so a re-issued identity is served from the next connection on,
without a restart."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import grpc

from miglane.pki import PkiError, credential_files, load_credentials

log = logging.getLogger(__name__)

_Stamp = tuple[tuple[int, int, int] | None, ...]


def _stamp(paths: tuple[Path, ...]) -> _Stamp:
    stamps: list[tuple[int, int, int] | None] = []
    for path in paths:
        try:
            status = path.stat()
        except OSError:
            stamps.append(None)
            continue
        stamps.append((status.st_ino, status.st_mtime_ns, status.st_size))
    return tuple(stamps)


class ReloadingServerCredentials:
    """The identity of a credentials directory (ca-cert.pem, cert.pem, key.pem), re-read when
    one of those files changes. Raises PkiError when the directory cannot be loaded at start;
    a later broken re-issue is logged and the identity served so far stays in use."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._files = credential_files(self.directory)
        self._lock = threading.Lock()
        self._stamp = _stamp(self._files)
        self._initial = self._configuration()

    def _configuration(self) -> grpc.ServerCertificateConfiguration:
        credentials = load_credentials(self.directory)
        return grpc.ssl_server_certificate_configuration(
            [(credentials.key_pem, credentials.cert_pem)], root_certificates=credentials.ca_pem
        )

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """gRPC asks before every new connection's handshake: None keeps the current one."""
        with self._lock:
            stamp = _stamp(self._files)
            if stamp == self._stamp:
                return None
            try:
                configuration = self._configuration()
            except PkiError as error:  # half-written, or broken: keep serving the old one
                log.warning("credentials in %s not reloaded: %s", self.directory, error)
                return None
            self._stamp = stamp
            log.info("serving the re-issued credentials of %s", self.directory)
            return configuration

    def server_credentials(self) -> grpc.ServerCredentials:
        # The stubs omit it, but gRPC documents None from the fetcher as "no change".
        return grpc.dynamic_ssl_server_credentials(
            self._initial,
            self._fetch,  # type: ignore[arg-type]
            require_client_authentication=True,
        )

"""miglane.pki: Miglane's own certificate authority and the identities it issues (engine,
hosts, people), their credentials directories, revocation and expiry. No grpc here: servers
and channels are built from the PEM bytes `load_credentials` returns."""

from miglane.pki.authority import CertificateAuthority
from miglane.pki.client import (
    CREDENTIALS_ENV,
    client_credentials_dir,
    default_credentials_dir,
    load_client_credentials,
)
from miglane.pki.credentials import (
    Credentials,
    credential_files,
    load_credentials,
    write_credentials,
)
from miglane.pki.errors import PkiError
from miglane.pki.expiry import EXPIRY_WARNING, days_left, expiring, is_expired
from miglane.pki.identities import (
    ENGINE_NAME,
    PERSON_ROLES,
    CertificateInfo,
    Role,
    identity_of_pem,
    serial_hex,
    validate_addresses,
    validate_name,
)
from miglane.pki.layout import (
    CA_CERT,
    CERT,
    CLIENT_CERT,
    CLIENT_KEY,
    CRL,
    HOST_LAYOUT,
    KEY,
    SERVER_CERT,
    SERVER_KEY,
    PkiDir,
)
from miglane.pki.revocation import RevocationList
from miglane.pki.signing import CA_DAYS, LEAF_DAYS

__all__ = [
    "CA_CERT",
    "CA_DAYS",
    "CERT",
    "CLIENT_CERT",
    "CLIENT_KEY",
    "CREDENTIALS_ENV",
    "CRL",
    "ENGINE_NAME",
    "EXPIRY_WARNING",
    "HOST_LAYOUT",
    "KEY",
    "LEAF_DAYS",
    "PERSON_ROLES",
    "SERVER_CERT",
    "SERVER_KEY",
    "CertificateAuthority",
    "CertificateInfo",
    "Credentials",
    "PkiDir",
    "PkiError",
    "RevocationList",
    "Role",
    "client_credentials_dir",
    "credential_files",
    "days_left",
    "default_credentials_dir",
    "expiring",
    "identity_of_pem",
    "is_expired",
    "load_client_credentials",
    "load_credentials",
    "serial_hex",
    "validate_addresses",
    "validate_name",
    "write_credentials",
]

"""Certificates Custos issues from its keystore, checked by tools that are not Custos:
`openssl x509`/`openssl verify`/`openssl req`, and pyca/cryptography's x509 module.
Chains root → node and root → intermediate → node for P-384 (the default), P-256,
Ed25519 and RSA; CSRs made by `openssl req`; and every refusal leaving the certificate
list and the audit log's successes unchanged."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from custos_cli import TENANT, Custos

SCHEMES = ["ecdsa-p384-sha384", "ecdsa-p256-sha256", "ed25519", "rsa-pkcs1-sha256"]
SIGNATURE_HASH = {"ecdsa-p384-sha384": hashes.SHA384, "ecdsa-p256-sha256": hashes.SHA256, "ed25519": None,
                  "rsa-pkcs1-sha256": hashes.SHA256}


def openssl(*args, input: bytes | None = None, expect: int | None = 0) -> subprocess.CompletedProcess:
    proc = subprocess.run(["openssl", *map(str, args)], input=input, capture_output=True, timeout=60)
    if expect is not None:
        assert proc.returncode == expect, f"openssl {' '.join(map(str, args))}: {proc.returncode}\n{proc.stderr.decode()[:2000]}"
    return proc


def tls(custos: Custos, *args) -> dict:
    return custos.run("tls", *args, "--json").json()


def export(custos: Custos, alias: str, *extra) -> Path:
    return custos.file(custos.run("tls", "export", "--tenant", TENANT, "--alias", alias, *extra).out, ".pem")


def create_ca(custos: Custos, alias: str, scheme: str, issuer: str | None = None, days: int | None = None, subject: str | None = None) -> dict:
    args = ["ca", "create", "--tenant", TENANT, "--alias", alias, "--scheme", scheme, "--subject", subject or f"CN={alias} CA,O=Interop,C=DE"]
    if issuer:
        args += ["--issuer", issuer]
    if days:
        args += ["--days", str(days)]
    return tls(custos, *args)


def issue(custos: Custos, alias: str, issuer: str | None, scheme: str | None = None, usage: str = "both", days: int = 30) -> dict:
    args = ["issue", "--tenant", TENANT, "--alias", alias, "--subject", f"CN={alias},OU=nodes,O=Interop",
            "--dns", f"{alias}.interop.test", "--dns", "*.svc.interop.test", "--ip", "127.0.0.1", "--ip", "::1",
            "--usage", usage, "--days", str(days)]
    args += ["--issuer", issuer] if issuer else ["--self-signed"]
    if scheme:
        args += ["--scheme", scheme]
    return tls(custos, *args)


def listing(custos: Custos) -> list[dict]:
    return tls(custos, "list", "--tenant", TENANT)["certificates"]


def audit_successes(custos: Custos) -> list[dict]:
    records = custos.run("audit", "list", "--limit", "100000", "--json").json_lines()
    flat = []
    for record in records:
        flat += record["records"] if isinstance(record, dict) and "records" in record else [record]
    return [r for r in flat if r.get("outcome") == "success" and str(r.get("operation", "")).startswith("tls.")]


def pin_by_openssl(pem: Path) -> str:
    spki = openssl("x509", "-in", pem, "-pubkey", "-noout").stdout
    der = openssl("pkey", "-pubin", "-outform", "DER", input=spki).stdout
    return openssl("dgst", "-sha256", "-r", input=der).stdout.decode().split()[0]


def check_fields(cert: x509.Certificate, issuer: x509.Certificate, scheme: str, *, is_ca: bool, subject_cn: str,
                 path_length: int | None = None) -> None:
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == subject_cn
    assert cert.issuer == issuer.subject
    assert 0 < cert.serial_number and cert.serial_number.bit_length() <= 159  # positive, at most 20 DER bytes
    now = datetime.now(timezone.utc)
    assert cert.not_valid_before_utc <= now < cert.not_valid_after_utc
    assert now - cert.not_valid_before_utc < timedelta(minutes=10)  # backdated by minutes, not days
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca is is_ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature
    assert usage.value.key_cert_sign is is_ca and usage.value.crl_sign is is_ca
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski.digest == x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    if is_ca:
        assert basic.value.path_length == path_length
    else:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == [f"{subject_cn}.interop.test", "*.svc.interop.test"]
        assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    expected_hash = SIGNATURE_HASH[scheme]
    if expected_hash is None:
        assert cert.signature_hash_algorithm is None and cert.signature_algorithm_oid.dotted_string == "1.3.101.112"
    else:
        assert isinstance(cert.signature_hash_algorithm, expected_hash)
    cert.verify_directly_issued_by(issuer)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_root_and_node_chain(custos: Custos, scheme: str):
    ca = create_ca(custos, "root", scheme)
    node = issue(custos, "node", "root", scheme=scheme)
    root_pem, leaf_pem = export(custos, "root"), export(custos, "node")
    assert "Subject Alternative Name" in openssl("x509", "-in", leaf_pem, "-text", "-noout").stdout.decode()
    assert openssl("verify", "-CAfile", root_pem, leaf_pem).stdout.decode().strip().endswith("OK")
    root = x509.load_pem_x509_certificate(root_pem.read_bytes())
    leaf = x509.load_pem_x509_certificate(leaf_pem.read_bytes())
    check_fields(root, root, scheme, is_ca=True, subject_cn="root CA", path_length=1)
    check_fields(leaf, root, scheme, is_ca=False, subject_cn="node")
    assert format(leaf.serial_number, "X") == node["serial"] and format(root.serial_number, "X") == ca["serial"]
    assert pin_by_openssl(leaf_pem) == node["pin"] and pin_by_openssl(root_pem) == ca["pin"]
    assert node["issuer_alias"] == "root" and node["usages"] == ["server", "client"] and node["key_version"] == 1
    # The listing shows both with their pins.
    assert {(c["serial"], c["pin"]) for c in listing(custos)} == {(ca["serial"], ca["pin"]), (node["serial"], node["pin"])}
    text = custos.run("tls", "list", "--tenant", TENANT).out
    row = next(line for line in text.splitlines() if line.startswith(node["serial"]))
    # 30 days from issuance, in whole seconds: listed within the same second, 30d is left.
    assert node["pin"] in row and "CN=node,OU=nodes,O=Interop" in row and ("\t29d\t" in row or "\t30d\t" in row)


@pytest.mark.parametrize("scheme", ["ecdsa-p384-sha384", "ed25519"])
def test_root_intermediate_node_chain_and_a_foreign_issuer_is_rejected(custos: Custos, scheme: str):
    create_ca(custos, "root", scheme)
    create_ca(custos, "inter", scheme, issuer="root")
    issue(custos, "node", "inter", scheme=scheme)
    root_pem, inter_pem, leaf_pem = export(custos, "root"), export(custos, "inter"), export(custos, "node")
    assert openssl("verify", "-CAfile", root_pem, "-untrusted", inter_pem, leaf_pem).returncode == 0
    chain = export(custos, "node", "--chain").read_text()
    assert chain.count("BEGIN CERTIFICATE") == 3
    inter = x509.load_pem_x509_certificate(inter_pem.read_bytes())
    check_fields(inter, x509.load_pem_x509_certificate(root_pem.read_bytes()), scheme, is_ca=True, subject_cn="inter CA", path_length=0)
    check_fields(x509.load_pem_x509_certificate(leaf_pem.read_bytes()), inter, scheme, is_ca=False, subject_cn="node")
    # A leaf whose issuer is another CA does not verify under this root.
    create_ca(custos, "other", scheme)
    issue(custos, "stranger", "other", scheme=scheme)
    stranger = export(custos, "stranger")
    assert openssl("verify", "-CAfile", root_pem, "-untrusted", inter_pem, stranger, expect=None).returncode != 0
    # Nor without the intermediate.
    assert openssl("verify", "-CAfile", root_pem, leaf_pem, expect=None).returncode != 0


def test_self_signed_certificate_and_rotation(custos: Custos):
    first = issue(custos, "pinned", None)
    pem = export(custos, "pinned")
    cert = x509.load_pem_x509_certificate(pem.read_bytes())
    check_fields(cert, cert, "ecdsa-p384-sha384", is_ca=False, subject_cn="pinned")
    assert pin_by_openssl(pem) == first["pin"]
    rotated = tls(custos, "rotate", "--tenant", TENANT, "--alias", "pinned")
    assert rotated["key_version"] == 2 and rotated["pin"] != first["pin"] and rotated.get("issuer_alias") is None
    assert rotated["dns_names"] == first["dns_names"] and rotated["subject"] == first["subject"]
    new = x509.load_pem_x509_certificate(export(custos, "pinned").read_bytes())
    new.verify_directly_issued_by(new)
    assert pin_by_openssl(export(custos, "pinned")) == rotated["pin"]


@pytest.mark.parametrize("key", ["ec:P-384", "rsa:2048", "ed25519"])
def test_openssl_csrs_are_signed(custos: Custos, key: str):
    create_ca(custos, "ca", "ecdsa-p384-sha384")
    keyfile, csrfile = custos.workdir / "client.key", custos.workdir / "client.csr"
    newkey = {"ec:P-384": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"], "rsa:2048": ["-newkey", "rsa:2048"],
              "ed25519": ["-newkey", "ed25519"]}[key]
    openssl("req", "-new", *newkey, "-nodes", "-keyout", keyfile, "-out", csrfile, "-subj", "/O=Outside/CN=client-9",
            "-addext", "subjectAltName=DNS:client9.outside.test,IP:10.1.2.3")
    out = custos.workdir / "client.pem"
    signed = tls(custos, "sign-csr", "--tenant", TENANT, "--issuer", "ca", "--csr", csrfile, "--usage", "client", "--days", "10", "--out", out)
    assert signed.get("alias") is None and signed["usages"] == ["client"] and signed["subject"] == "CN=client-9,O=Outside"
    assert signed["dns_names"] == ["client9.outside.test"] and signed["ip_addresses"] == ["10.1.2.3"]
    root_pem = export(custos, "ca")
    assert out.read_text().count("BEGIN CERTIFICATE") == 2
    assert openssl("verify", "-CAfile", root_pem, out).returncode == 0
    leaf = x509.load_pem_x509_certificate(out.read_bytes())
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(root_pem.read_bytes()))
    # The certified key is the CSR's: the pins agree with the private key openssl made.
    spki = openssl("pkey", "-in", keyfile, "-pubout", "-outform", "DER").stdout
    assert hashlib.sha256(spki).hexdigest() == signed["pin"] == pin_by_openssl(out)


def test_trust_and_revocation(custos: Custos):
    create_ca(custos, "ca", "ecdsa-p256-sha256")
    client = issue(custos, "client", "ca", usage="client")
    trust = tls(custos, "trust", "add-pin", "ab" * 32, "--label", "ops laptop")
    assert trust["pins"][0]["pin"] == "ab" * 32 and trust["pins"][0]["label"] == "ops laptop"
    trust = tls(custos, "trust", "add-ca", "--tenant", TENANT, "--alias", "ca")
    assert [a["alias"] for a in trust["authorities"]] == ["ca"]
    custos.fails("tls", "trust", "add-ca", "--tenant", TENANT, "--alias", "client")  # not a CA
    custos.fails("tls", "trust", "add-pin", "xyz")
    revoked = tls(custos, "revoke", "--tenant", TENANT, "--serial", client["serial"])
    assert revoked["revoked_at"]
    custos.fails("tls", "revoke", "--tenant", TENANT, "--serial", client["serial"])
    trust = tls(custos, "trust", "remove-pin", "ab" * 32)
    assert trust["pins"] == []
    trust = tls(custos, "trust", "remove-ca", "--tenant", TENANT, "--alias", "ca")
    assert trust == {"pins": [], "authorities": []}


def test_bad_input_is_refused_and_changes_nothing(custos: Custos):
    create_ca(custos, "ca", "ecdsa-p384-sha384", days=100)
    issue(custos, "leaf", "ca", days=10)
    create_ca(custos, "off", "ecdsa-p256-sha256")
    custos.run("key", "disable", "--tenant", TENANT, "off")
    custos.generate("ledger", "ecdsa-p256-sha256")
    before_list, before_audit = listing(custos), audit_successes(custos)
    assert len(before_list) == 3 and {r["operation"] for r in before_audit} == {"tls.ca-create", "tls.issue"}

    def refused(*args) -> str:
        return custos.fails("tls", *args)

    base = ["issue", "--tenant", TENANT, "--alias", "n", "--subject", "CN=n"]
    errors = [
        refused(*base, "--issuer", "off"),                                  # CA key disabled
        refused(*base, "--issuer", "leaf"),                                 # not a CA
        refused(*base, "--issuer", "ca", "--days", "101"),                  # beyond the issuer
        refused(*base, "--issuer", "nope"),                                 # unknown alias
        refused("issue", "--tenant", TENANT, "--alias", "ledger", "--subject", "CN=l", "--issuer", "ca"),  # not a TLS key
        refused(*base, "--issuer", "ca", "--scheme", "ecdsa-secp256k1-sha256"),
        refused(*base, "--issuer", "ca", "--scheme", "bls12381-pop"),
        refused(*base, "--issuer", "ca", "--scheme", "ml-dsa-65"),
        refused("ca", "create", "--tenant", TENANT, "--alias", "c2", "--subject", "CN=c", "--scheme", "rsa-pss-sha256"),
        refused(*base, "--issuer", "ca", "--dns", "bad..name"),
        refused(*base, "--issuer", "ca", "--dns", "a.*.example.com"),
        refused(*base, "--issuer", "ca", "--ip", "01.2.3.4"),
        refused(*base, "--issuer", "ca", "--ip", "1.2.3"),
        refused("issue", "--tenant", TENANT, "--alias", "n", "--subject", "CN=evil\x1b[31m", "--issuer", "ca"),
        refused("issue", "--tenant", TENANT, "--alias", "n", "--subject", "CN=a\x07b", "--issuer", "ca"),
        refused("issue", "--tenant", TENANT, "--alias", "n", "--subject", "nonsense", "--issuer", "ca"),
        refused(*base, "--issuer", "ca", "--usage", "everything"),
    ]
    # A certificate given for a key whose public key it does not carry.
    custos.run("key", "generate", "--tenant", TENANT, "--alias", "spare", "--scheme", "ecdsa-p384-sha384", "--category", "TLS")
    before_list, before_audit = listing(custos), audit_successes(custos)
    errors.append(refused("import-certificate", "--tenant", TENANT, "--alias", "spare", "--file", export(custos, "leaf", "--chain")))
    assert "not the public key" in errors[-1]
    assert all("\x1b" not in e and "\x07" not in e for e in errors)
    # Both --issuer and --self-signed (or neither) is a usage error.
    assert custos.run("tls", *base, "--issuer", "ca", "--self-signed", expect=None).code != 0
    assert custos.run("tls", *base, expect=None).code != 0

    # CSRs: a flipped signature byte, garbage, a forbidden key type.
    csr = custos.workdir / "c.csr"
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", custos.workdir / "c.key",
            "-out", csr, "-subj", "/CN=c", "-outform", "DER")
    der = bytearray(csr.read_bytes())
    der[-5] ^= 0x01
    assert "does not verify" in refused("sign-csr", "--tenant", TENANT, "--issuer", "ca", "--csr", custos.file(bytes(der), ".der"))
    refused("sign-csr", "--tenant", TENANT, "--issuer", "ca", "--csr", custos.file(b"not a csr", ".der"))
    k1 = custos.workdir / "k1.csr"
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1", "-nodes", "-keyout", custos.workdir / "k1.key",
            "-out", k1, "-subj", "/CN=k1")
    assert "key type" in refused("sign-csr", "--tenant", TENANT, "--issuer", "ca", "--csr", k1)

    assert listing(custos) == before_list
    assert audit_successes(custos) == before_audit


@pytest.mark.parametrize("level", ["high", "ultimate"])
def test_hsm_held_keys_issue_and_are_certified(custos_bin, tmp_path, softhsm, level: str):
    """CA and node keys inside a SoftHSM2 token (ultimate: generated there, never
    extractable) sign certificates through the token like any other signature."""
    c = Custos(custos_bin, tmp_path)
    c.env.update(softhsm.env)
    c.env["CUSTOS_HSM_PIN_HSM1"] = softhsm.pin
    c.secrets.append(softhsm.pin)
    c.run("init", "--scrypt-log-n", "10")
    c.run("tenant", "create", TENANT)
    c.run("hsm", "add", "hsm1", "--module", softhsm.module, "--token-label", softhsm.label)
    c.run("tenant", "assign", TENANT, "--category", "TLS", "--level", level, "--hsm", "hsm1")
    create_ca(c, "ca", "ecdsa-p384-sha384")
    create_ca(c, "inter", "ecdsa-p256-sha256", issuer="ca")
    node = issue(c, "node", "inter", scheme="ecdsa-p256-sha256")
    for alias in ("ca", "inter", "node"):
        assert c.run("key", "show", "--tenant", TENANT, alias, "--json").json()["protection"] == f"{level}:hsm1"
    root_pem, inter_pem = export(c, "ca"), export(c, "inter")
    assert openssl("verify", "-CAfile", root_pem, "-untrusted", inter_pem, export(c, "node")).returncode == 0
    rotated = tls(c, "rotate", "--tenant", TENANT, "--alias", "node")
    assert rotated["key_version"] == 2 and rotated["pin"] != node["pin"]
    assert openssl("verify", "-CAfile", root_pem, "-untrusted", inter_pem, export(c, "node")).returncode == 0
